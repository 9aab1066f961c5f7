//! The MCP server object: rmcp's `ServerHandler` over a [`DesktopManager`].
//!
//! Tools are listed and dispatched by hand rather than with rmcp's macros, so that schemas,
//! argument errors and result shapes are exactly what we choose (GhostDesk's), in one place.

use std::sync::Arc;

use agentdesk_desktop::{DesktopManager, ModelSpace};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListPromptsResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};

use tracing::Instrument as _;

use crate::instructions::INSTRUCTIONS;
use crate::resources;
use crate::tools::{self, Call};

/// The header GhostDesk clients send to speak a model's coordinate space (e.g. Qwen's 0–1000).
pub(crate) const MODEL_SPACE_HEADER: &str = "ghostdesk-model-space";
/// The same, as a query parameter of the MCP URL, for clients that cannot set headers.
pub(crate) const MODEL_SPACE_QUERY: &str = "model_space";

/// agentdesk's MCP service. Cheap to clone; one per HTTP request in stateless mode.
#[derive(Clone, Debug)]
pub struct AgentDesk {
    manager: Arc<DesktopManager>,
    /// The model space used when a request names none (from `--model-space`; stdio uses this).
    default_space: ModelSpace,
}

impl AgentDesk {
    /// A service over `manager`'s desktops.
    pub fn new(manager: Arc<DesktopManager>, default_space: ModelSpace) -> AgentDesk {
        AgentDesk {
            manager,
            default_space,
        }
    }

    /// The model space of one request: header, then query parameter, then the default.
    fn model_space(&self, context: &RequestContext<RoleServer>) -> ModelSpace {
        let Some(parts) = context.extensions.get::<http::request::Parts>() else {
            return self.default_space;
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
        self.default_space
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
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let Some(desktop) = self.manager.default_desktop() else {
            return Err(ErrorData::internal_error("no desktop is running", None));
        };
        Ok(resources::read(&request.uri, &desktop).await?.into())
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
        let call = Call {
            desktop,
            space: self.model_space(&context),
        };
        let args = request.arguments.unwrap_or_default();
        let started = std::time::Instant::now();
        let span = tracing::info_span!("tool", name = %name);
        let result = tools::call(&name, args, call).instrument(span).await;
        let Some(result) = result else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {name:?}; tools/list names the available tools"),
                None,
            ));
        };
        // Arguments and results are agent data: never logged (typed text, clipboard, images).
        let outcome = if result.is_error == Some(true) {
            "error"
        } else {
            "ok"
        };
        tracing::debug!(tool = %name, outcome, ms = started.elapsed().as_millis() as u64, "tool call");
        Ok(result.into())
    }
}

/// Serves MCP over stdin/stdout until stdin closes.
pub async fn serve_stdio(
    manager: Arc<DesktopManager>,
    default_space: ModelSpace,
) -> anyhow::Result<()> {
    let service = AgentDesk::new(manager, default_space)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("error starting the stdio MCP server: {e}"))?;
    service
        .waiting()
        .await
        .map_err(|e| anyhow::anyhow!("stdio MCP server failed: {e}"))?;
    Ok(())
}
