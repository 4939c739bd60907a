//! placeholder
use crate::report::Report;
pub async fn run(_r: &mut Report, _smoke: bool) {}
