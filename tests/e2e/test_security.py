"""Safe by default: postures, bearer tokens (named, revocable), TLS, request limits, the audit
log and `secret: true`, and the operator's launch policy. Each posture runs on a real server
started for it; the shared session server (default posture) covers the bounds."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import httpx2
import pytest
from mcp import MCPError

from conftest import (
    SCREEN,
    FLEET_TOOL_NAMES,
    TOOL_NAMES,
    Server,
    agentdesk_bin,
    audit_lines,
    connect,
    descendants,
    image,
    running_server,
)

ALICE = "alice-0123456789abcdef0123456789"
BOB = "bob-fedcba9876543210fedcba987654"
MCP_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}
SECURITY_ENV = ["AGENTDESK_AUTH_TOKEN", "AGENTDESK_TOKEN_FILE", "AGENTDESK_TLS_CERT",
                "AGENTDESK_TLS_KEY", "AGENTDESK_INSECURE_HTTP"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tool_call(name: str, arguments: Any, id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def post(
    url: str,
    body: Any,
    headers: dict[str, str] | None = None,
    verify: Any = True,
) -> httpx2.Response:
    """A raw POST (no SDK), so that headers and status codes are exactly visible."""
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    with httpx2.Client(timeout=30.0, verify=verify) as http:
        return http.post(url, content=content, headers={**MCP_HEADERS, **(headers or {})})


def call_result(response: httpx2.Response) -> dict[str, Any]:
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()["result"]


def result_text(result: dict[str, Any]) -> str:
    return " ".join(c["text"] for c in result["content"] if c["type"] == "text")


def serve_and_fail(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Runs `agentdesk serve` expecting a refusal; returns its stderr."""
    clean = {k: v for k, v in os.environ.items() if k not in SECURITY_ENV}
    done = subprocess.run(
        [agentdesk_bin(), "serve", "--data-dir", str(tmp_path / "data"), *args],
        env={**clean, "NO_COLOR": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1, (done.returncode, done.stderr)
    # Refused before any desktop started: nothing was created.
    assert not (tmp_path / "data").exists()
    return done.stderr


# ----------------------------------------------------------------------------- postures


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0"])
def test_a_network_listener_without_a_token_refuses_to_start(tmp_path, listen):
    stderr = serve_and_fail(tmp_path, "--listen", listen)
    assert "without a token" in stderr and "AGENTDESK_AUTH_TOKEN" in stderr, stderr
    assert "--token-file" in stderr, stderr


def test_a_network_listener_needs_tls_or_the_explicit_opt_in(tmp_path):
    stderr = serve_and_fail(
        tmp_path, "--listen", "0.0.0.0:0", env={"AGENTDESK_AUTH_TOKEN": ALICE}
    )
    assert "--tls-cert" in stderr and "--insecure-http" in stderr, stderr


def test_weak_tokens_and_bad_token_files_are_refused_at_start(tmp_path):
    stderr = serve_and_fail(tmp_path, env={"AGENTDESK_AUTH_TOKEN": "hunter2"})
    assert "at least 16 characters" in stderr and "hunter2" not in stderr, stderr
    tokens = tmp_path / "tokens"
    tokens.write_text(f"alice: {ALICE}\nbob {BOB}\n")
    stderr = serve_and_fail(tmp_path, "--token-file", str(tokens))
    assert "line 2" in stderr and BOB not in stderr, stderr


def test_plain_http_on_the_network_with_the_opt_in_warns_and_still_needs_the_token(tmp_path):
    with running_server(
        tmp_path,
        "--listen", "0.0.0.0:0", "--insecure-http",
        env={"AGENTDESK_AUTH_TOKEN": ALICE},
    ) as srv:
        assert "WARN" in srv.log.read_text() and "plain HTTP" in srv.log.read_text()
        url = f"http://127.0.0.1:{srv.port}/mcp"
        assert post(url, tool_call("app_list", {})).status_code == 401
        assert "result" in post(url, tool_call("app_list", {}), bearer(ALICE)).json()


# ----------------------------------------------------------------------------- tokens


@pytest.fixture(scope="module")
def token_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "tokens"
    path.write_text(f"# one token per agent\nalice: {ALICE}\nbob: {BOB}\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, token_file) -> Iterator[Server]:
    """A loopback server with named tokens: once any token is configured, it is required."""
    root = tmp_path_factory.mktemp("guarded")
    with running_server(root, "--token-file", str(token_file), "--rate-limit", "1000") as srv:
        yield srv


def test_requests_without_a_token_get_a_bearer_challenge(guarded):
    response = post(guarded.url, tool_call("app_list", {}))
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer realm="), challenge
    # No OAuth metadata: there is no authorization server to point to.
    assert "resource_metadata" not in challenge
    assert "Authorization: Bearer" in response.text
    with httpx2.Client(timeout=30.0) as http:
        assert http.get(guarded.url).status_code == 401
        assert http.delete(guarded.url).status_code == 401
        prm = f"{guarded.base}/.well-known/oauth-protected-resource"
        # Every path is behind the gate: without a token, not even a 404...
        assert http.get(prm).status_code == 401
        assert http.get(f"{guarded.base}/mcp/").status_code == 401
        # ...and with one, no protected-resource metadata: there is no authorization server.
        assert http.get(prm, headers=bearer(ALICE)).status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {ALICE}x", f"Bearer {ALICE[:-1]}", "Bearer", f"Basic {ALICE}", ALICE, "Bearer a b"],
)
def test_wrong_tokens_are_refused(guarded, authorization):
    response = post(guarded.url, tool_call("app_list", {}), {"Authorization": authorization})
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_named_tokens_work_for_the_sdk_client_and_are_audited(guarded, mode):
    async with connect(guarded.url, mode=mode, headers=bearer(ALICE)) as client:
        assert [t.name for t in (await client.list_tools()).tools] == TOOL_NAMES + FLEET_TOOL_NAMES
        result = await client.call_tool("mouse_move", {"x": 5, "y": 6})
        assert not result.is_error, result
    last = audit_lines(guarded)[-1]
    assert (last["token"], last["tool"], last["outcome"]) == ("alice", "mouse_move", "ok")
    assert last["arguments"] == {"x": 5, "y": 6}


async def test_the_sdk_client_without_a_token_is_refused(guarded):
    # The SDK reports the 401 as a generic error response; the raw tests above see the 401.
    with pytest.raises(MCPError):
        async with connect(guarded.url) as client:
            await client.list_tools()


@pytest.mark.parametrize("query", [f"access_token={ALICE}", f"token={ALICE}", "api_key=x"])
def test_tokens_are_never_accepted_in_urls(guarded, query):
    response = post(f"{guarded.url}?{query}", tool_call("app_list", {}), bearer(ALICE))
    assert response.status_code == 400
    assert "never accepted in URLs" in response.text


def test_a_hostile_origin_is_forbidden_even_with_a_valid_token(guarded):
    response = post(
        guarded.url,
        tool_call("app_list", {}),
        {**bearer(ALICE), "Origin": "http://evil.example.com"},
    )
    assert response.status_code == 403, response.text


def test_healthz_is_open_but_shows_the_display_only_to_token_holders(guarded):
    with httpx2.Client(timeout=30.0) as http:
        anonymous = http.get(f"{guarded.base}/healthz").json()
        holder = http.get(f"{guarded.base}/healthz", headers=bearer(BOB)).json()
    assert anonymous == {"status": "ok", "desktop": "running"}
    assert holder["display"].startswith(":")


def test_a_revoked_token_is_refused_at_once_and_the_others_keep_working(guarded, token_file):
    original = token_file.read_text()
    assert "result" in post(guarded.url, tool_call("app_list", {}), bearer(BOB)).json()
    try:
        replacement = token_file.with_suffix(".new")
        replacement.write_text(f"alice: {ALICE}\n")
        replacement.chmod(0o600)
        replacement.replace(token_file)
        refused = post(guarded.url, tool_call("app_list", {}), bearer(BOB))
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
        assert "result" in post(guarded.url, tool_call("app_list", {}), bearer(ALICE)).json()
        # A broken token file lets nobody in (failing open would readmit revoked tokens).
        token_file.write_text("alice has no colon\n")
        broken = post(guarded.url, tool_call("app_list", {}), bearer(ALICE))
        assert broken.status_code == 503 and "token file" in broken.text
    finally:
        token_file.write_text(original)
    assert "result" in post(guarded.url, tool_call("app_list", {}), bearer(BOB)).json()
    log = guarded.log.read_text()
    assert ALICE not in log and BOB not in log


# ----------------------------------------------------------------------------- TLS


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, made with openssl here."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_serves_mcp_with_a_certificate_generated_in_the_test(tmp_path):
    cert, key = make_certificate(tmp_path)
    with running_server(
        tmp_path / "server",
        "--tls-cert", str(cert), "--tls-key", str(key),
        env={"AGENTDESK_AUTH_TOKEN": ALICE},
    ) as srv:
        assert srv.url.startswith("https://127.0.0.1:"), srv.url
        trust = ssl.create_default_context(cafile=str(cert))
        async with connect(srv.url, headers=bearer(ALICE), verify=trust) as client:
            result = await client.call_tool("screen_shot", {"format": "png"})
            assert image(result, "image/png").size == SCREEN
        # The token is still required over TLS.
        assert post(srv.url, tool_call("app_list", {}), verify=trust).status_code == 401
        # A client that does not trust the certificate refuses it...
        with pytest.raises(httpx2.ConnectError):
            post(srv.url, tool_call("app_list", {}), bearer(ALICE))
        # ...and plain HTTP gets no answer from the TLS port.
        with pytest.raises(httpx2.HTTPError):
            post(f"http://127.0.0.1:{srv.port}/mcp", tool_call("app_list", {}), bearer(ALICE))
        # Silent connections from another address (more than its share of handshakes) do not
        # hold up anyone else's.
        silent = []
        try:
            for _ in range(100):
                conn = socket.socket()
                conn.bind(("127.0.0.2", 0))
                conn.connect(("127.0.0.1", srv.port))
                silent.append(conn)
            started = time.monotonic()
            response = post(srv.url, tool_call("app_list", {}), bearer(ALICE), verify=trust)
            assert response.status_code == 200
            assert time.monotonic() - started < 2.0
        finally:
            for conn in silent:
                conn.close()


def test_an_unreadable_certificate_refuses_to_start_naming_the_file(tmp_path):
    missing = tmp_path / "missing.pem"
    stderr = serve_and_fail(tmp_path, "--tls-cert", str(missing), "--tls-key", str(missing))
    assert str(missing) in stderr and "--tls-cert" in stderr, stderr


# ----------------------------------------------------------------------------- secrets


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_secret_text_appears_in_no_log_and_no_result(tmp_path):
    """With every log target at trace level, a secret typed or put on the clipboard with
    secret: true is in no log line, no file under the data directory, and no tool result;
    the same call without secret is audited (so the audit log is really where we look)."""
    secret = "s3cret-Pa55word-7f1c"
    plain = "plain-marker-9d2e"
    with running_server(tmp_path, env={"RUST_LOG": "trace"}) as srv:
        async with connect(srv.url) as client:
            results = [
                await client.call_tool("key_type", {"text": secret, "secret": True}),
                await client.call_tool("clipboard_set", {"text": secret, "secret": "true"}),
                await client.call_tool("key_type", {"text": secret + "\u0007", "secret": True}),
                await client.call_tool("key_type", {"text": plain}),
            ]
        assert [r.is_error for r in results] == [False, False, True, False]
        for result in results:
            assert secret not in json.dumps(result.model_dump(mode="json"))
        log = srv.log.read_text(errors="replace")
        assert "DEBUG" in log  # the filter really was open
    assert secret not in log
    assert files_containing(srv.data_dir, secret.encode()) == []
    # The rejected call (a control character) is only counted, in audit-refused.jsonl.
    audit = audit_lines(srv)
    assert [e["arguments"]["text"] for e in audit] == ["[secret]", "[secret]", plain]
    assert [e["outcome"] for e in audit] == ["ok", "ok", "ok"]


# ----------------------------------------------------------------------------- limits


def test_calls_over_the_rate_limit_are_answered_with_the_wait_and_retry_after(tmp_path):
    """Over the rate, a tool call gets a tool error saying how long to wait (HTTP 200: official
    clients end their whole session on a 429), a resource read a JSON-RPC error; both carry
    Retry-After. Refusals are counted per second in audit-refused.jsonl."""
    with running_server(tmp_path, "--rate-limit", "1") as srv:
        answers = []
        for i in range(14):
            response = post(srv.url, tool_call("app_list", {}, id=100 + i))
            assert response.status_code == 200, response.status_code
            answers.append(response)
        # A burst of 10 passes (at 1 call/s, a few more may refill meanwhile), then refusals.
        limited = [r for r in answers if r.json()["result"].get("isError")]
        assert all(not r.json()["result"].get("isError") for r in answers[:10])
        assert limited, [r.json() for r in answers]
        refused = limited[-1]
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 2
        body = refused.json()
        assert body["id"] >= 110
        assert result_text(body["result"]).startswith("rate limited: retry in ")
        read = post(srv.url, {"jsonrpc": "2.0", "id": 7, "method": "resources/read",
                              "params": {"uri": "ghostdesk://apps"}})
        assert read.status_code == 200 and "Retry-After" in read.headers
        assert read.json()["error"]["code"] == -32000
        assert read.json()["error"]["message"].startswith("rate limited: retry in ")
        # Other methods are not tool calls and are not limited.
        assert post(srv.url, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).status_code == 200
        time.sleep(retry_after)
        assert not call_result(post(srv.url, tool_call("app_list", {}))).get("isError")
        outcomes = [e["outcome"] for e in audit_lines(srv)]
        assert "rate_limited" not in outcomes and outcomes.count("ok") >= 11
        refused_log = srv.data_dir / "desktops" / "default" / "audit-refused.jsonl"

        def counted() -> int:
            if not refused_log.exists():
                return 0
            lines = [json.loads(line) for line in refused_log.read_text().splitlines()]
            return sum(line["outcomes"].get("rate_limited", 0) for line in lines)

        deadline = time.monotonic() + 5
        while counted() < len(limited) + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert counted() == len(limited) + 1


def test_a_call_that_exceeds_the_timeout_is_abandoned_with_a_tool_error(tmp_path):
    with running_server(tmp_path, "--call-timeout", "1") as srv:
        xvnc = next(p for p in descendants(srv.process.pid) if p.comm == "Xvnc")
        os.kill(xvnc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            result = call_result(post(srv.url, tool_call("screen_shot", {"stabilize": False})))
            elapsed = time.monotonic() - started
        finally:
            os.kill(xvnc.pid, signal.SIGCONT)
        assert result["isError"] is True
        assert "did not finish within 1 s" in result_text(result)
        assert elapsed < 10, elapsed
        assert audit_lines(srv)[-1]["outcome"] == "timeout"
        result = call_result(post(srv.url, tool_call("screen_shot", {"format": "png"})))
        assert not result.get("isError"), result


@pytest.mark.parametrize(
    ("tool", "arguments", "bound"),
    [
        ("key_type", {"text": "a" * 10_001}, "at most 10000 characters"),
        ("clipboard_set", {"text": "a" * (2 * 1024 * 1024 + 1)}, "at most 2097152 bytes"),
        ("app_status", {"pid": 1, "lines": 5000}, "0 to 1000"),
        ("app_status", {"pid": 1, "lines": -1}, "0 to 1000"),
        ("app_launch", {"command": "xterm " + "a" * 5000}, "4096-byte limit"),
        ("mouse_move", {"x": 10**9, "y": 0}, "outside the screen"),
        ("screen_shot", {"region": {"x": 0, "y": 0, "width": 10**6, "height": 5}}, "screen"),
    ],
)
def test_bounds_are_tool_errors_naming_the_bound(server, tool, arguments, bound):
    result = call_result(post(server.url, tool_call(tool, arguments)))
    assert result["isError"] is True, result
    assert bound in result_text(result), result_text(result)


def test_resource_reads_are_audited_like_tool_calls(server):
    body = {"jsonrpc": "2.0", "id": 9, "method": "resources/read",
            "params": {"uri": "ghostdesk://clipboard"}}
    assert "result" in post(server.url, body).json()
    last = audit_lines(server)[-1]
    assert (last["tool"], last["arguments"], last["outcome"]) == (
        "resources/read", {"uri": "ghostdesk://clipboard"}, "ok")


def test_an_oversized_body_gets_413_with_a_json_rpc_error(server):
    response = post(server.url, tool_call("clipboard_set", {"text": "a" * (5 * 1024 * 1024)}))
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == -32600 and "4 MiB limit" in error["message"]
    # The server is unharmed.
    assert call_result(post(server.url, tool_call("app_list", {})))


# ----------------------------------------------------------------------------- launch policy


def test_the_launch_policy_limits_what_is_listed_and_launched(tmp_path):
    with running_server(
        tmp_path, "--allow-app", "XTerm,mousepad", "--deny-app", "xterm"
    ) as srv:
        # An entry the agent wrote into its own home, posing as an allowed app, is not read.
        mine = srv.data_dir / "desktops/default/home/.local/share/applications"
        mine.mkdir(parents=True, exist_ok=True)
        (mine / "org.xfce.mousepad.desktop").write_text(
            "[Desktop Entry]\nType=Application\nName=Mousepad\nExec=sh -c 'touch pwned'\n"
        )
        listed = call_result(post(srv.url, tool_call("app_list", {})))["structuredContent"]
        assert {a["exec"] for a in listed["result"]} == {"mousepad"}, listed
        for command, expected in [
            ("xterm -e sh", "launch policy"),
            ("firefox-esr", "launch policy"),
            ("bash -c id", "not an application from app_list"),
            ("sh -c id", "not an application from app_list"),
        ]:
            result = call_result(post(srv.url, tool_call("app_launch", {"command": command})))
            assert result["isError"] is True
            assert expected in result_text(result), result_text(result)
        assert not [p for p in descendants(srv.process.pid) if p.comm in ("xterm", "bash")]
