//! The run's figures: printed as they come, and written to
//! `BENCHMARKS.md` at the end of a full run.

use std::fmt::Write as _;

pub struct Report {
    smoke: bool,
    targets: Vec<[String; 5]>,
    body: String,
}

impl Report {
    pub fn new(smoke: bool) -> Self {
        Self {
            smoke,
            targets: Vec::new(),
            body: String::new(),
        }
    }

    /// Starts a section of the details.
    pub fn section(&mut self, title: &str, text: &str) {
        let block = format!("\n## {title}\n\n{text}\n\n");
        print!("{block}");
        self.body.push_str(&block);
    }

    /// A paragraph in the current section.
    pub fn text(&mut self, text: &str) {
        let block = format!("{text}\n\n");
        print!("{block}");
        self.body.push_str(&block);
    }

    /// A table in the current section.
    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
        for row in rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out.push('\n');
        print!("{out}");
        self.body.push_str(&out);
    }

    /// One line of the summary: a figure, its baseline, the target and
    /// whether it was met.
    pub fn target(&mut self, what: &str, now: &str, baseline: &str, target: &str, met: bool) {
        let verdict = if met { "met" } else { "**missed**" };
        println!("[{verdict}] {what}: {now} (baseline: {baseline}; target: {target})");
        self.targets.push([
            what.to_string(),
            now.to_string(),
            baseline.to_string(),
            target.to_string(),
            verdict.to_string(),
        ]);
    }

    /// Prints the summary; after a full run of every section (not a
    /// smoke run), writes `BENCHMARKS.md`.
    pub fn finish(self, every_section: bool) {
        let mut out = String::new();
        let _ = writeln!(out, "# Benchmarks\n");
        let _ = writeln!(
            out,
            "Written by `cargo bench --features cli --bench figures` (see \
             `benches/figures/`); every baseline was measured in the same run.\n"
        );
        let _ = writeln!(out, "{}\n", machine());
        let _ = writeln!(out, "## Summary\n");
        let _ = writeln!(out, "| what | now | baseline (same run) | target | |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for [what, now, baseline, target, verdict] in &self.targets {
            let _ = writeln!(
                out,
                "| {what} | {now} | {baseline} | {target} | {verdict} |"
            );
        }
        out.push_str(&self.body);
        println!(
            "\n{}",
            out.split("## Summary")
                .nth(1)
                .map_or("", |s| s.split("\n## ").next().unwrap_or(""))
        );
        if self.smoke {
            println!("(smoke run: tiny sizes, BENCHMARKS.md not written)");
        } else if every_section {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/BENCHMARKS.md");
            std::fs::write(path, out).expect("BENCHMARKS.md is writable");
            println!("wrote {path}");
        } else {
            println!("(some sections only: BENCHMARKS.md not written)");
        }
    }
}

/// The machine, the toolchain and the date.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or("?".into(), |kb| format!("{:.0} GiB", kb as f64 / 1048576.0));
    let command = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "Machine: {cpu}, {cores} cores, {memory}; {}; {}; {} (UTC).",
        command("rustc", &["--version"]),
        command("uname", &["-sr"]),
        command("date", &["-u", "+%Y-%m-%d %H:%M"]),
    )
}
