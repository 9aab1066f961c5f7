//! The MCP server object: rmcp's `ServerHandler` over a [`DesktopManager`].
//!
//! Tools are listed and dispatched by hand rather than with rmcp's macros, so that schemas,
//! argument errors and result shapes are exactly what we choose (GhostDesk's), in one place.

use std::sync::Arc;
use std::time::Duration;

use agentdesk_desktop::{Desktop, DesktopId, DesktopManager, ModelSpace};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListPromptsResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use tracing::Instrument as _;

use crate::audit::{self, Audit, Outcome};
use crate::guard::Principal;
use crate::instructions::INSTRUCTIONS;
use crate::resources;
use crate::tools::computer::Profile;
use crate::tools::{self, Call};

/// The header GhostDesk clients send to speak a model's coordinate space (e.g. Qwen's 0–1000).
pub(crate) const MODEL_SPACE_HEADER: &str = "ghostdesk-model-space";
/// The same, as a query parameter of the MCP URL, for clients that cannot set headers.
pub(crate) const MODEL_SPACE_QUERY: &str = "model_space";

/// What every MCP request is served with, on any transport.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The model space used when a request names none (from `--model-space`; stdio uses this).
    pub default_space: ModelSpace,
    /// A tool call that takes longer is abandoned with a tool error.
    pub call_timeout: Duration,
    /// Where tool calls are recorded.
    pub audit: Arc<Audit>,
}

/// Which transport a service answers on (stdio callers have no token; they are the operator's
/// own process).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Streamable HTTP, behind the gate.
    Http,
    /// stdin/stdout.
    Stdio,
}

/// Where an MCP request came in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    /// `/mcp` (and stdio): the default desktop, any desktop by `desktop` argument, and the
    /// fleet tools.
    Main,
    /// `/desktops/{id}/mcp`: that desktop, GhostDesk's tools exactly.
    Desktop(String),
}

/// agentdesk's MCP service. Cheap to clone; one per HTTP request in stateless mode.
#[derive(Clone, Debug)]
pub struct AgentDesk {
    manager: Arc<DesktopManager>,
    config: ServiceConfig,
    transport: Transport,
}

impl AgentDesk {
    /// A service over `manager`'s desktops.
    pub fn new(
        manager: Arc<DesktopManager>,
        config: ServiceConfig,
        transport: Transport,
    ) -> AgentDesk {
        AgentDesk {
            manager,
            config,
            transport,
        }
    }

    /// The caller, for ownership and the audit log. Stdio's is the operator's own process.
    fn principal(&self, context: &RequestContext<RoleServer>) -> Principal {
        if self.transport == Transport::Stdio {
            return Principal {
                name: Arc::from("stdio"),
                admin: true,
            };
        }
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<Principal>())
            .cloned()
            // The gate puts one on every request; without it, nothing is visible.
            .unwrap_or_else(|| Principal {
                name: Arc::from(crate::auth::ANONYMOUS),
                admin: false,
            })
    }

    /// The endpoint a request came to: `/mcp` or a desktop's own.
    fn endpoint(&self, context: &RequestContext<RoleServer>) -> Endpoint {
        let path = context
            .extensions
            .get::<http::request::Parts>()
            .map(|p| p.uri.path())
            .unwrap_or("");
        match path
            .strip_prefix("/desktops/")
            .and_then(|rest| rest.strip_suffix("/mcp"))
        {
            Some(id) => Endpoint::Desktop(id.to_string()),
            None => Endpoint::Main,
        }
    }

    /// The desktop a call acts on: the endpoint's, or on `/mcp` the one named by the
    /// `desktop` argument (taken out of `args`), else the default desktop. Started if it was
    /// not (after a restart); an error an agent can act on if there is none.
    async fn target(
        &self,
        endpoint: &Endpoint,
        args: &mut serde_json::Map<String, serde_json::Value>,
        caller: &agentdesk_desktop::Caller,
    ) -> Result<Desktop, String> {
        let named = match endpoint {
            Endpoint::Desktop(id) => Some(id.clone()),
            Endpoint::Main => match args.remove(tools::DESKTOP_ARG) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(id)) => Some(id),
                Some(other) => {
                    return Err(format!(
                        "desktop must be a desktop id (a string; desktop_list shows them), got \
                         {}",
                        audit::cut(&other.to_string())
                    ))
                }
            },
        };
        let id = match named {
            Some(id) => DesktopId::parse(&id).map_err(|e| e.to_string())?,
            None => self.manager.default_id().cloned().ok_or_else(|| {
                "this server has no default desktop (--no-default-desktop): pass desktop with \
                 the id of one (desktop_list shows them, desktop_create makes one), or use its \
                 own endpoint /desktops/{id}/mcp"
                    .to_string()
            })?,
        };
        let desktop = self
            .manager
            .desktop(&id, caller)
            .await
            .map_err(|e| crate::fleet::agent_message(&e))?;
        self.manager
            .check_lease(&id, caller)
            .map_err(|e| crate::fleet::agent_message(&e))?;
        Ok(desktop)
    }

    /// The tool profile of one request (`?tools=`).
    fn profile(&self, context: &RequestContext<RoleServer>) -> Result<Profile, String> {
        let query = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|p| p.uri.query())
            .unwrap_or("");
        tools::computer::profile_of_query(query)
    }

    /// The model space of one request: header, then query parameter, then the default.
    fn model_space(&self, context: &RequestContext<RoleServer>) -> ModelSpace {
        let Some(parts) = context.extensions.get::<http::request::Parts>() else {
            return self.config.default_space;
        };
        if let Some(value) = parts
            .headers
            .get(MODEL_SPACE_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            return ModelSpace::parse(value);
        }
        let query = parts.uri.query().unwrap_or("");
        for pair in query.split('&') {
            if let Some(value) = pair
                .strip_prefix(MODEL_SPACE_QUERY)
                .and_then(|r| r.strip_prefix('='))
            {
                return ModelSpace::parse(value);
            }
        }
        self.config.default_space
    }
}

