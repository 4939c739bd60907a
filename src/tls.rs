//! How this crate speaks HTTPS: rustls with the *ring* crypto provider
//! and the operating system's certificate verifier.
//!
//! reqwest's own `rustls` feature brings the `aws-lc-rs` provider, whose C
//! library is most of a clean build (about 45 s of 80 on two cores);
//! *ring* builds in a fraction of that. Both need a C compiler (see
//! `BENCHMARKS.md`). The provider is handed to each client rather than
//! installed process-wide, so an application stays free to install its own.

use crate::error::ConfigError;
use rustls_platform_verifier::BuilderVerifierExt as _;
use std::sync::{Arc, OnceLock};

/// A `reqwest::ClientBuilder` with the TLS setup this crate's clients use:
/// rustls with the *ring* provider, TLS 1.2 and 1.3, the operating
/// system's certificate roots and verifier, HTTP/1.1 (the client's
/// in-flight cap keeps a small pool of reused connections, so HTTP/2 adds
/// a crate to the build and nothing a job needs).
///
/// Use it for a client of your own passed to
/// [`ClientBuilder::http_client`](crate::ClientBuilder::http_client)
/// (with a proxy, say): this crate builds reqwest without a default crypto
/// provider, so a plain `reqwest::Client::builder()` in a program with no
/// other TLS setup cannot build.
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
    // Set up once per process: the platform verifier reads the system's
    // certificate store, which takes milliseconds.
    static CONFIG: OnceLock<Result<rustls::ClientConfig, rustls::Error>> = OnceLock::new();
    let config = CONFIG
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
        })?;
    Ok(reqwest::Client::builder().tls_backend_preconfigured(config))
}
