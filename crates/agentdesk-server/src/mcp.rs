//! The MCP server object: rmcp's `ServerHandler` over a [`DesktopManager`].
//!
//! Tools are listed and dispatched by hand rather than with rmcp's macros, so that schemas,
//! argument errors and result shapes are exactly what we choose (GhostDesk's), in one place.

use std::sync::Arc;
use std::time::Duration;

use agentdesk_desktop::{DesktopManager, ModelSpace};
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

    /// The caller's name for the audit log.
    fn principal(&self, context: &RequestContext<RoleServer>) -> Arc<str> {
        if self.transport == Transport::Stdio {
            return Arc::from("stdio");
        }
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<Principal>())
            .map_or_else(|| Arc::from(crate::auth::ANONYMOUS), |p| p.0.clone())
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
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::list()))
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
        let Some(desktop) = self.manager.default_desktop() else {
            return Err(ErrorData::internal_error("no desktop is running", None));
        };
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
        let principal = self.principal(&context);
        let mut arguments = serde_json::Map::new();
        arguments.insert("uri".into(), request.uri.clone().into());
        self.config.audit.call(
            &desktop,
            audit::Call {
                token: &principal,
                tool: RESOURCE_READ,
                arguments: audit::Recorded::of(&arguments),
                outcome,
                elapsed: started.elapsed(),
                error: result.as_ref().err().map(|e| e.message.as_ref()),
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
        let Some(desktop) = self.manager.default_desktop() else {
            return Ok(tools::error_text("no desktop is running".into()).into());
        };
        let principal = self.principal(&context);
        let handed_back = desktop.take_hand_back();
        let args = request.arguments.unwrap_or_default();
        let audit_args = audit::Recorded::of(&args);
        let call = Call {
            desktop: desktop.clone(),
            space: self.model_space(&context),
            timeout: self.config.call_timeout,
        };
        let started = std::time::Instant::now();
        let span = tracing::info_span!("tool", name = %name);
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
        self.config.audit.call(
            &desktop,
            audit::Call {
                token: &principal,
                tool: &name,
                arguments: audit_args,
                outcome,
                elapsed,
                error: error.as_deref(),
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
