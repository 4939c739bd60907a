//! What requests will cost, checked before anything is sent: estimates at
//! RunComfy's price now, the `--max-cost` cap and the balance. One home for
//! `run`, `generate` and `batch`.

use crate::context::Context;
use crate::exit::{Failure, Kind};
use runcomfy::{CostEstimate, ModelDescriptor};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Each model's price as RunComfy lists it now, asked once per model.
pub struct Prices<'a> {
    ctx: &'a Context,
    listed: HashMap<&'static str, Option<f64>>,
}

impl<'a> Prices<'a> {
    pub fn new(ctx: &'a Context) -> Self {
        Self {
            ctx,
            listed: HashMap::new(),
        }
    }

    /// The estimate of `body` for `model` at RunComfy's price now where it
    /// says one, else at the checked-in price; `None` without any price.
    pub async fn estimate(
        &mut self,
        model: &'static ModelDescriptor,
        body: &Value,
    ) -> Option<CostEstimate> {
        let listed = match self.listed.get(model.id) {
            Some(price) => *price,
            None => {
                let price = self
                    .ctx
                    .client
                    .model_info(model.id)
                    .await
                    .ok()
                    .and_then(|info| info.base_price_usd);
                self.listed.insert(model.id, price);
                price
            }
        };
        match listed {
            Some(price) => model.estimate_cost_at(body, price),
            None => model.estimate_cost(body),
        }
    }
}

/// A model without a price: `--max-cost` cannot be checked (`line`, in a
/// batch, says which).
pub fn no_price(model_id: &str, line: Option<u64>) -> Failure {
    let at = line.map(|n| format!("line {n}: ")).unwrap_or_default();
    Failure::new(
        Kind::NoPrice,
        format!(
            "{at}{model_id} lists no price, so --max-cost cannot be checked; nothing was submitted"
        ),
    )
}

/// Refuses to go on when the estimate `usd` (written `shown`) is over
/// `--max-cost` `cap`.
pub fn check_cap(shown: &str, usd: f64, cap: f64) -> Result<(), Failure> {
    if usd > cap {
        return Err(Failure::new(
            Kind::OverMaxCost,
            format!(
                "the estimated cost {shown} is over --max-cost ${cap:.4}; nothing was submitted"
            ),
        )
        .with_detail(json!({"estimate_usd": usd, "max_cost_usd": cap})));
    }
    Ok(())
}

/// Before a capped submit: the balance, said, and a refusal when it
/// cannot pay `usd` (an unknown balance does not stop anything).
pub async fn check_balance(ctx: &Context, usd: f64) -> Result<(), Failure> {
    match ctx.client.balance().await {
        Ok(balance) if !balance.covers(usd) => Err(Failure::new(
            Kind::InsufficientBalance,
            format!(
                "the balance {balance} is below the estimated cost ${usd:.4}; nothing was submitted"
            ),
        )
        .with_detail(json!({"estimate_usd": usd, "balance_usd": balance.balance_usd}))),
        Ok(balance) => {
            ctx.out.note(format!("balance: {balance}"));
            Ok(())
        }
        Err(error) => {
            ctx.out.note(format!("balance unknown ({error}); going on"));
            Ok(())
        }
    }
}
