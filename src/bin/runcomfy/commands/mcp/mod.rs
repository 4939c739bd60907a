//! `runcomfy mcp`: RunComfy's models as tools for AI agents, over the
//! Model Context Protocol (stdio, or streamable HTTP with `--http`), on
//! `rmcp`, the official Rust MCP SDK.
//!
//! Every model of this build is a tool (its input schema as plain JSON
//! Schema), beside `job_status`, `job_result`, `cancel_job`,
//! `list_models`, `estimate_cost` and `balance`. A model's tool validates
//! the input (a tool error naming each field and rule, nothing sent),
//! checks the estimate against `--max-cost-per-call` and `--budget` (see
//! [`budget`]), submits once (a submit whose answer was lost is a tool
//! error saying so, never re-sent), waits within `--wait` with progress
//! notifications where the client asks, and always answers with the
//! request id.

mod budget;
mod model_call;
mod tools;

use crate::cli::{Global, McpArgs};
use crate::context::Context;
use crate::exit::{Failure, Kind};
use budget::Budget;
use futures::StreamExt;
use model_call::failure;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use runcomfy::{Client, DynamicModel, Error, ModelDescriptor, ModelQuery};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What every call shares.
pub struct Shared {
    client: Client,
    budget: Budget,
    download_dir: Option<PathBuf>,
    /// The one folder local media files are read from (`--media-dir`).
    media_dir: Option<PathBuf>,
    wait: Duration,
    tools: Vec<Tool>,
}

/// The MCP server (cheap to clone: one per HTTP session).
#[derive(Clone)]
pub struct Server(Arc<Shared>);

impl std::ops::Deref for Server {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// `runcomfy mcp`.
pub async fn run(global: &Global, args: &McpArgs) -> Result<(), Failure> {
    // stdout is the protocol's (stdio): everything else goes to stderr.
    let media_dir = args.media_dir.as_deref().map(media_folder).transpose()?;
    let ctx = Context::new(global, &args.client).await?;
    let server = Server(Arc::new(Shared {
        client: ctx.client.clone(),
        budget: Budget::new(args.max_cost_per_call, args.budget),
        download_dir: args.download_dir.clone(),
        media_dir,
        wait: args.wait,
        tools: tools::all(),
    }));
    match args.http {
        None => serve_stdio(server).await,
        Some(addr) => serve_http(server, addr, args.allow_remote).await,
    }
    // `ctx` (and an in-process emulator with it) lives until here.
    .map(|()| drop(ctx))
}

/// `--media-dir`, checked to be a folder before the server starts.
fn media_folder(dir: &std::path::Path) -> Result<PathBuf, Failure> {
    match dir.canonicalize() {
        Ok(folder) if folder.is_dir() => Ok(folder),
        Ok(_) => Err(Failure::new(
            Kind::Usage,
            format!("--media-dir {}: not a folder", dir.display()),
        )),
        Err(e) => Err(Failure::new(
            Kind::Usage,
            format!("--media-dir {}: {e}", dir.display()),
        )),
    }
}

async fn serve_stdio(server: Server) -> Result<(), Failure> {
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| Failure::new(Kind::Mcp, format!("cannot start MCP over stdio: {e}")))?;
    running
        .waiting()
        .await
        .map(|_| ())
        .map_err(|e| Failure::new(Kind::Mcp, format!("MCP over stdio stopped: {e}")))
}

async fn serve_http(
    server: Server,
    addr: std::net::SocketAddr,
    allow_remote: bool,
) -> Result<(), Failure> {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(Failure::usage(format!(
            "--http {addr} is not a loopback address: anyone who reaches it can spend your money; add --allow-remote if you mean it"
        )));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::new(Kind::Mcp, format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::new(Kind::Mcp, e.to_string()))?;
    let mut config = StreamableHttpServerConfig::default();
    if allow_remote {
        config.allowed_hosts.push(bound.ip().to_string());
        config.allowed_hosts.push(bound.to_string());
    }
    let stop = config.cancellation_token.clone();
    let service: StreamableHttpService<Server, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(server.clone()), Default::default(), config);
    let router = axum::Router::new().nest_service("/mcp", service);
    eprintln!("runcomfy mcp listening on http://{bound}/mcp");
    let mut interrupts = crate::context::Interrupts::new();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            interrupts.recv().await;
            stop.cancel();
        })
        .await
        .map_err(|e| Failure::new(Kind::Mcp, format!("the MCP server stopped: {e}")))
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("runcomfy", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "RunComfy's models as tools. A model's tool is a paid job: it validates the input, \
                 checks the cost against this server's caps, submits once and waits; it always \
                 answers with a request_id. If a wait runs out, resume with job_result; never run \
                 the same job twice. estimate_cost, list_models, job_status and balance are free.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let result = match request.name.as_ref() {
            tools::JOB_STATUS => self.job_status(&arguments).await,
            tools::JOB_RESULT => self.job_result(&arguments).await,
            tools::CANCEL_JOB => self.cancel_job(&arguments).await,
            tools::LIST_MODELS => self.list_models(&arguments).await,
            tools::ESTIMATE_COST => self.estimate_cost(&arguments),
            tools::BALANCE => self.balance().await,
            name => match tools::model_for(name) {
                Some(model) => model_call::run(self, model, arguments, &context).await,
                None => {
                    return Err(ErrorData::invalid_params(format!("no tool {name:?}"), None));
                }
            },
        };
        Ok(result.into())
    }
}

impl Server {
    fn job(&self, arguments: &Value) -> Result<runcomfy::Job<DynamicModel>, runcomfy::HandleError> {
        let id = arguments["request_id"].as_str().unwrap_or_default();
        self.client.job::<DynamicModel>(id)
    }