impl ServerHandler for AgentDesk {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(
            Implementation::new("agentdesk", env!("CARGO_PKG_VERSION"))
                .with_title("agentdesk")
                .with_description("A real Linux desktop for AI agents"),
        )
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let profile = self
            .profile(&context)
            .map_err(|m| ErrorData::invalid_params(m, None))?;
        Ok(ListToolsResult::with_all_items(
            match (self.endpoint(&context), profile) {
                (_, Some(dialect)) => tools::computer::list(dialect),
                (Endpoint::Main, None) => tools::list_main(),
                (Endpoint::Desktop(_), None) => tools::list(),
            },
        ))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        // We declare no prompts capability; say so instead of answering with an empty list.
        Err(ErrorData::method_not_found::<
            rmcp::model::ListPromptsRequestMethod,
        >())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(resources::list()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let principal = self.principal(&context);
        let desktop = self
            .target(
                &self.endpoint(&context),
                &mut serde_json::Map::new(),
                &principal.caller(),
            )
            .await
            .map_err(|message| ErrorData::internal_error(message, None))?;
        // A resource read is a call like any tool's (ghostdesk://clipboard reads the
        // clipboard): bounded in time and audited.
        let started = std::time::Instant::now();
        let limit = self.config.call_timeout;
        let read = tokio::time::timeout(limit, resources::read(&request.uri, &desktop)).await;
        let (outcome, result) = match read {
            Ok(Ok(result)) => (Outcome::Ok, Ok(result.into())),
            // An unknown resource: nothing was read, so it is counted as a refusal.
            Ok(Err(e)) if e.code == rmcp::model::ErrorCode::INVALID_PARAMS => {
                (Outcome::Rejected, Err(e))
            }
            Ok(Err(e)) => (Outcome::Error, Err(e)),
            Err(_) => (
                Outcome::Timeout,
                Err(ErrorData::internal_error(
                    format!(
                        "reading {} did not finish within {} s (--call-timeout)",
                        audit::cut(&request.uri),
                        limit.as_secs_f64()
                    ),
                    None,
                )),
            ),
        };
        let mut arguments = serde_json::Map::new();
        arguments.insert("uri".into(), request.uri.clone().into());
        self.config.audit.call(
            &desktop,
            audit::Call {
                token: &principal.name,
                tool: RESOURCE_READ,
                arguments: audit::Recorded::of(&arguments),
                outcome,
                elapsed: started.elapsed(),
                error: result.as_ref().err().map(|e| e.message.as_ref()),
                screen: None,
            },
        );
        result
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let principal = self.principal(&context);
        let caller = principal.caller();
        let endpoint = self.endpoint(&context);
        let mut args = request.arguments.unwrap_or_default();
        let profile = match self.profile(&context) {
            Ok(profile) => profile,
            Err(message) => return Err(ErrorData::invalid_params(message, None)),
        };
        if endpoint == Endpoint::Main && profile.is_none() && tools::fleet::is_fleet_tool(&name) {
            return Ok(self
                .fleet_call(&name, args, &principal, &context)
                .await
                .into());
        }
        if endpoint == Endpoint::Main && profile.is_none() && tools::files::is_file_tool(&name) {
            return Ok(self.files_call(&name, args, &principal).await.into());
        }
        let audit_args = audit::Recorded::of(&args);
        let started = std::time::Instant::now();
        let desktop = match tokio::time::timeout(
            self.config.call_timeout,
            self.target(&endpoint, &mut args, &caller),
        )
        .await
        {
            Ok(Ok(desktop)) => desktop,
            Ok(Err(message)) => {
                self.config.audit.refuse(
                    &audit::Place::server(&self.manager),
                    &principal.name,
                    &name,
                    Outcome::Rejected,
                    &message,
                );
                return Ok(tools::error_text(message).into());
            }
            Err(_) => {
                return Ok(tools::error_text(format!(
                    "the desktop did not start within {} s (--call-timeout); try again",
                    self.config.call_timeout.as_secs()
                ))
                .into())
            }
        };
        let handed_back = desktop.take_hand_back();
        let call = Call {
            desktop: desktop.clone(),
            space: self.model_space(&context),
            timeout: self.config.call_timeout,
            profile,
        };
        let span = tracing::info_span!("tool", name = %name, desktop = %desktop.id());
        let limit = self.config.call_timeout;
        let result = tokio::time::timeout(limit, tools::call(&name, args, call))
            .instrument(span)
            .await;
        let (outcome, result) = match result {
            Ok(Some((result, outcome))) => (outcome, Some(result)),
            Ok(None) => (Outcome::UnknownTool, None),
            Err(_) => (
                Outcome::Timeout,
                Some(tools::error_text(format!(
                    "{name} did not finish within {} s (the per-call limit, --call-timeout) and \
                     was abandoned; the desktop may be busy: take a screenshot before going on",
                    limit.as_secs_f64()
                ))),
            ),
        };
        let result = result.map(|mut result| {
            // Taken after the call, and only when there is a result to carry it:
            // help_status and help_request show (and clear) an answer themselves.
            let answered = desktop.take_help_answer();
            if handed_back {
                result
                    .content
                    .push(rmcp::model::ContentBlock::text(HANDED_BACK.to_string()));
            }
            if let Some(request) = answered {
                let reply = request.answer.map(|a| a.reply).unwrap_or_default();
                result.content.push(rmcp::model::ContentBlock::text(format!(
                    "Note: a human answered your help request {}{}. Take a screenshot before \
                     acting: the screen may have changed.",
                    request.id,
                    if reply.is_empty() {
                        String::new()
                    } else {
                        format!(": {reply:?}")
                    }
                )));
            }
            result
        });
        let elapsed = started.elapsed();
        let error = result
            .as_ref()
            .filter(|r| r.is_error == Some(true))
            .map(error_message);
        let screen = match outcome {
            Outcome::Ok | Outcome::Error | Outcome::Timeout
                if self.config.audit.records_screens() =>
            {
                evidence_screen(&self.config.audit, &desktop, &name).await
            }
            _ => None,
        };
        self.config.audit.call(
            &desktop,
            audit::Call {
                token: &principal.name,
                tool: &name,
                arguments: audit_args,
                outcome,
                elapsed,
                error: error.as_deref(),
                screen: screen.as_deref(),
            },
        );
        // Arguments and results are agent data: never logged (typed text, clipboard, images).
        tracing::debug!(tool = %name, ?outcome, ms = elapsed.as_millis() as u64, "tool call");
        match result {
            Some(result) => Ok(result.into()),
            None => Err(ErrorData::invalid_params(
                format!(
                    "unknown tool {:?}; tools/list names the available tools",
                    audit::cut(&name)
                ),
                None,
            )),
        }
    }
}

