//! The HTTP surface in-process (axum's `oneshot`, no listener): the gate, the REST API's
//! ownership rules, the per-desktop routes and the login page, against a desktop manager whose
//! desktops are records in its store that no test starts (so no X server is needed: what is
//! checked here is who may see and do what, before any desktop would run).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentdesk_desktop::{
    AppPolicy, DesktopConfig, DesktopId, DesktopManager, FleetConfig, ModelSpace, Size, XServerKind,
};
use agentdesk_server::{Audit, HttpConfig, Peer, ServiceConfig, Tokens, WebConfig};
use agentdesk_store::{DesktopRecord, Store};
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

const ALICE: &str = "alice-token-0123456789abcdef";
const BOB: &str = "bob-token-0123456789abcdef00";
const OPS: &str = "ops-token-0123456789abcdef000";

mod snapshots;

struct Fixture {
    dir: tempfile::TempDir,
    router: axum::Router,
    manager: Arc<DesktopManager>,
}

fn record(id: &str, owner: Option<&str>) -> DesktopRecord {
    DesktopRecord {
        id: id.into(),
        owner: owner.map(str::to_owned),
        width: 1024,
        height: 768,
        network: true,
        apps: vec![],
        created: 1_700_000_000,
        last_used: 1_700_000_000,
        lease: None,
    }
}

/// A router over a manager holding alice's, bob's and a shared desktop (none started), with
/// tokens for alice, bob and an admin (or no tokens at all: the open posture).
async fn fixture(with_tokens: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    {
        let store = Store::open(&data.join("fleet.redb")).unwrap();
        store
            .put_all(&[
                record("alices", Some("alice")),
                record("bobs", Some("bob")),
                record("shared", None),
            ])
            .unwrap();
    }
    let template = DesktopConfig {
        id: DesktopId::default_id(),
        x_server: XServerKind::Xvfb,
        size: Size {
            width: 1024,
            height: 768,
        },
        glx: false,
        data_dir: data.clone(),
        runtime_dir: dir.path().join("run"),
        window_manager: false,
        session_bus: false,
        background: 0,
        command_timeout: Duration::from_secs(5),
        app_policy: AppPolicy::default(),
        control_idle: Duration::from_secs(300),
        sandbox: None,
        network: true,
    };
    let manager = DesktopManager::start(FleetConfig {
        template,
        data_dir: data.clone(),
        runtime_dir: dir.path().join("run"),
        default_desktop: false,
        max_desktops: 10,
        idle_pause: None,
        lease_seconds: 600,
        max_per_token: None,
        snapshot_keep: 3,
        max_snapshots_per_token: Some(5),
    })
    .await
    .unwrap();
    let tokens = if with_tokens {
        let file = dir.path().join("tokens");
        std::fs::write(
            &file,
            format!("alice: {ALICE}\nbob: {BOB}\nops: {OPS} admin\n"),
        )
        .unwrap();
        Tokens::configure(None, Some(file)).unwrap()
    } else {
        Tokens::None
    };
    let config = HttpConfig {
        listen: "127.0.0.1:3000".parse().unwrap(),
        allowed_origins: vec![],
        allowed_hosts: vec![],
        tls: None,
        insecure_http: false,
        tokens,
        rate_limit: None,
        max_body_bytes: agentdesk_server::DEFAULT_MAX_BODY_BYTES,
        service: ServiceConfig {
            default_space: ModelSpace(None),
            call_timeout: Duration::from_secs(10),
            audit: Arc::new(Audit::new(agentdesk_server::DEFAULT_AUDIT_MAX_BYTES)),
        },
        web: WebConfig::default(),
        agent: Default::default(),
    };
    let router = agentdesk_server::router(
        manager.clone(),
        config,
        "127.0.0.1:3000".parse().unwrap(),
        CancellationToken::new(),
    );
    Fixture {
        dir,
        router,
        manager,
    }
}

