//! The command line: static commands (clap derive), plus the per-model
//! flags that `run` and `generate` take from each model's schema.

use crate::schema_args;
use clap::{Args, CommandFactory, Parser, Subcommand};
use runcomfy::ModelDescriptor;
use std::path::PathBuf;
use std::time::Duration;

/// The model `generate` runs.
pub const GENERATE_MODEL: &str = "kling/kling-3.0/standard/text-to-video";

/// RunComfy's Model API from the command line: prompts to videos, batches
/// that never pay twice, the catalogue, the schema workflow and a local
/// emulator.
///
/// The token comes from RUNCOMFY_TOKEN; the API from RUNCOMFY_BASE_URL (or
/// RUNCOMFY_MODEL_API_BASE), by default https://model-api.runcomfy.net.
/// With --emulator, a local emulator runs in this process instead: no
/// token, no cost.
#[derive(Debug, Parser)]
#[command(name = "runcomfy", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Print one JSON document on stdout, and nothing else anywhere.
    #[arg(long, global = true)]
    pub json: bool,
    /// With --json: one JSON object per line on stdout as things happen
    /// (submitted, queued, running, finished, file_saved, line_done), each
    /// with a "type" and the request id, then the document on one line.
    #[arg(long, global = true, requires = "json")]
    pub events: bool,
    /// Log to stderr (-v: each request, -vv: everything).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// Where a command's requests go and how it polls: the flags of the
/// commands that talk to RunComfy (not `emulator` or `completions`).
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// Run against a local emulator started in this process (no token, no
    /// cost; it stops with the command).
    #[arg(long, global = true)]
    pub emulator: bool,
    /// How many times faster than real time the --emulator runs.
    #[arg(long, global = true, default_value_t = 20.0, hide_short_help = true)]
    pub emulator_time_scale: f64,
    /// Poll every this many seconds instead of the learning schedule
    /// (RunComfy's own CLI polls every 2 s).
    #[arg(long, global = true, value_name = "SECONDS", value_parser = parse_poll_secs)]
    pub poll_secs: Option<std::time::Duration>,
}

fn parse_poll_secs(text: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(0.01..=3600.0).contains(&secs) {
        return Err("between 0.01 and 3600 seconds".into());
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Turn a prompt into a video with Kling 3.0 text-to-video.
    ///
    /// `run kling/kling-3.0/standard/text-to-video` with the prompt as the
    /// first argument; every other field of the model is a flag.
    Generate(SubmitArgs),
    /// Run any model: its flags come from its schema (`run MODEL_ID --help`).
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Run(RunArgs),
    /// Show a job's status.
    Status(RequestArgs),
    /// Show a job's result (its output URLs and metadata).
    Result(RequestArgs),
    /// Cancel a queued job (a running job cannot be cancelled).
    Cancel(RequestArgs),
    /// Wait for a job if needed, then download its files.
    Download(DownloadArgs),
    /// RunComfy's model catalogue.
    Models(ModelsArgs),
    /// What is left on the account (RunComfy's core API; one wallet pays
    /// for every RunComfy product).
    Balance(BalanceArgs),
    /// Run one request per line of a JSONL file; rerun to resume.
    Batch(BatchArgs),
    /// Pull a model's published schema, or check the checked-in ones for
    /// drift.
    Schema(SchemaArgs),
    /// Run the emulator in the foreground.
    Emulator(EmulatorArgs),
    /// Serve this build's models as tools to AI agents over the Model
    /// Context Protocol (stdio; --http for streamable HTTP).
    Mcp(McpArgs),
    /// Print the script that adds tab completion to your shell (model ids
    /// and choices included): e.g. `source <(runcomfy completions bash)`.
    Completions(CompletionsArgs),
}

/// `models`: the catalogue commands.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: ModelsCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `balance`.
#[derive(Debug, Args)]
pub struct BalanceArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `schema`: the schema commands.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[command(subcommand)]
    pub command: SchemaCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `mcp`: the MCP server's transport, money caps and waits.
#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Serve streamable HTTP on this address (at /mcp) instead of stdio;
    /// loopback only unless --allow-remote.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// Allow --http on an address other than loopback (anyone who reaches
    /// it can spend your money).
    #[arg(long, requires = "http")]
    pub allow_remote: bool,
    /// Refuse any call whose estimated cost is over this (US dollars),
    /// before anything is sent.
    #[arg(long, value_name = "USD")]
    pub max_cost_per_call: Option<f64>,
    /// Refuse any call that would take this server's spending over this
    /// (US dollars, for the server's life), before anything is sent.
    #[arg(long, value_name = "USD")]
    pub budget: Option<f64>,
    /// Download each job's files into DIR/<request id>/ and name them in
    /// the tool's answer.
    #[arg(long, value_name = "DIR")]
    pub download_dir: Option<PathBuf>,
    /// Read the local files that calls name in media fields from DIR, and
    /// only from it: relative paths are taken from DIR, and a path leading
    /// out of it (by .. or a symbolic link) is refused. Without it, a
    /// local path is refused: give a URL or a data: URI.
    #[arg(long, value_name = "DIR")]
    pub media_dir: Option<PathBuf>,
    /// How long a model's tool waits for its job before answering with the
    /// request id and status (the job goes on).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "10m")]
    pub wait: Duration,
}