impl AgentDesk {
    /// A fleet tool call: parsed, run for the caller, audited in the server's log. Long ones
    /// (snapshots, a create from one) report progress when the client sent a progress token,
    /// and stop (cleaning up) at the per-call limit or when the client cancels.
    async fn fleet_call(
        &self,
        name: &str,
        args: serde_json::Map<String, serde_json::Value>,
        principal: &Principal,
        context: &RequestContext<RoleServer>,
    ) -> rmcp::model::CallToolResult {
        let started = std::time::Instant::now();
        let audit_args = audit::Recorded::of(&args);
        let op = tools::fleet::op(name, args);
        let target = op
            .as_ref()
            .ok()
            .and_then(|op| op.target().map(str::to_owned));
        let limit = self.config.call_timeout;
        let result = match op {
            Err(e) => Err(e),
            Ok(op) => {
                let (job, reporter) = progress(context);
                let result = crate::fleet::run_to_an_end(
                    self.manager.clone(),
                    self.config.audit.clone(),
                    op,
                    principal.caller(),
                    job,
                    limit,
                    context.ct.cancelled(),
                )
                .await;
                if let Some(reporter) = reporter {
                    reporter.abort();
                }
                result.map_err(|stopped| stopped.into_error(name, "--call-timeout"))
            }
        };
        let result = result.map(tools::fleet::result);
        self.audited(
            name,
            target.as_deref(),
            audit_args,
            principal,
            started,
            result,
        )
    }