struct Answer {
    status: StatusCode,
    body: Value,
    text: String,
}

impl Fixture {
    /// A desktop's home, made (its desktop never starts here: the test fills it).
    fn home(&self, id: &str) -> std::path::PathBuf {
        let home = self.dir.path().join("data/desktops").join(id).join("home");
        std::fs::create_dir_all(&home).unwrap();
        home
    }

    /// A request with a raw body and headers; the status and the body's bytes.
    async fn raw(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Vec<u8>) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1:3000")
            .header("authorization", format!("Bearer {token}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(Body::from(body)).unwrap();
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(Peer(peer)));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, bytes.to_vec())
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.request(method, path, token, body, &[]).await
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1:3000");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&body).unwrap())
            }
            None => Body::empty(),
        };
        let mut request = request.body(body).unwrap();
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(Peer(peer)));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text,
        }
    }

    /// A tools/call on an MCP endpoint; the result object.
    async fn tool(&self, path: &str, token: Option<&str>, name: &str, arguments: Value) -> Answer {
        let message = json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}
        });
        self.request(
            "POST",
            path,
            token,
            Some(message),
            &[
                ("accept", "application/json, text/event-stream"),
                ("mcp-protocol-version", "2025-06-18"),
            ],
        )
        .await
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["desktops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

fn result_text(answer: &Answer) -> String {
    answer.body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn each_token_sees_its_own_desktops_and_the_shared_ones_an_admin_all() {
    let f = fixture(true).await;
    let alice = f.send("GET", "/api/desktops", Some(ALICE), None).await;
    assert_eq!(alice.status, StatusCode::OK, "{}", alice.text);
    assert_eq!(ids(&alice.body), ["alices", "shared"]);
    assert_eq!(
        ids(&f.send("GET", "/api/desktops", Some(BOB), None).await.body),
        ["bobs", "shared"]
    );
    assert_eq!(
        ids(&f.send("GET", "/api/desktops", Some(OPS), None).await.body),
        ["alices", "bobs", "shared"]
    );
    let one = f
        .send("GET", "/api/desktops/alices", Some(ALICE), None)
        .await;
    assert_eq!(one.body["owner"], "alice");
    assert_eq!(
        one.body["state"], "stopped",
        "records from the store start on first use"
    );
    assert_eq!(one.body["mcp_path"], "/desktops/alices/mcp");
}

#[tokio::test]
async fn another_tokens_desktop_is_not_found_on_every_surface_exactly_like_a_missing_one() {
    let f = fixture(true).await;
    for id in ["bobs", "nosuchdesk"] {
        let rest = f
            .send("GET", &format!("/api/desktops/{id}"), Some(ALICE), None)
            .await;
        assert_eq!(rest.status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(rest.body["error"], format!("no desktop named {id:?}"));
        for action in ["pause", "resume", "release", "heartbeat"] {
            let post = f
                .send(
                    "POST",
                    &format!("/api/desktops/{id}/{action}"),
                    Some(ALICE),
                    None,
                )
                .await;
            assert_eq!(post.status, StatusCode::NOT_FOUND, "{id} {action}");
        }
        let delete = f
            .send("DELETE", &format!("/api/desktops/{id}"), Some(ALICE), None)
            .await;
        assert_eq!(delete.status, StatusCode::NOT_FOUND);
        let acquire = f
            .send(
                "POST",
                "/api/desktops/acquire",
                Some(ALICE),
                Some(json!({"id": id})),
            )
            .await;
        assert_eq!(acquire.status, StatusCode::NOT_FOUND, "{}", acquire.text);
        // The per-desktop routes: refused by the gate with one answer for both.
        let mut answers = Vec::new();
        for tail in ["mcp", "view", "rfb", "control", "help"] {
            let method = if tail == "mcp" || tail == "help" {
                "POST"
            } else {
                "GET"
            };
            let a = f
                .send(
                    method,
                    &format!("/desktops/{id}/{tail}"),
                    Some(ALICE),
                    Some(json!({})),
                )
                .await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{id}/{tail}: {}", a.text);
            answers.push(a.text);
        }
        assert!(answers.iter().all(|a| a == &answers[0]));
        // And the tools on /mcp.
        for (tool, args) in [
            ("desktop_status", json!({"id": id})),
            ("desktop_pause", json!({"id": id})),
            ("desktop_destroy", json!({"id": id})),
            ("screen_shot", json!({"desktop": id})),
        ] {
            let call = f.tool("/mcp", Some(ALICE), tool, args).await;
            assert_eq!(call.status, StatusCode::OK);
            assert_eq!(
                call.body["result"]["isError"], true,
                "{tool}: {}",
                call.text
            );
            assert!(
                result_text(&call).contains(&format!("no desktop named {id:?}")),
                "{tool}: {}",
                call.text
            );
        }
    }
    // Still there for its owner.
    assert_eq!(
        f.send("GET", "/api/desktops/bobs", Some(BOB), None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn only_owners_and_admins_destroy_and_a_destroyed_desktop_is_gone_from_the_store() {
    let f = fixture(true).await;
    let shared = f
        .send("DELETE", "/api/desktops/shared", Some(ALICE), None)
        .await;
    assert_eq!(shared.status, StatusCode::FORBIDDEN);
    assert!(shared.body["error"].as_str().unwrap().contains("admin"));
    let own = f
        .send("DELETE", "/api/desktops/alices", Some(ALICE), None)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert_eq!(own.body["destroyed"], "alices");
    assert_eq!(
        f.send("GET", "/api/desktops/alices", Some(OPS), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let admin = f
        .send("DELETE", "/api/desktops/shared", Some(OPS), None)
        .await;
    assert_eq!(admin.status, StatusCode::OK);
    // The store agrees: a restarted server would not bring them back.
    let data = f.manager.data_dir().to_path_buf();
    let Fixture {
        dir,
        router,
        manager,
    } = f;
    drop((router, manager));
    assert_eq!(remaining(&data).await, ["bobs"]);
    drop(dir);
}

async fn remaining(data: &Path) -> Vec<String> {
    // The manager's store is closed once the manager is gone; the sweeper holds only a weak
    // reference, so give it a moment.
    for _ in 0..150 {
        if let Ok(store) = Store::open(&data.join("fleet.redb")) {
            return store.all().unwrap().0.into_iter().map(|r| r.id).collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the store stayed locked");
}

#[tokio::test]
async fn leases_must_be_held_to_be_renewed_or_released() {
    let f = fixture(true).await;
    let release = f
        .send("POST", "/api/desktops/alices/release", Some(ALICE), None)
        .await;
    assert_eq!(release.status, StatusCode::CONFLICT);
    assert!(release.body["error"]
        .as_str()
        .unwrap()
        .contains("not leased by you"));
    let bad = f
        .send(
            "POST",
            "/api/desktops/acquire",
            Some(ALICE),
            Some(json!({"lease_seconds": 0})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let tool = f
        .tool(
            "/mcp",
            Some(ALICE),
            "desktop_heartbeat",
            json!({"id": "alices"}),
        )
        .await;
    assert!(
        result_text(&tool).contains("desktop_acquire"),
        "{}",
        tool.text
    );
}

#[tokio::test]
async fn bad_ids_and_bodies_are_clear_errors() {
    let f = fixture(true).await;
    let create = f
        .send(
            "POST",
            "/api/desktops",
            Some(ALICE),
            Some(json!({"id": "Bad Id"})),
        )
        .await;
    assert_eq!(create.status, StatusCode::BAD_REQUEST);
    assert!(create.body["error"].as_str().unwrap().contains("a-z, 0-9"));
    let taken = f
        .send(
            "POST",
            "/api/desktops",
            Some(ALICE),
            Some(json!({"id": "bobs"})),
        )
        .await;
    assert_eq!(
        taken.status,
        StatusCode::CONFLICT,
        "ids are one namespace: {}",
        taken.text
    );
    let junk = f
        .request(
            "POST",
            "/api/desktops",
            Some(ALICE),
            None,
            &[("content-type", "application/json")],
        )
        .await;
    assert_ne!(junk.status, StatusCode::OK);
    let unknown = f
        .send(
            "POST",
            "/api/desktops",
            Some(ALICE),
            Some(json!({"colour": "red"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.body["error"].as_str().unwrap().contains("colour"));
    let screen = f
        .send(
            "POST",
            "/api/desktops",
            Some(ALICE),
            Some(json!({"screen": "10x10"})),
        )
        .await;
    assert_eq!(screen.status, StatusCode::BAD_REQUEST);
    let path = f.send("GET", "/api/nothing", Some(ALICE), None).await;
    assert_eq!(path.status, StatusCode::NOT_FOUND);
    assert!(path.body["error"].is_string());
}

#[tokio::test]
async fn the_gate_stands_before_every_surface() {
    let f = fixture(true).await;
    for path in ["/api/desktops", "/desktops/alices/mcp", "/mcp"] {
        let none = f.send("GET", path, None, None).await;
        assert_eq!(none.status, StatusCode::UNAUTHORIZED, "{path}");
        let wrong = f
            .send("GET", path, Some("not-a-token-0123456789"), None)
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let in_url = f
        .send("GET", &format!("/api/desktops?token={ALICE}"), None, None)
        .await;
    assert_eq!(in_url.status, StatusCode::BAD_REQUEST);
    let foreign = f
        .request(
            "POST",
            "/api/desktops",
            Some(ALICE),
            Some(json!({})),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    // The live view's cookie is never a credential for the API.
    let cookie = f
        .request(
            "GET",
            "/api/desktops",
            None,
            None,
            &[("cookie", "agentdesk_session_3000=anything")],
        )
        .await;
    assert_eq!(cookie.status, StatusCode::UNAUTHORIZED);
    // Open to all: liveness and the login form.
    assert_eq!(
        f.send("GET", "/healthz", None, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        f.send("GET", "/login", None, None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn without_tokens_everything_is_shared_and_without_a_default_desktop_mcp_says_so() {
    let f = fixture(false).await;
    assert_eq!(
        ids(&f.send("GET", "/api/desktops", None, None).await.body),
        ["alices", "bobs", "shared"]
    );
    let call = f.tool("/mcp", None, "screen_shot", json!({})).await;
    assert_eq!(call.body["result"]["isError"], true);
    assert!(
        result_text(&call).contains("no default desktop"),
        "{}",
        call.text
    );
    // The page lists the desktops, with a link to each view.
    let page = f
        .request("GET", "/", None, None, &[("accept", "text/html")])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    for id in ["alices", "bobs", "shared"] {
        assert!(
            page.text.contains(&format!("href=\"/desktops/{id}/view\"")),
            "{}",
            page.text
        );
    }
}

#[tokio::test]
async fn the_fleet_tools_are_on_mcp_only() {
    let f = fixture(false).await;
    let list = f
        .request(
            "POST",
            "/mcp",
            None,
            Some(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
            &[
                ("accept", "application/json, text/event-stream"),
                ("mcp-protocol-version", "2025-06-18"),
            ],
        )
        .await;
    let names: Vec<&str> = list.body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"desktop_create") && names.contains(&"screen_shot"));
    let listed = f.tool("/mcp", None, "desktop_list", json!({})).await;
    let value: Value = serde_json::from_str(&result_text(&listed)).unwrap();
    assert_eq!(ids(&value), ["alices", "bobs", "shared"]);
    assert_eq!(
        listed.body["result"]["structuredContent"]["max_desktops"],
        10
    );
}
