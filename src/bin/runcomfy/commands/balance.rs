//! `runcomfy balance`: what is left on the account.

use crate::cli::{BalanceArgs, Global};
use crate::context::Context;
use crate::exit::Failure;
use serde_json::json;

/// `runcomfy balance`.
pub async fn run(global: &Global, args: &BalanceArgs) -> Result<(), Failure> {
    let ctx = Context::new(global, &args.client).await?;
    let balance = ctx.client.balance().await?;
    let currency = balance.currency.as_deref().unwrap_or("USD");
    ctx.out.line(match balance.balance_usd {
        Some(usd) => format!("{usd:.4} {currency}"),
        None => "no amount reported (unlimited)".to_string(),
    });
    ctx.out.document(&json!({
        "balance_usd": balance.balance_usd,
        "currency": balance.currency,
    }));
    Ok(())
}
