//! Every benchmark of this crate in one run, against the emulator on
//! loopback, each figure next to a baseline measured in the same run.
//!
//! ```text
//! cargo bench --features cli --bench figures            # everything; writes BENCHMARKS.md
//! cargo bench --features cli --bench figures -- polling # only the named sections
//! cargo test  --features cli --bench figures            # smoke: tiny sizes, writes nothing
//! ```
//!
//! Sections: `polling`, `overhead`, `fanout`, `build`, `download`.

mod build_times;
mod download;
mod fanout;
mod overhead;
mod polling;
mod report;

use report::Report;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test` does not: a smoke run.
    let smoke = !args.iter().any(|a| a == "--bench");
    let wanted: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let runs = |section: &str| wanted.is_empty() || wanted.contains(&section);
    let mut report = Report::new(smoke);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if runs("polling") {
        polling_section(&mut report, smoke);
    }
    if runs("overhead") {
        overhead::run(&mut report, smoke);
    }
    if runs("fanout") {
        runtime.block_on(fanout::run(&mut report, smoke));
    }
    // The builds before the download: a gigabyte just written and not yet
    // flushed to disk would slow them down.
    if runs("build") && !smoke {
        build_times::run(&mut report);
    }
    if runs("download") {
        runtime.block_on(download::run(&mut report, smoke));
    }
    report.finish(wanted.is_empty());
}

fn polling_section(report: &mut Report, smoke: bool) {
    use polling::{Poller, SCENARIOS, simulate};
    let jobs = if smoke { 40 } else { 2000 };
    report.section(
        "Polling: detection delay and status requests",
        &format!(
            "Simulated on a virtual clock through the public `PollPolicy` API ({jobs} jobs per \
             policy and kind; log-normal run-time noise with a 10 % sigma, one job in fifty a \
             1.5x straggler; 0-3 places in the queue at 2-4 s each). Detection delay: from \
             the job's finish to the poll that sees it."
        ),
    );
    let mut rows = Vec::new();
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        let seed = 1000 + i as u64;
        let all: Vec<_> = Poller::ALL
            .iter()
            .map(|p| (*p, simulate(scenario, *p, jobs, seed)))
            .collect();
        let of = |wanted: Poller| {
            all.iter()
                .find(|(p, _)| *p == wanted)
                .map(|(_, f)| f.clone())
                .expect("every poller ran")
        };
        let (fast, two) = (of(Poller::Fixed05), of(Poller::Fixed2));
        for (poller, f) in &all {
            rows.push(vec![
                scenario.name.to_string(),
                poller.label().to_string(),
                format!("{:.2}", f.p50),
                format!("{:.2}", f.p95),
                format!("{:.1}", f.requests_per_job),
                format!(
                    "{:.0} %",
                    100.0 * f.requests_per_job / fast.requests_per_job
                ),
            ]);
        }
        let first = of(Poller::LearningFirstJob);
        let warm = of(Poller::LearningWarm);
        let previous = of(Poller::PreviousDefault);
        report.target(
            &format!("detection p95, {}: first job of a model", scenario.name),
            &format!("{:.2} s, {:.1} requests", first.p95, first.requests_per_job),
            &format!(
                "2 s poller {:.2} s, {:.1} requests; previous default {:.2} s",
                two.p95, two.requests_per_job, previous.p95
            ),
            "no worse than the 2 s poller, fewer requests",
            first.p95 <= two.p95 && first.requests_per_job < two.requests_per_job,
        );
        report.target(
            &format!("detection p95, {}: after a few jobs", scenario.name),
            &format!(
                "{:.2} s, {:.0} % of the 0.5 s poller's requests",
                warm.p95,
                100.0 * warm.requests_per_job / fast.requests_per_job
            ),
            &format!(
                "0.5 s poller {:.2} s, {:.1} requests",
                fast.p95, fast.requests_per_job
            ),
            "p95 <= 1 s with <= 25 % of the 0.5 s poller's requests",
            warm.p95 <= 1.0 && warm.requests_per_job <= 0.25 * fast.requests_per_job,
        );
    }
    report.table(
        &[
            "jobs",
            "policy",
            "p50 (s)",
            "p95 (s)",
            "requests/job",
            "vs 0.5 s poller",
        ],
        &rows,
    );
}
