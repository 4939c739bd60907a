//! One file's transfer: redirects checked by hand, `Range` resumes, the
//! low-speed limit and the overall deadline.

use super::{DownloadError, Downloader, MAX_REDIRECTS};
use reqwest::Url;
use reqwest::header::{CONTENT_RANGE, RANGE};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

impl Downloader {
    /// Sends one GET, following redirects to allowed hosts only.
    async fn get(
        &self,
        mut url: Url,
        range_from: u64,
    ) -> Result<Result<(Url, reqwest::Response), reqwest::Error>, DownloadError> {
        let first = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.http.get(url.clone());
            if range_from > 0 {
                request = request.header(RANGE, format!("bytes={range_from}-"));
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => return Ok(Err(error)),
            };
            if !response.status().is_redirection() {
                return Ok(Ok((url, response)));
            }
            let Some(location) = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
            else {
                return Ok(Ok((url, response)));
            };
            let next = url.join(location).map_err(|_| DownloadError::InvalidUrl {
                url: location.to_string(),
            })?;
            url = self.checked_url(next.as_str())?;
        }
        Err(DownloadError::TooManyRedirects {
            url: first.to_string(),
            limit: MAX_REDIRECTS,
        })
    }

    /// Streams the body into `file`, resuming with `Range` after a break,
    /// within the policy's speed limit and deadline.
    pub(super) async fn transfer(
        &self,
        url: Url,
        file: &mut tokio::fs::File,
        target: &Path,
    ) -> Result<(), DownloadError> {
        let started = tokio::time::Instant::now();
        let deadline = self.policy.deadline.map(|d| {
            started
                .checked_add(d)
                .unwrap_or_else(|| started + Duration::from_secs(86_400 * 365))
        });
        let mut progress = Progress {
            received: 0,
            expected: None,
        };
        let work = self.transfer_until_done(url, file, target, &mut progress);
        match deadline {
            None => work.await,
            Some(at) => match tokio::time::timeout_at(at, work).await {
                Ok(outcome) => outcome,
                Err(_) => Err(DownloadError::DeadlineExceeded {
                    deadline: self.policy.deadline.unwrap_or_default(),
                    received: progress.received,
                }),
            },
        }
    }

    async fn transfer_until_done(
        &self,
        mut url: Url,
        file: &mut tokio::fs::File,
        target: &Path,
        progress: &mut Progress,
    ) -> Result<(), DownloadError> {
        use futures::StreamExt;
        let io = |source| DownloadError::Io {
            path: target.to_path_buf(),
            source,
        };
        let limit = self.policy.max_bytes;
        let mut attempts: u32 = 0;
        // Why the last try did not finish, for the error once tries run out.
        let mut last_failure = String::new();
        loop {
            attempts = attempts.saturating_add(1);
            // Every kind of retry counts: a server that keeps breaking off,
            // failing or sending the wrong range cannot keep us here.
            if attempts > self.policy.max_resumes.saturating_add(1) {
                return Err(DownloadError::Interrupted {
                    attempts: attempts - 1,
                    received: progress.received,
                    last: last_failure,
                });
            }
            if attempts > 1 {
                tracing::debug!(
                    received = progress.received,
                    attempts,
                    "download interrupted; resuming"
                );
            }
            let response = match self.get(url.clone(), progress.received).await? {
                Ok((final_url, response)) => {
                    url = final_url;
                    response
                }
                Err(source) => {
                    last_failure = source.to_string();
                    continue;
                }
            };
            let status = response.status().as_u16();
            match status {
                206 if progress.received > 0 => {
                    let range = response
                        .headers()
                        .get(CONTENT_RANGE)
                        .and_then(|v| v.to_str().ok());
                    match content_range(range) {
                        Some((start, total)) if start == progress.received => {
                            progress.expected = total.or(progress.expected);
                        }
                        _ => {
                            // Not the part asked for: start over.
                            last_failure = "the server sent another part than asked for".into();
                            progress.received = 0;
                            restart(file).await.map_err(io)?;
                            continue;
                        }
                    }
                }
                200 => {
                    if progress.received > 0 {
                        // The server ignored Range and sent the whole file.
                        progress.received = 0;
                        restart(file).await.map_err(io)?;
                    }
                    progress.expected = response.content_length();
                }
                416 if progress.expected == Some(progress.received) => return Ok(()),
                // A CDN's passing trouble: wait a little, then try again.
                408 | 429 | 500 | 502 | 503 | 504 => {
                    last_failure = format!("HTTP {status} from {url}");
                    let asked = crate::wire::decode::retry_after(response.headers());
                    tokio::time::sleep(retry_pause(attempts, asked)).await;
                    continue;
                }
                _ => {
                    return Err(DownloadError::Http {
                        status,
                        url: url.to_string(),
                    });
                }
            }
            if let Some(size) = progress.expected
                && size > limit
            {
                return Err(DownloadError::TooLarge {
                    limit,
                    size: Some(size),
                });
            }
            let mut body = response.bytes_stream();
            let mut speed = SpeedCheck::new(self.policy.speed_limit, self.policy.speed_time);
            let mut broken = None;
            loop {
                let next = match speed.window_end() {
                    Some(at) => match tokio::time::timeout_at(at, body.next()).await {
                        Ok(next) => next,
                        Err(_) => {
                            speed.check(0)?;
                            continue;
                        }
                    },
                    None => body.next().await,
                };
                match next {
                    Some(Ok(bytes)) => {
                        let len = bytes.len() as u64;
                        progress.received = progress.received.saturating_add(len);
                        if progress.received > limit {
                            return Err(DownloadError::TooLarge {
                                limit,
                                size: progress.expected,
                            });
                        }
                        file.write_all(&bytes).await.map_err(io)?;
                        speed.check(len)?;
                    }
                    Some(Err(source)) => {
                        broken = Some(source);
                        break;
                    }
                    None => break,
                }
            }
            if let Some(source) = broken {
                last_failure = source.to_string();
                continue;
            }
            return match progress.expected {
                Some(expected) if expected != progress.received => {
                    Err(DownloadError::LengthMismatch {
                        expected,
                        received: progress.received,
                    })
                }
                _ => Ok(()),
            };
        }
    }
}

