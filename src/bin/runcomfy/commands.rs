//! The commands: where they run (RunComfy or an emulator), and the ones
//! about a request id, the catalogue and the emulator.

use crate::cli::{
    Cli, Command, DownloadArgs, EmulatorArgs, GENERATE_MODEL, Global, ModelsCommand, RequestArgs,
    SubmitArgs,
};
use crate::context::{Context, Interrupts, start_emulator};
use crate::exit::{self, Failure, Kind};
use crate::output::Output;
use crate::{batch, schema_args, schema_cmd, submit};
use clap::ArgMatches;
use futures::StreamExt;
use runcomfy::emulator::{EmulatorConfig, RunTime};
use runcomfy::{DynamicModel, Error, ModelDescriptor, ModelQuery, WaitOptions};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// Runs the command; returns the exit code.
pub async fn dispatch(cli: Cli, matches: ArgMatches) -> u8 {
    let out = Output::for_flags(&cli.global);
    match run(cli, &matches).await {
        Ok(()) => exit::OK,
        Err(failure) => {
            if out.json {
                out.document(&failure.to_json());
            } else if failure.kind.is_requested_stop() {
                // Ctrl-C did what it was asked: not an error.
                eprintln!("{}", failure.message);
            } else {
                eprintln!("error: {}", failure.message);
            }
            failure.code
        }
    }
}

async fn run(cli: Cli, matches: &ArgMatches) -> Result<(), Failure> {
    match cli.command {
        Command::Emulator(args) => return emulator(&cli.global, &args).await,
        Command::Schema(command) => return schema_cmd::run(&cli.global, command).await,
        Command::Batch(args) => return batch::run(&cli.global, args).await,
        Command::Completions(args) => return completions(args.shell),
        Command::Mcp(args) => return crate::mcp::run(&cli.global, &args).await,
        _ => {}
    }
    let ctx = Context::new(&cli.global).await?;
    match cli.command {
        Command::Generate(args) => {
            let model = ModelDescriptor::find(GENERATE_MODEL).expect("built in");
            let sub = matches
                .subcommand_matches("generate")
                .expect("parsed as generate");
            let body = model_body(model, sub, &args).await?;
            submit::submit_and_follow(&ctx, model, body, &args).await
        }
        Command::Run(args) => {
            let run = matches.subcommand_matches("run").expect("parsed as run");
            let (model_id, sub) = run
                .subcommand()
                .ok_or_else(|| Failure::usage("name a model: runcomfy run MODEL_ID"))?;
            let model = ModelDescriptor::find(model_id)
                .ok_or_else(|| Failure::usage(format!("no model {model_id} in this build")))?;
            let body = model_body(model, sub, &args.submit).await?;
            submit::submit_and_follow(&ctx, model, body, &args.submit).await
        }
        Command::Status(args) => status(&ctx, &args).await,
        Command::Result(args) => result(&ctx, &args).await,
        Command::Cancel(args) => cancel(&ctx, &args).await,
        Command::Download(args) => download(&ctx, &args).await,
        Command::Models(command) => models(&ctx, command).await,
        Command::Balance => balance(&ctx).await,
        Command::Emulator(_)
        | Command::Schema(_)
        | Command::Batch(_)
        | Command::Completions(_)
        | Command::Mcp(_) => {
            unreachable!("handled above")
        }
    }
}

/// The request body from `--input` and the model's flags.
async fn model_body(
    model: &'static ModelDescriptor,
    matches: &ArgMatches,
    args: &SubmitArgs,
) -> Result<Value, Failure> {
    let base = match &args.input {
        None => None,
        Some(path) => Some(read_json_input(path).await?),
    };
    let mut body = schema_args::body(model, matches, base)
        .map_err(|schema_args::BadFlag(message)| Failure::new(Kind::Usage, message))?;
    inline_local_media(model, &mut body)?;
    Ok(body)
}

/// Local files named in `body`'s media fields, read and put inline as
/// `data:` URIs; any problem refuses the request before anything is sent.
pub fn inline_local_media(model: &ModelDescriptor, body: &mut Value) -> Result<(), Failure> {
    model
        .inline_local_media(body, &runcomfy::media::MediaLimits::default())
        .map_err(|e| Failure::new(Kind::InvalidInput, format!("{e}; nothing was sent")))
}

/// A JSON document from a file, or from stdin for `-`.
async fn read_json_input(path: &Path) -> Result<Value, Failure> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut tokio::io::stdin(), &mut text)
            .await
            .map(|_| text)
    } else {
        tokio::fs::read_to_string(path).await
    }
    .map_err(|e| {
        Failure::new(
            Kind::InvalidInput,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            Kind::InvalidInput,
            format!("{} is not JSON: {e}", path.display()),
        )
    })
}

async fn status(ctx: &Context, args: &RequestArgs) -> Result<(), Failure> {
    let job = ctx.client.job::<DynamicModel>(&args.request_id)?;
    let status = job.status().await?;
    ctx.out.line(format!(
        "{}: {}",
        args.request_id,
        crate::progress::describe(&status)
    ));
    let position = match &status {
        runcomfy::Status::InQueue { position } => *position,
        _ => None,
    };
    ctx.out.document(&json!({
        "request_id": args.request_id,
        "status": status.as_wire(),
        "queue_position": position,
        "terminal": status.is_terminal(),
    }));
    Ok(())
}

