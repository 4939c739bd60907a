//! The money rules of `runcomfy mcp`: a cap per call and a budget for the
//! server's life, both checked on the estimate before anything is sent.
//!
//! | estimate | `--max-cost-per-call` | `--budget` | verdict |
//! |---|---|---|---|
//! | none (no listed price) | set | any | refused: nothing to check against |
//! | none | unset | set | refused |
//! | E | E > cap | any | refused, naming E and the cap |
//! | E | any | committed + E > budget | refused, naming E, what is committed and the budget |
//! | E | otherwise | otherwise | go: E is committed before the submit |
//!
//! What a call commits stays committed when its submit may have reached
//! RunComfy (it may be paid); it is released when RunComfy refused the
//! submit, and replaced by RunComfy's reported cost once the job is done.

use std::sync::Mutex;

/// Why a call is refused before anything is sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "{model} lists no price, so its cost cannot be checked against the server's caps; nothing was sent"
    )]
    NoEstimate { model: String },
    #[error(
        "the estimated cost ${estimate:.4} is over --max-cost-per-call ${cap:.4}; nothing was sent"
    )]
    OverPerCall { estimate: f64, cap: f64 },
    #[error(
        "the estimated cost ${estimate:.4} would take this server's spending to ${total:.4}, over its --budget ${budget:.4} (${committed:.4} committed so far); nothing was sent"
    )]
    OverBudget {
        estimate: f64,
        committed: f64,
        total: f64,
        budget: f64,
    },
}

/// The verdict of the table above.
pub fn verdict(
    model: &str,
    estimate: Option<f64>,
    per_call: Option<f64>,
    budget: Option<f64>,
    committed: f64,
) -> Result<(), Refusal> {
    let Some(estimate) = estimate else {
        return match (per_call, budget) {
            (None, None) => Ok(()),
            _ => Err(Refusal::NoEstimate {
                model: model.to_string(),
            }),
        };
    };
    if let Some(cap) = per_call
        && estimate > cap + 1e-9
    {
        return Err(Refusal::OverPerCall { estimate, cap });
    }
    if let Some(budget) = budget {
        let total = committed + estimate;
        if total > budget + 1e-9 {
            return Err(Refusal::OverBudget {
                estimate,
                committed,
                total,
                budget,
            });
        }
    }
    Ok(())
}

/// The server's caps and what it has committed so far.
#[derive(Debug)]
pub struct Budget {
    per_call: Option<f64>,
    budget: Option<f64>,
    committed: Mutex<f64>,
}

impl Budget {
    pub fn new(per_call: Option<f64>, budget: Option<f64>) -> Self {
        Self {
            per_call,
            budget,
            committed: Mutex::new(0.0),
        }
    }

    /// Checks a call and, if it may go, commits its estimate (under one
    /// lock, so that two calls never spend the same dollar).
    pub fn commit(&self, model: &str, estimate: Option<f64>) -> Result<f64, Refusal> {
        let mut committed = self.committed.lock().unwrap_or_else(|p| p.into_inner());
        verdict(model, estimate, self.per_call, self.budget, *committed)?;
        let amount = estimate.unwrap_or(0.0);
        *committed += amount;
        Ok(amount)
    }

    /// Releases what a call committed (RunComfy refused its submit).
    pub fn release(&self, amount: f64) {
        let mut committed = self.committed.lock().unwrap_or_else(|p| p.into_inner());
        *committed = (*committed - amount).max(0.0);
    }

    /// Replaces a call's estimate with what RunComfy reported it cost.
    pub fn settle(&self, estimated: f64, reported: f64) {
        let mut committed = self.committed.lock().unwrap_or_else(|p| p.into_inner());
        *committed = (*committed - estimated + reported).max(0.0);
    }

    /// What is committed so far.
    pub fn committed(&self) -> f64 {
        *self.committed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The budget for the server's life, if any.
    pub fn budget(&self) -> Option<f64> {
        self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds() {
        assert_eq!(verdict("m", None, None, None, 0.0), Ok(()));
        assert!(matches!(
            verdict("m", None, Some(1.0), None, 0.0),
            Err(Refusal::NoEstimate { .. })
        ));
        assert!(matches!(
            verdict("m", None, None, Some(1.0), 0.0),
            Err(Refusal::NoEstimate { .. })
        ));
        assert!(matches!(
            verdict("m", Some(0.63), Some(0.5), None, 0.0),
            Err(Refusal::OverPerCall { .. })
        ));
        assert_eq!(verdict("m", Some(0.63), Some(0.63), None, 0.0), Ok(()));
        assert!(matches!(
            verdict("m", Some(0.63), None, Some(1.0), 0.63),
            Err(Refusal::OverBudget { .. })
        ));
        assert_eq!(verdict("m", Some(0.37), None, Some(1.0), 0.63), Ok(()));
        let message = verdict("m", Some(0.63), None, Some(1.0), 0.63)
            .expect_err("over")
            .to_string();
        assert!(
            message.contains("$0.6300") && message.contains("$1.0000"),
            "{message}"
        );
    }

    #[test]
    fn commitments_are_kept_released_and_settled() {
        let budget = Budget::new(None, Some(1.0));
        let first = budget.commit("m", Some(0.63)).expect("fits");
        assert!(budget.commit("m", Some(0.63)).is_err());
        budget.release(first);
        let second = budget.commit("m", Some(0.63)).expect("fits again");
        budget.settle(second, 0.5);
        assert!((budget.committed() - 0.5).abs() < 1e-9);
    }
}