/// `completions SHELL`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// A shell `completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

impl Shell {
    /// Its name as `clap_complete`'s engine knows it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bash => "bash",
            Self::Zsh => "zsh",
            Self::Fish => "fish",
            Self::Powershell => "powershell",
            Self::Elvish => "elvish",
        }
    }
}

/// Every model id of this build, for completing a `MODEL_ID` argument.
fn model_ids() -> Vec<clap_complete::CompletionCandidate> {
    ModelDescriptor::all()
        .iter()
        .map(|model| {
            let name = model.info().display_name.unwrap_or_default();
            clap_complete::CompletionCandidate::new(model.id).help(Some(name.into()))
        })
        .collect()
}

/// How `generate` and `run` submit, wait and download.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// A JSON request body (a file, or - for stdin); flags override its
    /// fields.
    #[arg(long, value_name = "FILE", global = true)]
    pub input: Option<PathBuf>,
    /// Print the request id and exit once the job is accepted.
    #[arg(long, global = true)]
    pub no_wait: bool,
    /// Print the output URLs instead of downloading the files.
    #[arg(long, global = true)]
    pub no_download: bool,
    #[command(flatten)]
    pub destination: Destination,
    /// Refuse to submit if the estimated cost is above this (US dollars).
    #[arg(long, value_name = "USD", global = true)]
    pub max_cost: Option<f64>,
    /// Stop waiting after this long (e.g. 30m, 2h); the job goes on.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30m", global = true)]
    pub timeout: Duration,
}

/// Where downloaded files go.
#[derive(Debug, Args, Clone)]
pub struct Destination {
    /// Save the file to exactly this path (a second file goes beside it).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "PATH",
        conflicts_with = "output_dir",
        global = true
    )]
    pub output: Option<PathBuf>,
    /// Save the files into this folder, named after their URLs [default: .]
    #[arg(long, value_name = "DIR", global = true)]
    pub output_dir: Option<PathBuf>,
}

/// `run MODEL_ID [flags]`: the model is a subcommand added per model.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub submit: SubmitArgs,
}

