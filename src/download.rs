//! Downloading result files: safely, resumably, never with the token.
//!
//! A download
//! - goes only to allowed hosts: RunComfy's CDNs (`*.runcomfy.net`,
//!   `*.runcomfy.com`) and loopback by default, over HTTPS (plain HTTP only
//!   for loopback); redirects are followed (at most 5) only to allowed
//!   hosts, and one to any other host is refused at once;
//! - never carries an `Authorization` header (it uses its own HTTP client,
//!   which has no token, and drops any `user:password@` from URLs);
//! - gives up on a transfer slower than
//!   [`speed_limit`](DownloadPolicy::speed_limit) bytes per second over
//!   [`speed_time`](DownloadPolicy::speed_time) (as curl's `--speed-limit`
//!   and `--speed-time`; default 1 KiB/s over 30 s), and on one that takes
//!   longer than [`deadline`](DownloadPolicy::deadline) if set; the error
//!   says which limit tripped;
//! - streams into a temporary file in the target folder and renames it into
//!   place at the end, so no partial file ever appears under the final name;
//! - refuses files over [`max_bytes`](DownloadPolicy::max_bytes) (checked
//!   against `Content-Length` first, then while streaming);
//! - checks the received length against `Content-Length`;
//! - resumes an interrupted transfer with `Range`, and starts over when the
//!   server ignores `Range`;
//! - names files after the URL's last path segment, sanitised to
//!   `[A-Za-z0-9._-]` and never hidden (no leading `.`), and never
//!   overwrites an existing file unless asked; it never writes through a
//!   directory or a symlink that has the file's name;
//! - leaves the file with the permissions any new file gets (the umask's),
//!   not the private ones of a temporary file.

use reqwest::Url;
use reqwest::header::{CONTENT_RANGE, RANGE};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// The URL could not be parsed.
    #[error("invalid URL {url:?}")]
    InvalidUrl {
        /// The URL.
        url: String,
    },
    /// The host (or scheme) is not allowed.
    #[error(
        "refusing to download from {url}: host not allowed (allowed: RunComfy CDNs, loopback, and hosts added to DownloadPolicy)"
    )]
    HostNotAllowed {
        /// The URL.
        url: String,
    },
    /// The target file exists and overwriting was not asked for.
    #[error("{} already exists (set DownloadPolicy::overwrite to replace it)", path.display())]
    AlreadyExists {
        /// The target.
        path: PathBuf,
    },
    /// The file is larger than allowed.
    #[error("file is larger than the {limit}-byte limit{}", size.map(|s| format!(" ({s} bytes)")).unwrap_or_default())]
    TooLarge {
        /// The limit.
        limit: u64,
        /// The announced size, if known.
        size: Option<u64>,
    },
    /// Fewer or more bytes arrived than announced.
    #[error("received {received} bytes but the server announced {expected}")]
    LengthMismatch {
        /// The announced length.
        expected: u64,
        /// What arrived.
        received: u64,
    },
    /// The server answered with an error status.
    #[error("HTTP {status} from {url}")]
    Http {
        /// The status.
        status: u16,
        /// The URL.
        url: String,
    },
    /// The transfer ran slower than the policy's low-speed limit.
    #[error(
        "transfer too slow: {received} bytes in the last {:?}, below the limit of {limit} bytes/s over {:?} (DownloadPolicy::speed_limit)",
        window,
        window
    )]
    TooSlow {
        /// Bytes received in the window that tripped the limit.
        received: u64,
        /// The window ([`DownloadPolicy::speed_time`]).
        window: std::time::Duration,
        /// The limit in bytes per second.
        limit: u64,
    },
    /// The download took longer than the policy's deadline.
    #[error(
        "download did not finish within {deadline:?} (DownloadPolicy::deadline); {received} bytes received"
    )]
    DeadlineExceeded {
        /// The deadline.
        deadline: std::time::Duration,
        /// Bytes received by then.
        received: u64,
    },
    /// Too many redirects.
    #[error("more than {limit} redirects from {url}")]
    TooManyRedirects {
        /// The URL first asked for.
        url: String,
        /// The most redirects followed.
        limit: usize,
    },
    /// The transfer kept breaking off.
    #[error("transfer interrupted {attempts} times, last after {received} bytes: {source}")]
    Interrupted {
        /// Tries made.
        attempts: u32,
        /// Bytes received in the last try's file.
        received: u64,
        /// The last network error.
        #[source]
        source: reqwest::Error,
    },
    /// Writing the file failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// How downloads behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadPolicy {
    /// The largest file accepted, in bytes (default 2 GiB).
    pub max_bytes: u64,
    /// Replace an existing file of the same name.
    pub overwrite: bool,
    /// Hosts allowed besides RunComfy's CDNs and loopback: an exact host
    /// (`cdn.example.com`) or a suffix starting with a dot (`.example.com`).
    pub extra_hosts: Vec<String>,
    /// Allow RunComfy's CDNs (`*.runcomfy.net`, `*.runcomfy.com`).
    pub allow_runcomfy: bool,
    /// Allow loopback addresses (`127.0.0.0/8`, `::1`, `localhost`), e.g.
    /// the emulator.
    pub allow_loopback: bool,
    /// How many times an interrupted transfer is resumed.
    pub max_resumes: u32,
    /// The low-speed limit in bytes per second: a transfer that averages
    /// less over [`speed_time`](Self::speed_time) fails with
    /// [`DownloadError::TooSlow`] (0: no limit). Default 1024.
    pub speed_limit: u64,
    /// The window the low-speed limit is measured over. Default 30 s.
    pub speed_time: std::time::Duration,
    /// The most time one file's download may take, resumes included
    /// ([`DownloadError::DeadlineExceeded`]). Default: none.
    pub deadline: Option<std::time::Duration>,
}