    async fn job_status(&self, arguments: &Value) -> CallToolResult {
        let job = match self.job(arguments) {
            Ok(job) => job,
            Err(refused) => return invalid_request_id(&refused),
        };
        match job.status().await {
            Ok(status) => {
                let position = match &status {
                    runcomfy::Status::InQueue { position } => *position,
                    _ => None,
                };
                answer(
                    format!("{}: {status}", job.request_id()),
                    json!({
                        "request_id": job.request_id(),
                        "status": status.as_wire(),
                        "queue_position": position,
                        "finished": status.is_terminal(),
                    }),
                )
            }
            Err(error) => error_result(&error),
        }
    }

    async fn job_result(&self, arguments: &Value) -> CallToolResult {
        let job = match self.job(arguments) {
            Ok(job) => job,
            Err(refused) => return invalid_request_id(&refused),
        };
        match job.result().await {
            Ok(result) => completed(&result, json!({})),
            Err(Error::NotFinished { request_id, status }) => answer(
                format!("{request_id} is {status}: not finished yet"),
                json!({"request_id": request_id, "status": status.as_wire(), "finished": false}),
            ),
            Err(error) => error_result(&error),
        }
    }

    async fn cancel_job(&self, arguments: &Value) -> CallToolResult {
        let job = match self.job(arguments) {
            Ok(job) => job,
            Err(refused) => return invalid_request_id(&refused),
        };
        match job.cancel().await {
            Ok(outcome) => answer(
                format!("{}: {outcome}", job.request_id()),
                json!({"request_id": job.request_id(), "outcome": outcome}),
            ),
            Err(error) => error_result(&error),
        }
    }

    async fn list_models(&self, arguments: &Value) -> CallToolResult {
        let mut query = ModelQuery::new();
        if let Some(search) = arguments["search"].as_str() {
            query = query.search(search);
        }
        if let Some(category) = arguments["category"].as_str() {
            query = query.category(category);
        }
        if let Some(kind) = arguments["kind"].as_str() {
            query = query.kind(kind);
        }
        // At most 500 models in one answer: an agent reads it whole.
        let models: Vec<_> = self.client.models(query).take(500).collect().await;
        match models.into_iter().collect::<Result<Vec<_>, _>>() {
            Ok(models) => {
                let listed: Vec<Value> = models
                    .iter()
                    .map(|m| {
                        json!({
                            "model_id": m.model_id,
                            "tool": ModelDescriptor::find(&m.model_id).map(|d| tools::tool_name(d.id)),
                            "display_name": m.display_name,
                            "categories": m.categories,
                            "base_price_usd": m.base_price_usd,
                            "price_unit": m.price_unit,
                        })
                    })
                    .collect();
                answer(
                    format!("{} model(s)", listed.len()),
                    json!({"models": listed}),
                )
            }
            Err(error) => error_result(&error),
        }
    }

    fn estimate_cost(&self, arguments: &Value) -> CallToolResult {
        let model_id = arguments["model_id"].as_str().unwrap_or_default();
        let Some(model) = ModelDescriptor::find(model_id) else {
            return failure(
                "unknown_model",
                format!("no model {model_id:?} in this server"),
                None,
                json!({}),
            );
        };
        let input = &arguments["input"];
        if let Err(error) = model.validate_input(input) {
            return failure("invalid_input", error.to_string(), None, json!({}));
        }
        match model.estimate_cost(input) {
            Some(estimate) => answer(
                format!("{model_id}: about {estimate}"),
                json!({"model_id": model_id, "estimate_usd": estimate.usd, "committed_usd": self.budget.committed(), "budget_usd": self.budget.budget()}),
            ),
            None => failure(
                "no_price",
                format!("{model_id} lists no price"),
                None,
                json!({}),
            ),
        }
    }

    async fn balance(&self) -> CallToolResult {
        let committed = self.budget.committed();
        match self.client.balance().await {
            Ok(balance) => answer(
                format!("balance: {balance}; committed by this server: ${committed:.4}"),
                json!({
                    "balance_usd": balance.balance_usd,
                    "currency": balance.currency,
                    "committed_usd": committed,
                    "budget_usd": self.budget.budget(),
                }),
            ),
            Err(error) => error_result(&error),
        }
    }
}

/// A request id that cannot name a job: a tool error, nothing sent.
fn invalid_request_id(error: &runcomfy::HandleError) -> CallToolResult {
    failure("invalid_request_id", error.to_string(), None, json!({}))
}

/// A completed job's answer: its output URLs, cost and output, with
/// `extra` fields (what one call of a model's tool adds).
pub fn completed(result: &runcomfy::JobResult<Value>, extra: Value) -> CallToolResult {
    let urls = result.urls();
    let mut text = format!("{} completed: {}", result.request_id, urls.join(" "));
    if let Some(cost) = result.cost {
        text.push_str(&format!(" (cost ${cost:.4})"));
    }
    let mut structure = json!({
        "request_id": result.request_id,
        "status": "completed",
        "outputs": urls,
        "cost_usd": result.cost,
        "output": result.output,
        "finished_at": result.finished_at,
    });
    if let (Value::Object(structure), Value::Object(extra)) = (&mut structure, extra) {
        structure.extend(extra);
    }
    answer(text, structure)
}

/// A tool's answer: a line for people, the structure for programs.
pub fn answer(text: String, structure: Value) -> CallToolResult {
    let mut result = CallToolResult::structured(structure);
    result.content = vec![ContentBlock::text(text)];
    result
}

/// An error as a tool error, with the request id where there is one.
pub fn error_result(error: &Error) -> CallToolResult {
    let kind = crate::exit::classify(error);
    let code = kind.code();
    failure(
        kind.as_str(),
        error.to_string(),
        error.request_id(),
        json!({"exit_code": code}),
    )
}
