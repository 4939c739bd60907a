//! One file's transfer: redirects checked by hand, `Range` resumes, the
//! low-speed limit and the overall deadline.

use super::{DownloadError, Downloader, MAX_REDIRECTS};
use reqwest::Url;
use reqwest::header::{CONTENT_RANGE, RANGE};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// What one GET came to.
enum Fetched {
    /// An answer (its final URL after redirects).
    Answer {
        url: Url,
        response: Box<reqwest::Response>,
    },
    /// No answer: the connection failed or broke (worth another try).
    NoAnswer(reqwest::Error),
}

/// What a download does with an answer's status, from how far it has come
/// (see [`next_step`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum NextStep {
    /// Stream the body; `expected` is the file's size where known, and
    /// `start_over` says the body is the whole file (what was received is
    /// dropped).
    Stream {
        expected: Option<u64>,
        start_over: bool,
    },
    /// The file is already whole (416 for a range past its end).
    Complete,
    /// Drop what was received and try again at once.
    StartOver(&'static str),
    /// A passing trouble (408, 429, 5xx): pause, then try again.
    Pause,
    /// A refusal: give up.
    Fail,
}

/// The rule for an answer's status: `received` bytes so far, the size
/// `expected`, the answer's `Content-Range` (start, total) and
/// `Content-Length`.
///
/// | status | condition | step |
/// |---|---|---|
/// | 206 | resuming, the range starts where we are | stream, the total from the range |
/// | 206 | resuming, another range | start over |
/// | 200 | | stream the whole file (starting over if resuming) |
/// | 416 | the size is known and all of it arrived | complete |
/// | 408, 429, 500, 502, 503, 504 | | pause, then try again |
/// | anything else | | fail |
fn next_step(
    status: u16,
    received: u64,
    expected: Option<u64>,
    range: Option<(u64, Option<u64>)>,
    content_length: Option<u64>,
) -> NextStep {
    match status {
        206 if received > 0 => match range {
            Some((start, total)) if start == received => NextStep::Stream {
                expected: total.or(expected),
                start_over: false,
            },
            _ => NextStep::StartOver("the server sent another part than asked for"),
        },
        200 => NextStep::Stream {
            expected: content_length,
            start_over: received > 0,
        },
        416 if expected == Some(received) => NextStep::Complete,
        408 | 429 | 500 | 502 | 503 | 504 => NextStep::Pause,
        _ => NextStep::Fail,
    }
}

/// The step an answer leads to, from how far the download has come.
fn step_for(response: &reqwest::Response, progress: &Progress) -> NextStep {
    let range = response
        .headers()
        .get(CONTENT_RANGE)
        .and_then(|v| v.to_str().ok());
    next_step(
        response.status().as_u16(),
        progress.received,
        progress.expected,
        content_range(range),
        response.content_length(),
    )
}

/// How streaming a body ended.
enum Streamed {
    /// The body ended.
    Ended,
    /// It broke off (worth a resume).
    Broke(reqwest::Error),
}

impl Downloader {
    /// Sends one GET, following redirects to allowed hosts only.
    async fn get(&self, mut url: Url, range_from: u64) -> Result<Fetched, DownloadError> {
        let first = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.http.get(url.clone());
            if range_from > 0 {
                request = request.header(RANGE, format!("bytes={range_from}-"));
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => return Ok(Fetched::NoAnswer(error)),
            };
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok());
            let Some(location) = location.filter(|_| response.status().is_redirection()) else {
                return Ok(Fetched::Answer {
                    url,
                    response: Box::new(response),
                });
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

    /// Tries until the file is whole or the tries run out: each try gets
    /// an answer, decides by its status ([`next_step`]) and streams the
    /// body.
    async fn transfer_until_done(
        &self,
        mut url: Url,
        file: &mut tokio::fs::File,
        target: &Path,
        progress: &mut Progress,
    ) -> Result<(), DownloadError> {
        let io = |source| DownloadError::Io {
            path: target.to_path_buf(),
            source,
        };
        let mut tries = Tries::new(self.policy.max_resumes);
        loop {
            tries.next(progress)?;
            let response = match self.get(url.clone(), progress.received).await? {
                Fetched::Answer {
                    url: answered,
                    response,
                } => {
                    url = answered;
                    response
                }
                Fetched::NoAnswer(error) => {
                    tries.failed(error.to_string());
                    continue;
                }
            };
            match step_for(&response, progress) {
                NextStep::Stream {
                    expected,
                    start_over,
                } => {
                    if start_over {
                        progress.received = 0;
                        restart(file).await.map_err(io)?;
                    }
                    progress.expected = expected;
                }
                NextStep::Complete => return Ok(()),
                NextStep::StartOver(why) => {
                    tries.failed(why.to_string());
                    progress.received = 0;
                    restart(file).await.map_err(io)?;
                    continue;
                }
                NextStep::Pause => {
                    tries.failed(format!("HTTP {} from {url}", response.status().as_u16()));
                    let asked = crate::wire::retry_after::retry_after(response.headers());
                    tokio::time::sleep(retry_pause(tries.made, asked)).await;
                    continue;
                }
                NextStep::Fail => {
                    return Err(DownloadError::Http {
                        status: response.status().as_u16(),
                        url: url.to_string(),
                    });
                }
            }
            self.check_size(progress.expected)?;
            match self.stream_body(*response, file, target, progress).await? {
                Streamed::Ended => return progress.whole(),
                Streamed::Broke(error) => tries.failed(error.to_string()),
            }
        }
    }

    /// Refuses a file announced larger than the policy allows.
    fn check_size(&self, expected: Option<u64>) -> Result<(), DownloadError> {
        match expected {
            Some(size) if size > self.policy.max_bytes => Err(DownloadError::TooLarge {
                limit: self.policy.max_bytes,
                size: Some(size),
            }),
            _ => Ok(()),
        }
    }

    /// Writes the body into `file` as it arrives, within the size cap and
    /// the low-speed limit.
    async fn stream_body(
        &self,
        response: reqwest::Response,
        file: &mut tokio::fs::File,
        target: &Path,
        progress: &mut Progress,
    ) -> Result<Streamed, DownloadError> {
        use futures::StreamExt;
        let limit = self.policy.max_bytes;
        let mut body = response.bytes_stream();
        let mut speed = SpeedCheck::new(self.policy.speed_limit, self.policy.speed_time);
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
            let bytes = match next {
                Some(Ok(bytes)) => bytes,
                Some(Err(error)) => return Ok(Streamed::Broke(error)),
                None => return Ok(Streamed::Ended),
            };
            let len = bytes.len() as u64;
            progress.received = progress.received.saturating_add(len);
            if progress.received > limit {
                return Err(DownloadError::TooLarge {
                    limit,
                    size: progress.expected,
                });
            }
            file.write_all(&bytes)
                .await
                .map_err(|source| DownloadError::Io {
                    path: target.to_path_buf(),
                    source,
                })?;
            speed.check(len)?;
        }
    }
}