impl Default for DownloadPolicy {
    fn default() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024 * 1024,
            overwrite: false,
            extra_hosts: Vec::new(),
            allow_runcomfy: true,
            allow_loopback: true,
            max_resumes: 3,
            speed_limit: 1024,
            speed_time: std::time::Duration::from_secs(30),
            deadline: None,
        }
    }
}

impl DownloadPolicy {
    /// Whether `url` may be downloaded from.
    pub fn allows(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let loopback =
            host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let suffix_match = |pattern: &str| match pattern.strip_prefix('.') {
            Some(suffix) => host.ends_with(&format!(".{suffix}")) || host == suffix,
            None => host == pattern,
        };
        let allowed_host = (self.allow_loopback && loopback)
            || (self.allow_runcomfy
                && (suffix_match(".runcomfy.net") || suffix_match(".runcomfy.com")))
            || self
                .extra_hosts
                .iter()
                .any(|p| suffix_match(&p.to_ascii_lowercase()));
        let allowed_scheme = url.scheme() == "https" || (url.scheme() == "http" && loopback);
        allowed_host && allowed_scheme
    }
}

/// The HTTP client and policy for downloads.
#[derive(Debug, Clone)]
pub(crate) struct Downloader {
    http: reqwest::Client,
    policy: DownloadPolicy,
}

