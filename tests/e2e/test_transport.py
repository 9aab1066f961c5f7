"""Transports: Streamable HTTP in both protocol eras, its guards (Origin, Host), /healthz, and
stdio."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import subprocess
import warnings
from pathlib import Path

import pytest
from mcp import Client, MCPError
from mcp.client.stdio import StdioServerParameters, stdio_client

from conftest import (
    DESKTOP_PROCESSES,
    MODES,
    SCREEN,
    FLEET_TOOL_NAMES,
    TOOL_NAMES,
    Proc,
    agentdesk_bin,
    connect,
    descendants,
    feedback,
    image,
    kill_survivors,
    raise_leaf,
    read_proc,
    wait_for_desktop_processes,
    wait_gone,
)

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "agentdesk-e2e", "version": "0"},
    },
}


# ----------------------------------------------------------------------------- HTTP


async def test_protocol_negotiation(server, mode):
    async with connect(server.url, mode=mode) as client:
        assert client.protocol_version == MODES[mode]
        assert client.server_info is not None and client.server_info.name == "agentdesk"
        assert client.server_capabilities.tools is not None
        assert client.instructions and "screen_shot" in client.instructions
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == TOOL_NAMES + FLEET_TOOL_NAMES


async def test_tools_and_ghostdesks_resources_are_offered(server, mode):
    async with connect(server.url, mode=mode) as client:
        capabilities = client.server_capabilities
        assert capabilities.tools is not None and capabilities.resources is not None
        assert capabilities.prompts is None
        with pytest.raises(MCPError) as raised:
            await client.list_prompts()
        assert raised.value.code == -32601  # method not found
        if mode == "legacy":  # ping exists only before 2026-07-28
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                await client.send_ping()


async def test_concurrent_clients(server):
    """Stateless HTTP: independent clients, in both eras, work at the same time."""

    async def one(mode: str, n: int):
        async with connect(server.url, mode=mode) as client:
            img = image(await client.call_tool("screen_shot", {"format": "png"}), "image/png")
            assert img.size == SCREEN
            result = await client.call_tool("mouse_move", {"x": 10 + n, "y": 10})
            assert not result.is_error
            return client.protocol_version

    versions = await asyncio.gather(*(one(mode, i) for i, mode in enumerate(list(MODES) * 3)))
    assert sorted(set(versions)) == sorted(MODES.values())


def post_mcp(server, headers: dict[str, str], body: dict | None = None) -> tuple[int, str]:
    """A raw POST /mcp (no SDK), so that headers are exactly what the test says."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        all_headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **headers,
        }
        conn.request("POST", "/mcp", body=json.dumps(body or INITIALIZE), headers=all_headers)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def test_healthz(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("application/json")
        body = json.loads(response.read())
    finally:
        conn.close()
    assert body["status"] == "ok"
    assert body["desktop"] == "running"
    assert body["display"].startswith(":"), body  # for local tools on the same X server
    assert Path(body["xauthority"]).is_file(), body  # which admits only holders of its cookie


@pytest.mark.parametrize("origin", ["{base}", "http://localhost:{port}", "http://[::1]:{port}"])
def test_own_origins_are_accepted(server, origin):
    """The control for the next test: the same request from the listener's own origins."""
    status, body = post_mcp(server, {"Origin": origin.format(base=server.base, port=server.port)})
    assert status == 200, body
    assert json.loads(body)["result"]["serverInfo"]["name"] == "agentdesk"


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example.com", "null", "http://127.0.0.1:1", "https://127.0.0.1:{port}"],
)
def test_foreign_origins_are_forbidden(server, origin):
    status, body = post_mcp(server, {"Origin": origin.format(port=server.port)})
    assert status == 403, body
    assert "agentdesk" not in body


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "localhost"])
def test_loopback_hosts_are_accepted(server, host):
    status, body = post_mcp(server, {"Host": host.format(port=server.port)})
    assert status == 200, body


@pytest.mark.parametrize(
    "host", ["evil.example.com", "127.0.0.1.evil.example.com", "localhost.evil.example.com:{port}"]
)
def test_foreign_hosts_are_rejected(server, host):
    """DNS rebinding: a request naming another Host is refused."""
    status, body = post_mcp(server, {"Host": host.format(port=server.port)})
    assert 400 <= status < 500, (status, body)
    assert "agentdesk" not in body


def test_get_and_delete_are_not_offered(server):
    """Stateless JSON mode: no standalone SSE stream, no sessions to delete."""
    for method in ("GET", "DELETE"):
        conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
        try:
            conn.request(method, "/mcp", headers={"Accept": "text/event-stream"})
            response = conn.getresponse()
            response.read()
            assert response.status == 405, method
        finally:
            conn.close()


def test_malformed_request_is_a_client_error(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request(
            "POST",
            "/mcp",
            body=b"{not json",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
            },
        )
        response = conn.getresponse()
        response.read()
        assert 400 <= response.status < 500
    finally:
        conn.close()
    # And the server carries on.
    status, _ = post_mcp(server, {})
    assert status == 200