async fn result(ctx: &Context, args: &RequestArgs) -> Result<(), Failure> {
    let job = ctx.client.job::<DynamicModel>(&args.request_id)?;
    let result = job.result().await?;
    ctx.out
        .line(serde_json::to_string_pretty(&result.output).unwrap_or_default());
    if let Some(cost) = result.cost {
        ctx.out.note(format!("cost: ${cost:.4}"));
    }
    ctx.out.document(&json!({
        "request_id": result.request_id,
        "status": "completed",
        "output": result.output,
        "urls": result.urls(),
        "cost_usd": result.cost,
        "created_at": result.created_at,
        "finished_at": result.finished_at,
    }));
    Ok(())
}

async fn cancel(ctx: &Context, args: &RequestArgs) -> Result<(), Failure> {
    let job = ctx.client.job::<DynamicModel>(&args.request_id)?;
    let outcome = job.cancel().await?;
    ctx.out.line(format!("{}: {outcome}", args.request_id));
    ctx.out.document(&json!({
        "request_id": args.request_id,
        "outcome": outcome,
    }));
    Ok(())
}

async fn download(ctx: &Context, args: &DownloadArgs) -> Result<(), Failure> {
    let job = ctx.client.job::<DynamicModel>(&args.request_id)?;
    let result = if args.no_wait {
        job.result().await?
    } else {
        let display = crate::progress::Display::new(&ctx.out);
        let shown = display.clone();
        let options = WaitOptions::new()
            .deadline(args.timeout)
            .on_progress(move |p| shown.update(p));
        let outcome = job.wait_with(options).await;
        display.finish();
        ctx.out.event(
            "finished",
            json!({"request_id": job.request_id(), "status": submit::finished_status(&outcome)}),
        );
        outcome?
    };
    submit::deliver(
        ctx,
        job.model_id().unwrap_or("unknown"),
        &result,
        &args.destination,
        false,
        None,
    )
    .await
}

async fn models(ctx: &Context, command: ModelsCommand) -> Result<(), Failure> {
    match command {
        ModelsCommand::List {
            search,
            category,
            kind,
            page_size,
        } => {
            let mut query = ModelQuery::new();
            if let Some(search) = search {
                query = query.search(search);
            }
            if let Some(category) = category {
                query = query.category(category);
            }
            if let Some(kind) = kind {
                query = query.kind(kind);
            }
            if let Some(size) = page_size {
                query = query.page_size(size);
            }
            let models: Vec<_> = ctx.client.models(query).collect().await;
            let models = models.into_iter().collect::<Result<Vec<_>, Error>>()?;
            for model in &models {
                let price = match (model.base_price_usd, &model.price_unit) {
                    (Some(price), Some(unit)) => format!("${price} per {unit}"),
                    (Some(price), None) => format!("${price}"),
                    _ => "price not listed".into(),
                };
                ctx.out.line(format!(
                    "{}  {}  ({price})",
                    model.model_id,
                    model.display_name.as_deref().unwrap_or("")
                ));
            }
            ctx.out.document(&json!({"models": models}));
            Ok(())
        }
        ModelsCommand::Categories => {
            let categories = ctx.client.categories().await?;
            for category in &categories {
                ctx.out.line(category.clone());
            }
            ctx.out.document(&json!({"categories": categories}));
            Ok(())
        }
        ModelsCommand::Get { model_id } => {
            let info = ctx.client.model_info(&model_id).await?;
            ctx.out
                .line(serde_json::to_string_pretty(&info).unwrap_or_default());
            ctx.out
                .document(&serde_json::to_value(&info).unwrap_or(Value::Null));
            Ok(())
        }
    }
}

/// `runcomfy balance`.
async fn balance(ctx: &Context) -> Result<(), Failure> {
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

/// `runcomfy completions SHELL`: the script that has the shell ask
/// `runcomfy` itself for completions (`COMPLETE=SHELL runcomfy -- WORDS`),
/// so that model ids and every flag's choices are always this build's.
fn completions(shell: crate::cli::Shell) -> Result<(), Failure> {
    use std::io::Write as _;
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(shell.name())
        .expect("every shell offered is built in");
    // The program to call back: this one, as it was started (made absolute
    // when started by a relative path such as target/debug/runcomfy).
    let program = std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .map(|path| match std::env::current_dir() {
            Ok(dir) if path.components().count() > 1 => dir.join(path),
            _ => path,
        })
        .unwrap_or_else(|| "runcomfy".into());
    let mut script = Vec::new();
    completer
        .write_registration(
            "COMPLETE",
            "runcomfy",
            "runcomfy",
            &program.to_string_lossy(),
            &mut script,
        )
        .and_then(|()| std::io::stdout().write_all(&script))
        .map_err(|e| Failure::new(Kind::Io, format!("cannot write the script: {e}")))
}

/// `runcomfy emulator`: the emulator in the foreground until Ctrl-C.
async fn emulator(global: &Global, args: &EmulatorArgs) -> Result<(), Failure> {
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
        let schema = read_json_input(Path::new(file)).await?;
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
