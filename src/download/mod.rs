//! Downloading result files: the policy, what can go wrong, and the
//! downloader that follows both (see [`DownloadPolicy`]).

mod naming;
mod transfer;

#[cfg(fuzzing)]
pub(crate) use naming::file_name_for;
#[cfg(feature = "emulator")]
pub(crate) use naming::safe_chars;
pub(crate) use naming::{distinct_file_names, numbered_path};

use reqwest::Url;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

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
        "transfer too slow: {received} bytes in the last {:?}, below the limit of {limit} bytes/s over {:?} (DownloadPolicy::low_speed_limit)",
        window,
        window
    )]
    TooSlow {
        /// Bytes received in the window that tripped the limit.
        received: u64,
        /// The window the limit is measured over.
        window: Duration,
        /// The limit in bytes per second.
        limit: u64,
    },
    /// The download took longer than the policy's deadline.
    #[error(
        "download did not finish within {deadline:?} (DownloadPolicy::deadline); {received} bytes received"
    )]
    DeadlineExceeded {
        /// The deadline.
        deadline: Duration,
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
    /// The transfer kept breaking off, failing (5xx, 429) or answering with
    /// the wrong part, more times than the policy resumes.
    #[error("download failed {attempts} times, last after {received} bytes: {last}")]
    Interrupted {
        /// Tries made.
        attempts: u32,
        /// Bytes received in the last try's file.
        received: u64,
        /// Why the last try failed.
        last: String,
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

/// How downloads behave: safely, resumably, never with the token.
///
/// A download
/// - goes only to allowed hosts: RunComfy's CDNs (`*.runcomfy.net`,
///   `*.runcomfy.com`) and loopback by default, over HTTPS (plain HTTP only
///   for loopback); redirects are followed (at most 5) only to allowed
///   hosts, and one to any other host is refused at once;
/// - never carries an `Authorization` header (it uses its own HTTP client,
///   which has no token, and drops any `user:password@` from URLs);
/// - gives up on a transfer slower than its
///   [`low_speed_limit`](Self::low_speed_limit) (as curl's `--speed-limit`
///   and `--speed-time`; default below 1 KiB/s over 30 s), and on one that
///   takes longer than its [`deadline`](Self::deadline) if set; the error
///   says which limit tripped;
/// - streams into a temporary file in the target folder and renames it into
///   place at the end, so no partial file ever appears under the final name;
/// - refuses files over [`max_bytes`](Self::max_bytes) (checked
///   against `Content-Length` first, then while streaming);
/// - checks the received length against `Content-Length`;
/// - resumes an interrupted transfer with `Range`, and starts over when the
///   server ignores `Range`;
/// - names files after the URL's last path segment, sanitised to
///   `[A-Za-z0-9._-]` and never hidden (no leading `.`), and never
///   overwrites an existing file unless asked; it never writes through a
///   directory or a symlink that has the file's name;
/// - leaves the file with the permissions any new file gets (the umask's),
///   not the private ones of a temporary file.
///
/// ```
/// use runcomfy::DownloadPolicy;
/// use std::time::Duration;
///
/// let policy = DownloadPolicy::default()
///     .allow_host(".cdn.example.com")
///     .max_bytes(512 * 1024 * 1024)
///     .deadline(Duration::from_secs(600));
/// # drop(policy);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct DownloadPolicy {
    max_bytes: u64,
    overwrite: bool,
    extra_hosts: Vec<String>,
    allow_runcomfy: bool,
    allow_loopback: bool,
    max_resumes: u32,
    speed_limit: u64,
    speed_time: Duration,
    deadline: Option<Duration>,
}

impl Default for DownloadPolicy {
    /// RunComfy's CDNs and loopback, a 2 GiB cap, no overwrite, 3 resumes,
    /// below 1 KiB/s over 30 s fails, no overall deadline.
    fn default() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024 * 1024,
            overwrite: false,
            extra_hosts: Vec::new(),
            allow_runcomfy: true,
            allow_loopback: true,
            max_resumes: 3,
            speed_limit: 1024,
            speed_time: Duration::from_secs(30),
            deadline: None,
        }
    }
}

impl DownloadPolicy {
    /// The largest file accepted, in bytes (default 2 GiB).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Replace an existing regular file of the same name (never a folder or
    /// a symlink). Default: refuse.
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Also allow this host: exact (`cdn.example.com`) or, starting with a
    /// dot, it and its subdomains (`.example.com`). Over HTTPS only.
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        self.extra_hosts.push(host.into().to_ascii_lowercase());
        self
    }

    /// Allow RunComfy's CDNs (`*.runcomfy.net`, `*.runcomfy.com`). Default:
    /// yes.
    pub fn allow_runcomfy(mut self, allow: bool) -> Self {
        self.allow_runcomfy = allow;
        self
    }

    /// Allow loopback addresses (`127.0.0.0/8`, `::1`, `localhost`), e.g.
    /// the emulator, over plain HTTP too. Default: yes.
    pub fn allow_loopback(mut self, allow: bool) -> Self {
        self.allow_loopback = allow;
        self
    }

    /// How many times an interrupted transfer is resumed (default 3).
    pub fn max_resumes(mut self, resumes: u32) -> Self {
        self.max_resumes = resumes;
        self
    }

    /// Fail a transfer that averages less than `bytes_per_second` over any
    /// window of `window` ([`DownloadError::TooSlow`]); 0 turns the limit
    /// off. Default: 1024 bytes/s over 30 s.
    pub fn low_speed_limit(mut self, bytes_per_second: u64, window: Duration) -> Self {
        self.speed_limit = bytes_per_second;
        self.speed_time = window;
        self
    }

    /// The most time one file's download may take, resumes included
    /// ([`DownloadError::DeadlineExceeded`]). Default: none.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Whether `url` may be downloaded from.
    pub(crate) fn allows(&self, url: &Url) -> bool {
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
            || self.extra_hosts.iter().any(|p| suffix_match(p));
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

/// What saving a result's files does with a file already at a path it
/// writes (see [`Client::save_result_files`](crate::Client::save_result_files)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExistingFiles {
    /// Refuse it, as any download does (unless the policy allows
    /// overwriting): a one-off command's file may be someone else's.
    Refuse,
    /// Keep it and count it as saved: a rerun of a batch whose files were
    /// renamed into place only once whole.
    Keep,
}

/// The most redirects one download follows.
pub(super) const MAX_REDIRECTS: usize = 5;

impl Downloader {
    /// A downloader with its own HTTP client: no token, no automatic
    /// redirects (each one is checked against the policy here).
    pub(crate) fn new(
        policy: DownloadPolicy,
        connect_timeout: Duration,
        read_timeout: Duration,
        user_agent: &str,
        tls: reqwest::ClientBuilder,
    ) -> reqwest::Result<Self> {
        let http = tls
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
            Target::Folder(folder) => folder.join(naming::file_name_for(&url)),
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
    pub(super) fn checked_url(&self, url: &str) -> Result<Url, DownloadError> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let custom = DownloadPolicy::default()
            .allow_host(".Example.com")
            .allow_loopback(false);
        assert!(custom.allows(&url("https://media.example.com/a.mp4")));
        assert!(!custom.allows(&url("http://127.0.0.1/a.mp4")));
    }
}