# ----------------------------------------------------------------------------- stdio


def stdio_servers(data_dir: Path) -> list[Proc]:
    """agentdesk --stdio processes this test process started for `data_dir`."""
    found = []
    for p in descendants(os.getpid()):
        try:
            argv = Path(f"/proc/{p.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--stdio" in argv and str(data_dir).encode() in argv:
            found.append(p)
    return found


@contextlib.asynccontextmanager
async def stdio_agentdesk(tmp_path: Path, *options: str, mode: str = "auto"):
    """`agentdesk serve --stdio` run by the SDK's stdio client. Checks that the server runs a
    desktop, and that the server and its desktop are gone once the client has closed."""
    data_dir = tmp_path / "data"
    params = StdioServerParameters(
        command=agentdesk_bin(),
        args=["serve", "--stdio", "--data-dir", str(data_dir), *options],
        env={"NO_COLOR": "1"},
    )
    tree: list[Proc] = []
    try:
        with open(tmp_path / "stderr.log", "w") as errlog:
            async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:
                assert client.protocol_version == MODES[mode]
                (stdio_server,) = stdio_servers(data_dir)
                tree = [stdio_server] + wait_for_desktop_processes(stdio_server.pid, 10.0)
                assert DESKTOP_PROCESSES <= {p.comm for p in tree}, tree
                yield client
    except BaseExceptionGroup as group:
        raise_leaf(group)
    finally:
        survivors = wait_gone(tree, timeout=10.0)
        kill_survivors(survivors)
    assert not survivors, f"still running after the stdio client closed: {survivors}"


async def test_stdio_transport(tmp_path, mode):
    async with stdio_agentdesk(tmp_path, mode=mode) as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == TOOL_NAMES + FLEET_TOOL_NAMES
        img = image(await client.call_tool("screen_shot", {}), "image/webp")
        assert img.size == SCREEN
        # No HTTP request, so no model space from one: pixels.
        moved = feedback(await client.call_tool("mouse_move", {"x": 500, "y": 500}))
        assert moved["action"] == "Moved cursor to (500, 500)"


async def test_stdio_screen_and_model_space_options(tmp_path):
    """--screen sets the screen size; --model-space is the space of clients that name none
    (stdio clients cannot)."""
    async with stdio_agentdesk(tmp_path, "--screen", "800x600", "--model-space", "1000") as client:
        img = image(await client.call_tool("screen_shot", {"format": "png"}), "image/png")
        assert img.size == (800, 600)
        moved = feedback(await client.call_tool("mouse_move", {"x": 500, "y": 500}))
        assert moved["action"] == "Moved cursor to (400, 300)"


def test_stdio_server_exits_cleanly_when_stdin_closes(tmp_path):
    """Without the SDK's kill-after-grace-period: closing stdin alone stops the server (exit
    status 0) and its whole desktop."""
    data_dir = tmp_path / "data"
    with open(tmp_path / "stderr.log", "wb") as errlog:
        process = subprocess.Popen(
            [agentdesk_bin(), "serve", "--stdio", "--data-dir", str(data_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errlog,
            env={**os.environ, "NO_COLOR": "1"},
        )
    tree: list[Proc] = []
    try:
        process.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
        process.stdin.flush()
        reply = json.loads(process.stdout.readline())
        assert reply["id"] == 1
        assert reply["result"]["serverInfo"]["name"] == "agentdesk"
        me = read_proc(process.pid)
        tree = [me] + wait_for_desktop_processes(process.pid, timeout=10.0)
        assert DESKTOP_PROCESSES <= {p.comm for p in tree}, tree

        process.stdin.close()
        rc = process.wait(timeout=10)
        assert rc == 0, (tmp_path / "stderr.log").read_text(errors="replace")
        assert process.stdout.read() == b"", "nothing but MCP messages on stdout"
        survivors = wait_gone(tree, timeout=10.0)
        assert not survivors, f"still running after the stdio server exited: {survivors}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        kill_survivors(tree)
        process.stdout.close()


async def test_ghostdesk_resources(server, mode):
    async with connect(server.url, mode=mode) as client:
        listed = {str(r.uri): r for r in (await client.list_resources()).resources}
        assert set(listed) == {"ghostdesk://apps", "ghostdesk://clipboard"}
        assert listed["ghostdesk://apps"].mime_type == "application/json"

        apps = await client.read_resource("ghostdesk://apps")
        entries = json.loads(apps.contents[0].text)
        tool = await client.call_tool("app_list", {})
        assert entries == tool.structured_content["result"]
        assert any(e["exec"] == "xterm" for e in entries)

        text = f"resource check {mode} ✓"
        await client.call_tool("clipboard_set", {"text": text})
        clip = await client.read_resource("ghostdesk://clipboard")
        assert clip.contents[0].text == text

        with pytest.raises(MCPError) as raised:
            await client.read_resource("ghostdesk://nothing")
        assert raised.value.code == -32602
        assert "resources/list" in str(raised.value)
