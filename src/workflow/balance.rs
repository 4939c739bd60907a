//! The account's balance, from RunComfy's core API (one wallet pays for
//! every RunComfy product).

use super::client::Client;
use crate::error::Error;
use crate::wire::decode::{api_error_from, classify, error_in_200, number, retry_after};
use crate::wire::retry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What is left on the account, as RunComfy says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Balance {
    /// What is left in US dollars; `None` where the answer says no amount
    /// (the emulator without a wallet: unlimited).
    pub balance_usd: Option<f64>,
    /// The currency RunComfy names (`USD`).
    pub currency: Option<String>,
}

impl Balance {
    /// Whether `usd` can be paid from it (an unknown amount can).
    pub fn covers(&self, usd: f64) -> bool {
        self.balance_usd.is_none_or(|left| left + 1e-9 >= usd)
    }
}

impl std::fmt::Display for Balance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.balance_usd {
            Some(usd) => write!(f, "${usd:.4}"),
            None => f.write_str("no amount reported"),
        }
    }
}

impl Client {
    /// The account's balance: `GET {core API}/balance` on RunComfy's core
    /// API (`https://api.runcomfy.net/prod/v2` unless
    /// [`core_api_base`](crate::ClientBuilder::core_api_base) says
    /// otherwise), with the token, retried like a status call.
    ///
    /// RunComfy answers `{"balance_usd": 12.34, "currency": "USD"}`; an
    /// amount sent as a numeric string is read too.
    ///
    /// # Errors
    ///
    /// Any API error ([`Error::Auth`] for a refused token), or
    /// [`Error::InvalidResponse`] for an answer that is not such an object.
    pub async fn balance(&self) -> Result<Balance, Error> {
        use progenitor_client::ClientInfo;
        let api = self.api();
        let context = api.inner();
        let request = api
            .client()
            .get(format!("{}/balance", self.core_api_base()))
            .header(
                reqwest::header::AUTHORIZATION,
                context.authorization.clone(),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .build()
            .map_err(|source| Error::Transport {
                request_id: None,
                source,
            })?;
        let answer = retry::execute(api.client(), context, request, false)
            .await
            .map_err(|source| Error::Transport {
                request_id: None,
                source,
            })?;
        let status = answer.status().as_u16();
        let wait = retry_after(answer.headers());
        let body = answer.bytes().await.unwrap_or_default();
        if !(200..300).contains(&status) || error_in_200(&body).is_some() {
            return Err(classify(api_error_from(status, &body, wait, None)));
        }
        read_balance(&body).ok_or_else(|| Error::InvalidResponse {
            status,
            message: format!(
                "not a balance: {}",
                crate::quote::excerpt(&String::from_utf8_lossy(&body), crate::quote::EXCERPT_CHARS)
            ),
            request_id: None,
        })
    }
}

/// `{"balance_usd": 12.34, "currency": "USD"}` (the amount also as a
/// numeric string, or under `balance`).
fn read_balance(body: &[u8]) -> Option<Balance> {
    let Value::Object(map) = serde_json::from_slice::<Value>(body).ok()? else {
        return None;
    };
    let amount = map.get("balance_usd").or_else(|| map.get("balance"));
    Some(Balance {
        balance_usd: amount.and_then(number),
        currency: map
            .get("currency")
            .and_then(Value::as_str)
            .map(String::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_are_read_as_runcomfy_and_its_cli_show_them() {
        let read = |s: &str| read_balance(s.as_bytes());
        assert_eq!(
            read(r#"{"balance_usd": 12.34, "currency": "USD"}"#),
            Some(Balance {
                balance_usd: Some(12.34),
                currency: Some("USD".into())
            })
        );
        assert_eq!(
            read(r#"{"balance": "7.5"}"#).and_then(|b| b.balance_usd),
            Some(7.5)
        );
        assert_eq!(
            read(r#"{"balance_usd": null}"#).and_then(|b| b.balance_usd),
            None
        );
        assert_eq!(read("[1]"), None);
        assert_eq!(read("nope"), None);
        let low = Balance {
            balance_usd: Some(1.0),
            currency: None,
        };
        assert!(low.covers(1.0) && !low.covers(1.01));
    }
}
