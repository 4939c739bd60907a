//! What the generated client carries and does around every request:
//! the bearer token, added only to requests for the API origin.

use progenitor_client::{ClientHooks, OperationInfo};
use secrecy::{ExposeSecret, SecretString};

/// The state the generated client carries: the API token.
///
/// Its `Debug` shows the token as `[REDACTED]` (it is a
/// [`SecretString`]).
#[derive(Debug, Clone)]
pub struct ApiContext {
    pub(crate) token: SecretString,
}

impl ClientHooks<ApiContext> for crate::generated::api::Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        use progenitor_client::ClientInfo;
        let token = &self.inner().token;
        let mut value =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| {
                    progenitor_client::Error::InvalidRequest(
                        "the API token contains characters not allowed in an HTTP header".into(),
                    )
                })?;
        value.set_sensitive(true);
        request
            .headers_mut()
            .insert(reqwest::header::AUTHORIZATION, value);
        Ok(())
    }
}
