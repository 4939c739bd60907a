//! `runcomfy emulator`: the emulator in the foreground, simulating or in
//! front of the real API.

use crate::cli::{EmulatorArgs, Global};
use crate::context::{Interrupts, start_emulator};
use crate::exit::Failure;
use crate::output::Output;
use runcomfy::emulator::{EmulatorConfig, RunTime};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// `runcomfy emulator`: the emulator in the foreground until Ctrl-C.
pub async fn run(global: &Global, args: &EmulatorArgs) -> Result<(), Failure> {
    if !args.quiet && !global.json && global.verbose == 0 {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(crate::output::colour_on_stderr())
            .with_env_filter(tracing_subscriber::EnvFilter::new("runcomfy_emulator=info"))
            .try_init();
    }
    let seconds = |s: f64| Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX);
    let run_time = match args.run_time {
        Some(s) => RunTime::Fixed(seconds(s)),
        None => RunTime::PerVideoSecond(seconds(args.run_time_per_video_second)),
    };
    let mut config = EmulatorConfig::default()
        .port(args.port)
        .files_port(args.files_port)
        .bind(args.bind)
        .token(args.token.clone())
        .workers(args.workers)
        .queue_delay(seconds(args.queue_delay))
        .run_time(run_time)
        .time_scale(args.time_scale)
        .seed(args.seed)
        .flavour(args.flavour.parse().map_err(Failure::usage)?)
        .log_requests(!args.quiet);
    if let Some(usd) = args.balance {
        config = config.balance(usd);
    }
    if let Some(base) = &args.files_base_url {
        config = config.advertise_files_base(base);
    }
    if let Some(upstream) = &args.upstream {
        config = config.upstream(upstream).strict(args.strict);
    }
    if let Some(dir) = &args.record {
        config = config.record(dir);
    }
    if let Some(dir) = &args.replay {
        config = config.replay(dir).spy(args.spy);
    }
    if let Some(per_second) = args.rate_limit {
        config = config.rate_limit(per_second, args.rate_limit_burst);
    }
    for served in &args.serve_schema {
        let (model_id, file) = served.split_once('=').ok_or_else(|| {
            Failure::usage(format!("--serve-schema {served:?}: write MODEL_ID=FILE"))
        })?;
        let schema = super::read_json_input(Path::new(file)).await?;
        config = config
            .serve_input_schema(model_id, schema)
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    let emulator = start_emulator(config).await?;
    let out = Output::for_flags(global);
    out.line(format!(
        "runcomfy emulator listening on {} (files on {})",
        emulator.base_url(),
        emulator.files_base_url()
    ));
    out.document(&json!({
        "base_url": emulator.base_url(),
        "files_base_url": emulator.files_base_url(),
    }));
    let mut interrupts = Interrupts::new();
    interrupts.recv().await;
    emulator.shutdown();
    if args.upstream.is_some() || args.replay.is_some() {
        print_front_summary(&out, &emulator);
    }
    Ok(())
}

/// What passed through an emulator in front of an API or a cassette,
/// printed when it stops: the counts, and each drift once with how often.
fn print_front_summary(out: &Output, emulator: &runcomfy::emulator::Emulator) {
    let counts = emulator.counters().front;
    let drift = emulator.drift();
    let mut grouped: Vec<(String, u64)> = Vec::new();
    for found in &drift {
        let line = found.to_string();
        match grouped.iter_mut().find(|(l, _)| *l == line) {
            Some((_, n)) => *n += 1,
            None => grouped.push((line, 1)),
        }
    }
    out.line(format!(
        "stopped: {} forwarded, {} recorded, {} replayed, {} unmatched, {} drift, {} refused by --strict, {} upstream failures",
        counts.forwarded,
        counts.recorded,
        counts.replayed,
        counts.unmatched,
        counts.drift,
        counts.strict_refusals,
        counts.upstream_failures
    ));
    for (line, n) in &grouped {
        out.line(format!("  drift ×{n}: {line}"));
    }
    out.document(&json!({"summary": counts, "drift": drift}));
}