/// Where a download goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// Into this folder, named after the URL.
    Folder(&'a Path),
    /// To exactly this file.
    File(&'a Path),
}

/// The most redirects one download follows.
const MAX_REDIRECTS: usize = 5;

impl Downloader {
    /// A downloader with its own HTTP client: no token, no automatic
    /// redirects (each one is checked against the policy here).
    pub(crate) fn new(
        policy: DownloadPolicy,
        connect_timeout: std::time::Duration,
        read_timeout: std::time::Duration,
        user_agent: &str,
    ) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { http, policy })
    }

    pub(crate) fn policy(&self) -> &DownloadPolicy {
        &self.policy
    }

    /// Downloads `url` to `target`. Returns the file written.
    pub(crate) async fn download(
        &self,
        url: &str,
        target: Target<'_>,
    ) -> Result<PathBuf, DownloadError> {
        let url = self.checked_url(url)?;
        let target = match target {
            Target::Folder(folder) => folder.join(file_name_for(&url)),
            Target::File(file) => file.to_path_buf(),
        };
        self.refuse_existing(&target)?;
        let folder = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let io = |source| DownloadError::Io {
            path: target.clone(),
            source,
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix(".runcomfy-").suffix(".part");
        // A temporary file is private (0600); the video is an ordinary file
        // that follows the umask, like any other the user writes.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let temp = builder.tempfile_in(&folder).map_err(io)?;
        let mut file = tokio::fs::File::from_std(temp.as_file().try_clone().map_err(io)?);

        self.transfer(url.clone(), &mut file, &target).await?;

        file.flush().await.map_err(io)?;
        file.sync_all().await.map_err(io)?;
        drop(file);
        // Checked again: something may have appeared while downloading.
        self.refuse_existing(&target)?;
        let persisted = if self.policy.overwrite {
            temp.persist(&target)
        } else {
            temp.persist_noclobber(&target)
        };
        persisted.map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                DownloadError::AlreadyExists {
                    path: target.clone(),
                }
            } else {
                io(e.error)
            }
        })?;
        tracing::info!(url = %url, path = %target.display(), "downloaded");
        Ok(target)
    }

    /// Parses `url`, drops any `user:password@` (a download carries no
    /// credentials) and checks the host against the policy.
    fn checked_url(&self, url: &str) -> Result<Url, DownloadError> {
        let mut url = Url::parse(url).map_err(|_| DownloadError::InvalidUrl {
            url: url.to_string(),
        })?;
        // Fails only for URLs that cannot have userinfo at all.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        if self.policy.allows(&url) {
            Ok(url)
        } else {
            Err(DownloadError::HostNotAllowed {
                url: url.to_string(),
            })
        }
    }

    /// Refuses a target that exists, unless it is a regular file (not a
    /// symlink) and overwriting was asked for: a download never writes into
    /// a directory or through a symlink that has the file's name.
    fn refuse_existing(&self, target: &Path) -> Result<(), DownloadError> {
        match std::fs::symlink_metadata(target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Ok(meta) if self.policy.overwrite && meta.file_type().is_file() => Ok(()),
            _ => Err(DownloadError::AlreadyExists {
                path: target.to_path_buf(),
            }),
        }
    }

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
    async fn transfer(
        &self,
        url: Url,
        file: &mut tokio::fs::File,
        target: &Path,
    ) -> Result<(), DownloadError> {
        let started = tokio::time::Instant::now();
        let deadline = self.policy.deadline.map(|d| {
            started
                .checked_add(d)
                .unwrap_or_else(|| started + std::time::Duration::from_secs(86_400 * 365))
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
        loop {
            attempts = attempts.saturating_add(1);
            let max_resumes = self.policy.max_resumes;
            let interrupted = |source, received| {
                if attempts > max_resumes {
                    Err(DownloadError::Interrupted {
                        attempts,
                        received,
                        source,
                    })
                } else {
                    tracing::debug!(received, attempts, "download interrupted; resuming");
                    Ok(())
                }
            };
            let response = match self.get(url.clone(), progress.received).await? {
                Ok((final_url, response)) => {
                    url = final_url;
                    response
                }
                Err(source) => {
                    interrupted(source, progress.received)?;
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
                interrupted(source, progress.received)?;
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
    window: std::time::Duration,
    started: tokio::time::Instant,
    received: u64,
}

impl SpeedCheck {
    fn new(limit: u64, window: std::time::Duration) -> Self {
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

/// A safe local file name for a URL: its last path segment with anything
/// but `[A-Za-z0-9._-]` replaced, no leading dots, at most 100 characters.
pub fn file_name_for(url: &Url) -> String {
    let segment = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default();
    let cleaned: String = segment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // The last 100 characters (the extension is at the end), then no
    // leading dots: cutting can expose one, and a hidden file is no answer.
    let skip = cleaned.chars().count().saturating_sub(100);
    let cut: String = cleaned.chars().skip(skip).collect();
    let name = cut.trim_start_matches('.');
    if name.is_empty() || name.chars().all(|c| c == '_') {
        "output".to_string()
    } else {
        name.to_string()
    }
}

/// Local names for files downloaded together into one folder: each URL's
/// [`file_name_for`], with `-2`, `-3`, ... before the extension where an
/// earlier URL already took the name. Unparsable URLs keep a placeholder
/// name (their download fails on the URL anyway).
pub(crate) fn distinct_file_names(urls: &[String]) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    urls.iter()
        .map(|url| {
            let name = Url::parse(url)
                .map(|url| file_name_for(&url))
                .unwrap_or_else(|_| "output".into());
            let (stem, extension) = match name.rsplit_once('.') {
                Some((stem, extension)) if !stem.is_empty() => (stem, format!(".{extension}")),
                _ => (name.as_str(), String::new()),
            };
            let mut candidate = name.clone();
            let mut n = 1;
            while !taken.insert(candidate.clone()) {
                n += 1;
                candidate = format!("{stem}-{n}{extension}");
            }
            candidate
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_files_downloaded_together_do_not_collide() {
        let urls = [
            "https://cdn.runcomfy.net/a/output.mp4",
            "https://cdn.runcomfy.net/b/output.mp4",
            "https://cdn.runcomfy.net/c/output.mp4",
            "https://cdn.runcomfy.net/c/poster.png",
            "https://cdn.runcomfy.net/d/",
            "https://cdn.runcomfy.net/e/",
        ]
        .map(String::from);
        assert_eq!(
            distinct_file_names(&urls),
            [
                "output.mp4",
                "output-2.mp4",
                "output-3.mp4",
                "poster.png",
                "output",
                "output-2"
            ]
        );
    }

    fn url(s: &str) -> Url {
        Url::parse(s).expect("URL")
    }

    #[test]
    fn only_runcomfy_cdns_and_loopback_by_default() {
        let policy = DownloadPolicy::default();
        assert!(policy.allows(&url("https://cdn.runcomfy.net/a.mp4")));
        assert!(policy.allows(&url("https://runcomfy.com/a.mp4")));
        assert!(policy.allows(&url("http://127.0.0.1:8080/a.mp4")));
        assert!(policy.allows(&url("http://[::1]:8080/a.mp4")));
        assert!(policy.allows(&url("http://localhost/a.mp4")));
        assert!(
            !policy.allows(&url("http://cdn.runcomfy.net/a.mp4")),
            "plain HTTP off loopback"
        );
        assert!(!policy.allows(&url("https://evilruncomfy.net/a.mp4")));
        assert!(!policy.allows(&url("https://runcomfy.net.evil.com/a.mp4")));
        assert!(!policy.allows(&url("https://example.com/a.mp4")));
        let custom = DownloadPolicy {
            extra_hosts: vec![".example.com".into()],
            allow_loopback: false,
            ..DownloadPolicy::default()
        };
        assert!(custom.allows(&url("https://media.example.com/a.mp4")));
        assert!(!custom.allows(&url("http://127.0.0.1/a.mp4")));
    }

    #[test]
    fn file_names_are_sanitised() {
        assert_eq!(file_name_for(&url("https://x/a/b/video.mp4")), "video.mp4");
        assert_eq!(
            file_name_for(&url("https://x/a/..%2F..%2Fetc%2Fpasswd")),
            "_2F.._2Fetc_2Fpasswd"
        );
        assert_eq!(file_name_for(&url("https://x/.hidden")), "hidden");
        assert_eq!(file_name_for(&url("https://x/")), "output");
        assert_eq!(
            file_name_for(&url("https://x/%E4%BD%A0.mp4")),
            "_E4_BD_A0.mp4"
        );
        assert!(file_name_for(&url(&format!("https://x/{}.mp4", "a".repeat(300)))).len() <= 100);
        // Cut to 100 characters, this would start with a dot.
        let dotted = format!("https://x/{}.{}", "a".repeat(50), "b".repeat(99));
        let name = file_name_for(&url(&dotted));
        assert!(!name.starts_with('.'), "{name}");
        assert_eq!(name, "b".repeat(99));
        assert_eq!(file_name_for(&url("https://x/...")), "output");
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
