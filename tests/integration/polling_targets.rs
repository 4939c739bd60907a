//! The learning poll schedule meets its targets on the benchmark's
//! simulated jobs (a virtual clock: no waiting, no timing): on a model's
//! first job it notices a finish no later than a 2 s poller (p95) with
//! fewer requests; after a few jobs, within 1 s (p95) with at most a
//! quarter of a 0.5 s poller's requests. `cargo bench` prints the same
//! figures over more jobs.

#[allow(dead_code)]
#[path = "../../benches/figures/polling.rs"]
mod polling;

use polling::{Poller, SCENARIOS, simulate};

#[test]
fn learning_polling_meets_its_targets_in_every_scenario() {
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        let seed = 1000 + i as u64;
        let run = |poller| simulate(scenario, poller, 400, seed);
        let (fast, two) = (run(Poller::Fixed05), run(Poller::Fixed2));
        let (first, warm) = (run(Poller::LearningFirstJob), run(Poller::LearningWarm));
        let name = scenario.name;
        assert!(
            first.p95 <= two.p95,
            "{name}: first job {first:?} vs 2 s {two:?}"
        );
        assert!(
            first.requests_per_job < two.requests_per_job,
            "{name}: first job {first:?} vs 2 s {two:?}"
        );
        assert!(warm.p95 <= 1.0, "{name}: warm {warm:?}");
        assert!(
            warm.requests_per_job <= 0.25 * fast.requests_per_job,
            "{name}: warm {warm:?} vs 0.5 s {fast:?}"
        );
    }
}