/// The tries of one download, and why the last one did not finish.
/// Every kind of retry counts: a server that keeps breaking off, failing
/// or sending the wrong range cannot keep us here.
struct Tries {
    made: u32,
    allowed: u32,
    last_failure: String,
}

impl Tries {
    fn new(max_resumes: u32) -> Self {
        Self {
            made: 0,
            allowed: max_resumes.saturating_add(1),
            last_failure: String::new(),
        }
    }

    /// Starts the next try, or says the tries ran out.
    fn next(&mut self, progress: &Progress) -> Result<(), DownloadError> {
        self.made = self.made.saturating_add(1);
        if self.made > self.allowed {
            return Err(DownloadError::Interrupted {
                attempts: self.made - 1,
                received: progress.received,
                last: std::mem::take(&mut self.last_failure),
            });
        }
        if self.made > 1 {
            tracing::debug!(
                received = progress.received,
                attempts = self.made,
                "download interrupted; resuming"
            );
        }
        Ok(())
    }

    /// Why the current try did not finish.
    fn failed(&mut self, why: String) {
        self.last_failure = why;
    }
}

/// How far a download has come (kept outside the transfer, so that a
/// deadline can say how much arrived).
struct Progress {
    received: u64,
    expected: Option<u64>,
}

impl Progress {
    /// Whether all of the announced size arrived.
    fn whole(&self) -> Result<(), DownloadError> {
        match self.expected {
            Some(expected) if expected != self.received => Err(DownloadError::LengthMismatch {
                expected,
                received: self.received,
            }),
            _ => Ok(()),
        }
    }
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
    fn each_status_leads_to_its_step() {
        let stream = |expected, start_over| NextStep::Stream {
            expected,
            start_over,
        };
        // A resume answered with the range asked for, or with another.
        assert_eq!(
            next_step(206, 100, Some(2000), Some((100, Some(2000))), None),
            stream(Some(2000), false)
        );
        assert_eq!(
            next_step(206, 100, Some(2000), Some((100, None)), None),
            stream(Some(2000), false)
        );
        assert!(matches!(
            next_step(206, 100, Some(2000), Some((0, Some(2000))), None),
            NextStep::StartOver(_)
        ));
        assert!(matches!(
            next_step(206, 100, None, None, None),
            NextStep::StartOver(_)
        ));
        // A range the client never asked for is not a download.
        assert_eq!(
            next_step(206, 0, None, Some((0, None)), None),
            NextStep::Fail
        );
        // The whole file, first or instead of the range asked for.
        assert_eq!(
            next_step(200, 0, None, None, Some(10)),
            stream(Some(10), false)
        );
        assert_eq!(
            next_step(200, 5, Some(10), None, Some(10)),
            stream(Some(10), true)
        );
        assert_eq!(next_step(416, 10, Some(10), None, None), NextStep::Complete);
        assert_eq!(next_step(416, 5, Some(10), None, None), NextStep::Fail);
        for status in [408, 429, 500, 502, 503, 504] {
            assert_eq!(next_step(status, 0, None, None, None), NextStep::Pause);
        }
        for status in [301, 403, 404, 501] {
            assert_eq!(next_step(status, 0, None, None, None), NextStep::Fail);
        }
    }

    #[test]
    fn tries_run_out_with_the_last_reason() {
        let progress = Progress {
            received: 7,
            expected: None,
        };
        let mut tries = Tries::new(1);
        tries.next(&progress).expect("the first try");
        tries.failed("reset".into());
        tries.next(&progress).expect("one resume");
        tries.failed("reset again".into());
        let error = tries.next(&progress).expect_err("no more");
        assert!(
            matches!(&error, DownloadError::Interrupted { attempts: 2, received: 7, last } if last == "reset again"),
            "{error:?}"
        );
        let short = Progress {
            received: 3,
            expected: Some(5),
        };
        assert!(matches!(
            short.whole(),
            Err(DownloadError::LengthMismatch {
                expected: 5,
                received: 3
            })
        ));
    }

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