    /// A file tool call: run for the caller, audited in the server's log, bounded by the
    /// per-call limit.
    async fn files_call(
        &self,
        name: &str,
        args: serde_json::Map<String, serde_json::Value>,
        principal: &Principal,
    ) -> rmcp::model::CallToolResult {
        let started = std::time::Instant::now();
        // A file's contents are never recorded, only their length.
        let audit_args = audit::Recorded::without_contents(&args);
        let target = args
            .get(tools::DESKTOP_ARG)
            .and_then(|d| d.as_str())
            .map(str::to_owned);
        let limit = self.config.call_timeout;
        let caller = principal.caller();
        let run = tools::files::call(&self.manager, &caller, name, args);
        let result = match tokio::time::timeout(limit, run).await {
            Ok(result) => result,
            Err(_) => Err(agentdesk_desktop::FleetError::BadRequest(format!(
                "{name} did not finish within {} s (--call-timeout); for large files use the \
                 REST API (/api/desktops/{{id}}/files/{{path}})",
                limit.as_secs()
            ))),
        };
        self.audited(
            name,
            target.as_deref(),
            audit_args,
            principal,
            started,
            result,
        )
    }

    /// A fleet or file tool's result, after writing its audit line.
    fn audited(
        &self,
        name: &str,
        target: Option<&str>,
        arguments: audit::Recorded,
        principal: &Principal,
        started: std::time::Instant,
        result: Result<rmcp::model::CallToolResult, agentdesk_desktop::FleetError>,
    ) -> rmcp::model::CallToolResult {
        let outcome = crate::fleet::outcome(&result);
        let result = match result {
            Ok(result) => result,
            Err(e) => tools::error_text(crate::fleet::agent_message(&e)),
        };
        let error = (result.is_error == Some(true)).then(|| error_message(&result));
        crate::fleet::Audited {
            manager: &self.manager,
            token: &principal.name,
            tool: name,
            target,
            arguments,
            started,
        }
        .record(&self.config.audit, outcome, error.as_deref());
        result
    }
}

/// The screen after a call, saved in the evidence directory (`--record-screens`): as it is
/// (no waiting for it to settle), in PNG, at full size; its name there.
async fn evidence_screen(audit: &Audit, desktop: &Desktop, tool: &str) -> Option<String> {
    let shot = desktop
        .screenshot(None, agentdesk_desktop::Format::Png, false)
        .await
        .ok()?;
    audit.save_screen(desktop.id().as_str(), tool, &shot.bytes)
}

/// A progress reporter for a call: `notifications/progress` to the client, at most five a
/// second, when it sent a progress token; else one that ignores progress. The task it
/// returns is aborted when the call ends, so nothing is sent after the result.
fn progress(
    context: &RequestContext<RoleServer>,
) -> (agentdesk_desktop::Job, Option<tokio::task::JoinHandle<()>>) {
    let Some(token) = context.meta.get_progress_token() else {
        return (agentdesk_desktop::Job::quiet(), None);
    };
    let (tx, mut rx) = tokio::sync::watch::channel(None::<agentdesk_desktop::Progress>);
    let peer = context.peer.clone();
    let task = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let Some(p) = *rx.borrow_and_update() else {
                continue;
            };
            let note = rmcp::model::ProgressNotificationParam::new(token.clone(), p.done as f64)
                .with_total(p.total as f64)
                .with_message(format!(
                    "{} of {} MB",
                    p.done / 1_000_000,
                    p.total.div_ceil(1_000_000)
                ));
            if peer.notify_progress(note).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    let job = agentdesk_desktop::Job::new(move |p| {
        let _ = tx.send(Some(p));
    });
    (job, Some(task))
}

/// Appended to the agent's first tool result after a human handed control back.
const HANDED_BACK: &str = "Note: a human had control of this desktop and has handed it back; \
the screen may have changed since your last screenshot. Take a screenshot before acting.";

/// The name resource reads are audited (and rate-limited) under.
pub(crate) const RESOURCE_READ: &str = "resources/read";

/// The text of a tool error, for the audit log.
fn error_message(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect::<Vec<_>>()
        .join(" ")
}
