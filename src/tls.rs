//! How this crate speaks HTTPS: a choice of backend, as reqwest offers.
//!
//! | feature | backend | a program's own `reqwest` clients |
//! |---|---|---|
//! | `tls-ring` (default) | rustls with the *ring* provider and the platform's verifier, handed to each of this crate's clients | need a provider installed first: call [`install_tls_provider`] once at start |
//! | `tls-aws-lc` | rustls with aws-lc-rs (reqwest's own default) | work as they are |
//! | `native-tls` | the platform's TLS (OpenSSL, Secure Transport, SChannel) | work as they are |
//!
//! *ring* is the default because it builds in a fraction of aws-lc-rs's
//! time (see `BENCHMARKS.md`). It is handed to each client rather than
//! installed for the whole process, so an application stays free to
//! install its own; that is also why reqwest, which this crate builds with
//! rustls but no default provider under `tls-ring`, cannot build a client
//! of the application's own until one is installed. With more than one
//! feature, the first in the table wins.

use crate::error::ConfigError;

#[cfg(not(any(feature = "tls-ring", feature = "tls-aws-lc", feature = "native-tls")))]
compile_error!(
    "runcomfy needs a TLS backend: enable one of its features tls-ring (the default), tls-aws-lc or native-tls"
);

/// A `reqwest::ClientBuilder` with the TLS setup this crate's clients use
/// (the backend of the features above; HTTP/1.1: the client's in-flight
/// cap keeps a small pool of reused connections, so HTTP/2 adds a crate to
/// the build and nothing a job needs).
///
/// Use it for a client of your own passed to
/// [`ClientBuilder::http_client`](crate::ClientBuilder::http_client)
/// (with a proxy, say): under `tls-ring`, a plain
/// `reqwest::Client::builder()` cannot build in a program with no TLS
/// provider installed.
///
/// ```
/// let http = runcomfy::http_client_builder()?
///     .timeout(std::time::Duration::from_secs(20))
///     .build()
///     .expect("a client");
/// let client = runcomfy::Client::builder().token("sk-...").http_client(http).build()?;
/// # Ok::<(), runcomfy::ConfigError>(())
/// ```
///
/// # Errors
///
/// [`ConfigError::Tls`] if the platform's verifier cannot be set up.
pub fn http_client_builder() -> Result<reqwest::ClientBuilder, ConfigError> {
    #[cfg(feature = "tls-ring")]
    {
        Ok(reqwest::Client::builder().tls_backend_preconfigured(ring::client_config()?))
    }
    #[cfg(all(not(feature = "tls-ring"), feature = "tls-aws-lc"))]
    {
        Ok(reqwest::Client::builder().tls_backend_rustls())
    }
    #[cfg(all(
        not(feature = "tls-ring"),
        not(feature = "tls-aws-lc"),
        feature = "native-tls"
    ))]
    {
        Ok(reqwest::Client::builder().tls_backend_native())
    }
}

/// Installs this crate's TLS provider (rustls with *ring*, under the
/// default feature `tls-ring`) as the process's default, so that a
/// program's own `reqwest::Client::new()` works beside this crate. Call it
/// once at start, before building reqwest clients of your own; returns
/// `false` (and changes nothing) when a provider was installed already, or
/// when the backend is not rustls with *ring* (nothing to install then).
///
/// ```
/// runcomfy::install_tls_provider();
/// let own = reqwest::Client::new(); // no "No rustls crypto provider" panic
/// # drop(own);
/// ```
pub fn install_tls_provider() -> bool {
    #[cfg(feature = "tls-ring")]
    {
        rustls::crypto::ring::default_provider()
            .install_default()
            .is_ok()
    }
    #[cfg(not(feature = "tls-ring"))]
    {
        false
    }
}

#[cfg(feature = "tls-ring")]
mod ring {
    use crate::error::ConfigError;
    use rustls_platform_verifier::BuilderVerifierExt as _;
    use std::sync::{Arc, OnceLock};

    /// rustls with *ring*, TLS 1.2 and 1.3, the operating system's roots
    /// and verifier, HTTP/1.1; set up once per process (the platform
    /// verifier reads the system's certificate store, which takes
    /// milliseconds).
    pub(super) fn client_config() -> Result<rustls::ClientConfig, ConfigError> {
        static CONFIG: OnceLock<Result<rustls::ClientConfig, rustls::Error>> = OnceLock::new();
        CONFIG
            .get_or_init(|| {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let mut config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()?
                    .with_platform_verifier()?
                    .with_no_client_auth();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Ok(config)
            })
            .clone()
            .map_err(|source| ConfigError::Tls {
                source: Box::new(source),
            })
    }
}