/// A command about one job.
#[derive(Debug, Args)]
pub struct RequestArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The request id RunComfy returned.
    pub request_id: String,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The request id RunComfy returned.
    pub request_id: String,
    #[command(flatten)]
    pub destination: Destination,
    /// Fail instead of waiting when the job has not finished.
    #[arg(long)]
    pub no_wait: bool,
    /// Stop waiting after this long; the job goes on.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30m")]
    pub timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the catalogue, with prices.
    List {
        /// Only models matching this text.
        #[arg(long)]
        search: Option<String>,
        /// Only models of this category (e.g. video; see `models categories`).
        #[arg(long)]
        category: Option<String>,
        /// Only entries of this kind: model, workflow or inference.
        #[arg(long)]
        kind: Option<String>,
        /// Models fetched per request (1 to 500).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=500))]
        page_size: Option<u32>,
    },
    /// The catalogue's categories.
    Categories,
    /// One model's metadata and published input schema.
    Get {
        /// The model id, e.g. kling/kling-3.0/standard/text-to-video.
        #[arg(add = clap_complete::ArgValueCandidates::new(model_ids))]
        model_id: String,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BatchArgs {
    #[command(subcommand)]
    pub command: Option<BatchCommand>,
    #[command(flatten)]
    pub client: ClientArgs,
    /// One request body per line, or {"model": ID, "input": BODY}.
    #[arg(required = true, value_name = "FILE.jsonl")]
    pub file: Option<PathBuf>,
    /// Where the files and the batch's state (batch.sqlite) go.
    #[arg(long, required = true, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// How many lines run at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// The model of lines that are a bare request body.
    #[arg(add = clap_complete::ArgValueCandidates::new(model_ids), long, default_value = GENERATE_MODEL, value_name = "MODEL_ID")]
    pub model: String,
    /// Refuse to submit anything if the estimate of the lines still to
    /// submit is above this (US dollars).
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Submit again the lines that may have been accepted before (check
    /// RunComfy's dashboard first: each may be a paid job already).
    #[arg(long)]
    pub resubmit_unknown: bool,
    /// Stop waiting for a line's job after this long (it stays resumable).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30m")]
    pub timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Show a batch's state from its folder, without running anything.
    Status {
        /// The batch's --out-dir.
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Fetch a model's published schema and metadata into DIR/<model id>/.
    Pull {
        /// The model id.
        #[arg(add = clap_complete::ArgValueCandidates::new(model_ids))]
        model_id: String,
        /// The schema folder [default: the crate's schema/models/].
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Compare every checked-in model with RunComfy's; exit 85 on drift.
    Check {
        /// The schema folder [default: the crate's schema/models/].
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// API port (0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// File server port, the stand-in for RunComfy's CDN (0 picks a free
    /// one).
    #[arg(long, default_value_t = 0)]
    pub files_port: u16,
    /// Address to listen on. Loopback unless you ask otherwise.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// The bearer token clients must send.
    #[arg(long, env = "RUNCOMFY_EMULATOR_TOKEN", default_value = runcomfy::emulator::EmulatorConfig::DEFAULT_TOKEN, hide_env_values = true)]
    pub token: String,
    /// Jobs that run at once.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Seconds every job waits in the queue (emulated time).
    #[arg(long, default_value_t = 2.0)]
    pub queue_delay: f64,
    /// Seconds of work per second of requested video (emulated time).
    #[arg(long, default_value_t = 6.0, conflicts_with = "run_time")]
    pub run_time_per_video_second: f64,
    /// Seconds every job runs, whatever its duration (emulated time).
    #[arg(long)]
    pub run_time: Option<f64>,
    /// How many times faster than real time emulated time passes.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Seed for request ids and rate-based faults.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Answer API requests beyond this many per second with 429 and a
    /// Retry-After, like a rate-limited account (bursts of up to
    /// --rate-limit-burst pass at once).
    #[arg(long, value_name = "PER_SECOND")]
    pub rate_limit: Option<f64>,
    /// How many requests pass at once under --rate-limit.
    #[arg(long, default_value_t = 10, requires = "rate_limit")]
    pub rate_limit_burst: u32,
    /// Serve this published input schema for a model instead of the
    /// built-in one (MODEL_ID=FILE; repeatable), e.g. to try `schema check`.
    #[arg(long, value_name = "MODEL_ID=FILE")]
    pub serve_schema: Vec<String>,
    /// Answer as the live API was recorded answering (`recorded`), or as
    /// RunComfy's docs' examples do (`docs`: `succeeded` and `finished_at`
    /// in results, the status while a job runs).
    #[arg(long, default_value = "recorded", value_parser = ["recorded", "docs"])]
    pub flavour: String,
    /// Advertise result files under this base instead of the file
    /// server's own address, e.g. http://files.emulator.runcomfy.net:8788
    /// (map the name to 127.0.0.1 in /etc/hosts and pass the same
    /// --files-port): for clients that download only from RunComfy's
    /// hosts, such as RunComfy's own CLI.
    #[arg(long, value_name = "URL")]
    pub files_base_url: Option<String>,
    /// A wallet of this many US dollars: each accepted submit costs the
    /// model's listed price, a job cancelled while queued is refunded, and
    /// a submit it cannot pay gets 402 / 400002 (unlimited when unset).
    #[arg(long, value_name = "USD")]
    pub balance: Option<f64>,
    /// Stand in front of this API instead of simulating one: forward every
    /// call (with the caller's token) and check what passes for drift
    /// from the OpenAPI file and the models' schemas, e.g.
    /// https://model-api.runcomfy.net.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// With --upstream: write every exchange (and each result file, once)
    /// to DIR, in the conformance corpus's format; no token is written.
    #[arg(long, value_name = "DIR", requires = "upstream")]
    pub record: Option<PathBuf>,
    /// Answer from a session recorded in DIR, with no upstream (callers
    /// send this emulator's --token); --time-scale compresses its timing.
    #[arg(long, value_name = "DIR")]
    pub replay: Option<PathBuf>,
    /// With --replay and --upstream: replay what is recorded, forward (and
    /// with --record, record) what is not.
    #[arg(long, requires_all = ["replay", "upstream"])]
    pub spy: bool,
    /// With --upstream: refuse a submit that breaks its model's schema
    /// before forwarding it (a paid request saved).
    #[arg(long, requires = "upstream")]
    pub strict: bool,
    /// Do not log requests.
    #[arg(long)]
    pub quiet: bool,
}

/// The whole command line, with each model's schema flags added to `run`
/// (one subcommand per model) and Kling's to `generate`.
pub fn command() -> clap::Command {
    let generate = ModelDescriptor::find(GENERATE_MODEL)
        .expect("the crate is built with Kling 3.0 text-to-video");
    Cli::command()
        .mut_subcommand("generate", |c| {
            schema_args::add_args(c, generate, schema_args::Prompt::Positional)
        })
        .mut_subcommand("run", |run| {
            run.subcommands(ModelDescriptor::all().iter().map(|model| {
                let about = model.info().display_name.unwrap_or_default();
                schema_args::add_args(
                    clap::Command::new(model.id).about(about),
                    model,
                    schema_args::Prompt::Flag,
                )
            }))
        })
}