/// How far a download has come (kept outside the transfer, so that a
/// deadline can say how much arrived).
struct Progress {
    received: u64,
    expected: Option<u64>,
}

/// The low-speed limit: the bytes received in each window of `window` must
/// average at least `limit` per second.
struct SpeedCheck {
    limit: u64,
    window: Duration,
    started: tokio::time::Instant,
    received: u64,
}

impl SpeedCheck {
    fn new(limit: u64, window: Duration) -> Self {
        Self {
            limit,
            window,
            started: tokio::time::Instant::now(),
            received: 0,
        }
    }

    /// When the current window closes; `None` when there is no limit.
    fn window_end(&self) -> Option<tokio::time::Instant> {
        (self.limit > 0 && !self.window.is_zero())
            .then(|| self.started.checked_add(self.window))
            .flatten()
    }

    /// Counts `bytes` just received; at the end of a window, fails if the
    /// window fell short of the limit, else starts the next window.
    fn check(&mut self, bytes: u64) -> Result<(), DownloadError> {
        self.received = self.received.saturating_add(bytes);
        let Some(end) = self.window_end() else {
            return Ok(());
        };
        if tokio::time::Instant::now() < end {
            return Ok(());
        }
        let needed = (self.limit as f64 * self.window.as_secs_f64()).ceil() as u64;
        if self.received < needed {
            return Err(DownloadError::TooSlow {
                received: self.received,
                window: self.window,
                limit: self.limit,
            });
        }
        *self = Self::new(self.limit, self.window);
        Ok(())
    }
}

/// The pause before trying a failed download again: what the server asked
/// (at most 10 s), else 50 ms doubling to 2 s.
fn retry_pause(attempts: u32, asked: Option<Duration>) -> Duration {
    asked.map_or_else(
        || {
            Duration::from_millis(50)
                .saturating_mul(1 << attempts.min(6))
                .min(Duration::from_secs(2))
        },
        |asked| asked.min(Duration::from_secs(10)),
    )
}

async fn restart(file: &mut tokio::fs::File) -> std::io::Result<()> {
    file.set_len(0).await?;
    file.seek(std::io::SeekFrom::Start(0)).await?;
    Ok(())
}

/// `bytes START-END/TOTAL` -> (START, TOTAL if known).
fn content_range(value: Option<&str>) -> Option<(u64, Option<u64>)> {
    let spec = value?.trim().strip_prefix("bytes ")?;
    let (range, total) = spec.split_once('/')?;
    let start = range.split_once('-')?.0.trim().parse().ok()?;
    Some((start, total.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(
            content_range(Some("bytes 100-199/2000")),
            Some((100, Some(2000)))
        );
        assert_eq!(content_range(Some("bytes 100-199/*")), Some((100, None)));
        assert_eq!(content_range(Some("items 1-2/3")), None);
    }
}
