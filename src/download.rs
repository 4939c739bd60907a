//! Downloading result files: safely, resumably, never with the token.
//!
//! A download
//! - goes only to allowed hosts: RunComfy's CDNs (`*.runcomfy.net`,
//!   `*.runcomfy.com`) and loopback by default, over HTTPS (plain HTTP only
//!   for loopback); redirects are followed only to allowed hosts;
//! - never carries an `Authorization` header (it uses its own HTTP client,
//!   which has no token);
//! - streams into a temporary file in the target folder and renames it into
//!   place at the end, so no partial file ever appears under the final name;
//! - refuses files over [`max_bytes`](DownloadPolicy::max_bytes) (checked
//!   against `Content-Length` first, then while streaming);
//! - checks the received length against `Content-Length`;
//! - resumes an interrupted transfer with `Range`, and starts over when the
//!   server ignores `Range`;
//! - names files after the URL's last path segment, sanitised to
//!   `[A-Za-z0-9._-]`, and never overwrites an existing file unless asked;
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

impl Downloader {
    /// A downloader with its own HTTP client: no token, redirects only to
    /// allowed hosts.
    pub(crate) fn new(
        policy: DownloadPolicy,
        connect_timeout: std::time::Duration,
        read_timeout: std::time::Duration,
        user_agent: &str,
    ) -> reqwest::Result<Self> {
        let redirect_policy = policy.clone();
        let http = reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    attempt.error("too many redirects")
                } else if redirect_policy.allows(attempt.url()) {
                    attempt.follow()
                } else {
                    attempt.error("redirect to a host that is not allowed")
                }
            }))
            .build()?;
        Ok(Self { http, policy })
    }

    pub(crate) fn policy(&self) -> &DownloadPolicy {
        &self.policy
    }

    /// Downloads `url` to `destination`: a folder (the file is named after
    /// the URL) or a file path. Returns the file written.
    pub(crate) async fn download(
        &self,
        url: &str,
        destination: &Path,
    ) -> Result<PathBuf, DownloadError> {
        let url = Url::parse(url).map_err(|_| DownloadError::InvalidUrl {
            url: url.to_string(),
        })?;
        if !self.policy.allows(&url) {
            return Err(DownloadError::HostNotAllowed {
                url: url.to_string(),
            });
        }
        let target = if destination.is_dir() {
            destination.join(file_name_for(&url))
        } else {
            destination.to_path_buf()
        };
        if !self.policy.overwrite && target.exists() {
            return Err(DownloadError::AlreadyExists { path: target });
        }
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

        self.transfer(&url, &mut file, &target).await?;

        file.flush().await.map_err(io)?;
        file.sync_all().await.map_err(io)?;
        drop(file);
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

    /// Streams the body into `file`, resuming with `Range` after a break.
    async fn transfer(
        &self,
        url: &Url,
        file: &mut tokio::fs::File,
        target: &Path,
    ) -> Result<(), DownloadError> {
        use futures::StreamExt;
        let io = |source| DownloadError::Io {
            path: target.to_path_buf(),
            source,
        };
        let limit = self.policy.max_bytes;
        let mut received: u64 = 0;
        let mut expected: Option<u64> = None;
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            let mut request = self.http.get(url.clone());
            if received > 0 {
                request = request.header(RANGE, format!("bytes={received}-"));
            }
            let interrupted = |source, received| {
                if attempts > self.policy.max_resumes {
                    Err(DownloadError::Interrupted {
                        attempts,
                        received,
                        source,
                    })
                } else {
                    tracing::debug!(url = %url, received, attempts, "download interrupted; resuming");
                    Ok(())
                }
            };
            let response = match request.send().await {
                Ok(response) => response,
                Err(source) => {
                    interrupted(source, received)?;
                    continue;
                }
            };
            let status = response.status().as_u16();
            match status {
                206 if received > 0 => {
                    let range = response
                        .headers()
                        .get(CONTENT_RANGE)
                        .and_then(|v| v.to_str().ok());
                    match content_range(range) {
                        Some((start, total)) if start == received => {
                            expected = total.or(expected);
                        }
                        _ => {
                            // Not the part asked for: start over.
                            received = 0;
                            restart(file).await.map_err(io)?;
                            continue;
                        }
                    }
                }
                200 => {
                    if received > 0 {
                        // The server ignored Range and sent the whole file.
                        received = 0;
                        restart(file).await.map_err(io)?;
                    }
                    expected = response.content_length();
                }
                416 if expected == Some(received) => return Ok(()),
                _ => {
                    return Err(DownloadError::Http {
                        status,
                        url: url.to_string(),
                    });
                }
            }
            if let Some(size) = expected
                && size > limit
            {
                return Err(DownloadError::TooLarge {
                    limit,
                    size: Some(size),
                });
            }
            let mut body = response.bytes_stream();
            let mut broken = None;
            while let Some(chunk) = body.next().await {
                match chunk {
                    Ok(bytes) => {
                        received += bytes.len() as u64;
                        if received > limit {
                            return Err(DownloadError::TooLarge {
                                limit,
                                size: expected,
                            });
                        }
                        file.write_all(&bytes).await.map_err(io)?;
                    }
                    Err(source) => {
                        broken = Some(source);
                        break;
                    }
                }
            }
            if let Some(source) = broken {
                interrupted(source, received)?;
                continue;
            }
            return match expected {
                Some(expected) if expected != received => {
                    Err(DownloadError::LengthMismatch { expected, received })
                }
                _ => Ok(()),
            };
        }
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
    let trimmed = cleaned.trim_start_matches('.');
    let mut name: String = trimmed
        .chars()
        .rev()
        .take(100)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if name.is_empty() || name.chars().all(|c| c == '_') {
        name = "output".to_string();
    }
    name
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
