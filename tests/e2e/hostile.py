"""Shared machinery of the hostile-input suite (test_hostile_tools.py, test_hostile_protocol.py):
how cases are encoded and sent raw (bytes over HTTP with httpx2, so that no client library tidies
them up on the way), how every reply is checked to be a well-formed refusal, and the fixtures that
watch the server while a file runs and check afterwards that it survived.

Every request must be answered, within REQUEST_TIMEOUT, with a clear refusal: a tool error
(isError and a message), a JSON-RPC error (code and message) or, for garbage below JSON-RPC, a
4xx status; never a 5xx, never a malformed answer, never a panic. A valid but extreme call may
succeed instead if its effect is bounded (a clamped scroll, a capped tail), which
`check_bounded` checks.
"""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import os
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from PIL import Image

from conftest import (
    FLEET_TOOL_NAMES,
    LEGACY_VERSION,
    MODERN_VERSION,
    MODES,
    SCREEN,
    TOOL_NAMES,
    Server,
    connect,
    descendants,
    image,
    is_alive,
    kill_survivors,
)

REQUEST_TIMEOUT = 30.0
"""Every request must be answered within this; a longer wait is a hang."""

ERAS = ("legacy", "modern")
"""legacy: 2025-11-25 without a handshake (the server is stateless); modern: 2026-07-28, with
the per-request _meta and the Mcp-Method and Mcp-Name headers."""

MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
    "io.modelcontextprotocol/clientInfo": {"name": "agentdesk-hostile", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
JSON_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
}
LEGACY_HEADERS = {"MCP-Protocol-Version": LEGACY_VERSION}

MIB = 1024 * 1024
BODY_LIMIT_EXCEEDED = 10 * MIB
"""Over agentdesk's request body limit (4 MiB)."""
UNDER_BODY_LIMIT = 3 * MIB + MIB // 2
"""Under the body limit, so that the request reaches the tool (and its own bound)."""

# What a reply is, once it has been checked to be well-formed.
TOOL_ERROR = "tool error"
RPC_ERROR = "JSON-RPC error"
HTTP_ERROR = "HTTP 4xx"
ACCEPTED = "202 Accepted"
SUCCESS = "success"

REJECTED = frozenset({TOOL_ERROR, RPC_ERROR})
REFUSED = REJECTED | {HTTP_ERROR}
"""Also a 4xx: for bodies that are not JSON, or are too large to read."""
BOUNDED = REJECTED | {SUCCESS}
"""Valid but extreme: refused, or done with a bounded effect (see `check_bounded`)."""



# ----------------------------------------------------------------------------- encoding


@dataclass(frozen=True)
class Raw:
    """A JSON token sent verbatim, for what json.dumps will not write (01, +1, .5 ...)."""

    token: str


@dataclass(frozen=True)
class Big:
    """A string of `size` x's, built only when sent, so that test ids and params stay small."""

    size: int

    def __repr__(self) -> str:
        return f"Big({self.size / MIB:g} MiB)"


def plain(value: Any, raw_tokens: list[str]) -> Any:
    """`value` with Big strings built and Raw tokens replaced by placeholders."""
    if isinstance(value, Raw):
        raw_tokens.append(value.token)
        return f"\ue000{len(raw_tokens) - 1}\ue000"
    if isinstance(value, Big):
        return "x" * value.size
    if isinstance(value, dict):
        return {plain(k, raw_tokens): plain(v, raw_tokens) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v, raw_tokens) for v in value]
    return value


def encode(message: Any) -> bytes:
    """JSON for `message`. json.dumps already writes NaN and Infinity for float("nan") and
    float("inf"), and \\udXXX escapes for lone surrogates: both reach the server as sent."""
    raw_tokens: list[str] = []
    text = json.dumps(plain(message, raw_tokens))
    for i, token in enumerate(raw_tokens):
        text = text.replace(json.dumps(f"\ue000{i}\ue000"), token)
    return text.encode()


LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
LIST_BYTES = encode(LIST)


def header_value(text: str) -> str:
    """A header value for `text`, in SEP-2243's =?base64?...?= form when it is not plain
    printable ASCII."""
    if text.isascii() and text.isprintable() and text == text.strip(" \t"):
        return text
    data = text.encode("utf-8", "surrogatepass")
    return f"=?base64?{base64.b64encode(data).decode()}?="


def label(value: Any, width: int = 40) -> str:
    """A short ASCII rendering of `value`, for test ids and messages."""
    text = ascii(value)
    return text if len(text) <= width else text[: width - 3] + "..."


# ----------------------------------------------------------------------------- replies


NO_ID = object()
"""The request id of requests that have none (notifications, garbage)."""

_request_ids = itertools.count(1)


@dataclass
class Reply:
    what: str
    status: int
    media_type: str
    body: bytes
    request_id: Any

    def __str__(self) -> str:
        return f"{self.what} -> HTTP {self.status} {self.body[:400]!r}"


def parse_json(data: bytes | str) -> Any:
    """Strict JSON: NaN and Infinity are not JSON, whatever Python's json module thinks."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(data, parse_constant=refuse)


def response_message(reply: Reply) -> dict:
    """The JSON-RPC response in a 200 reply: a JSON body, or the final event of an SSE one."""
    if reply.media_type == "text/event-stream":
        events = [
            line[5:].strip()
            for line in reply.body.decode().splitlines()
            if line.startswith("data:") and line[5:].strip()
        ]
        finals = [m for m in map(parse_json, events) if "result" in m or "error" in m]
        assert len(finals) == 1, f"not one response in the event stream: {reply}"
        message = finals[0]
    else:
        assert reply.media_type == "application/json", f"unexpected Content-Type: {reply}"
        message = parse_json(reply.body)
    assert isinstance(message, dict) and message.get("jsonrpc") == "2.0", f"not JSON-RPC: {reply}"
    assert ("result" in message) != ("error" in message), f"not one of result, error: {reply}"
    return message


def check_rpc_error(message: Any, reply: Reply) -> None:
    assert isinstance(message, dict) and message.get("jsonrpc") == "2.0", f"not JSON-RPC: {reply}"
    error = message.get("error")
    assert isinstance(error, dict) and "result" not in message, f"not an error: {reply}"
    code = error.get("code")
    assert isinstance(code, int) and not isinstance(code, bool), f"bad error code: {reply}"
    text = error.get("message")
    assert isinstance(text, str) and text.strip(), f"an error without a message: {reply}"
    # When the id could not be read from the request, JSON-RPC answers with a null id.
    assert message.get("id") in (reply.request_id, None), f"wrong id: {reply}"


def check_block(block: Any, reply: Reply) -> None:
    assert isinstance(block, dict), f"a content block that is not an object: {reply}"
    if block.get("type") == "text":
        assert isinstance(block.get("text"), str), f"a text block without text: {reply}"
    elif block.get("type") == "image":
        assert isinstance(block.get("mimeType"), str), f"an image without mimeType: {reply}"
        base64.b64decode(block.get("data", ""), validate=True)
    else:
        pytest.fail(f"unexpected content block {block.get('type')!r}: {reply}")


def outcome(reply: Reply, *, tool_call: bool = True) -> str:
    """Checks that `reply` is a well-formed answer and says what kind it is."""
    assert reply.status < 500, f"a server error: {reply}"
    if reply.status >= 400:
        # hyper's own refusals (400, 414, 431) have no body: the status line says it all.
        if reply.media_type == "application/json":
            check_rpc_error(parse_json(reply.body), reply)
            return RPC_ERROR
        return HTTP_ERROR
    if reply.status == 202:
        assert reply.request_id is NO_ID, f"202 is only for notifications: {reply}"
        assert not reply.body, f"a 202 with a body: {reply}"
        return ACCEPTED
    assert reply.status == 200, f"unexpected status: {reply}"
    message = response_message(reply)
    if "error" in message:
        check_rpc_error(message, reply)
        return RPC_ERROR
    assert message.get("id") == reply.request_id, f"wrong id: {reply}"
    result = message["result"]
    assert isinstance(result, dict), f"a result that is not an object: {reply}"
    if not tool_call:
        return SUCCESS
    content = result.get("content")
    assert isinstance(content, list) and content, f"a tool result without content: {reply}"
    for block in content:
        check_block(block, reply)
    if result.get("isError") is True:
        assert any(
            b["type"] == "text" and b["text"].strip() for b in content
        ), f"a tool error without a message: {reply}"
        return TOOL_ERROR
    assert result.get("isError", False) is False, f"isError is not a boolean: {reply}"
    return SUCCESS


def first_text(reply: Reply) -> str:
    return response_message(reply)["result"]["content"][0].get("text", "")


INPUT_TOOLS = {"mouse_move", "mouse_click", "mouse_double_click", "mouse_drag", "mouse_scroll"}
INPUT_TOOLS |= {"key_type", "key_press"}


def check_bounded(tool: str, reply: Reply) -> None:
    """A success on hostile but valid input: its effect must be bounded."""
    text = first_text(reply)
    if tool == "app_launch":
        with contextlib.suppress(ProcessLookupError, KeyError, ValueError):
            os.kill(json.loads(text)["pid"], signal.SIGKILL)
        pytest.fail(f"a hostile command launched something (now killed): {reply}")
    elif tool == "screen_shot":
        block = response_message(reply)["result"]["content"][0]
        img = Image.open(io.BytesIO(base64.b64decode(block["data"])))
        assert img.width <= SCREEN[0] and img.height <= SCREEN[1], f"{img.size}: {reply}"
    elif tool in INPUT_TOOLS:
        action = json.loads(text)["action"]
        for x, y in re.findall(r"\((\d+), (\d+)\)", action):
            assert int(x) < SCREEN[0] and int(y) < SCREEN[1], f"off the screen: {reply}"
        if m := re.match(r"Scrolled \w+ (\d+) clicks", action):
            assert 1 <= int(m[1]) <= 5, f"scroll amount not clamped: {reply}"
        if m := re.match(r"Typed (\d+) characters", action):
            assert int(m[1]) <= 10_000, f"typed too much: {reply}"
    elif tool == "clipboard_set":
        assert re.fullmatch(r"Clipboard set \(\d+ characters\)", text), reply
    elif tool == "help_request":
        status = json.loads(text)
        assert status["state"] == "open" and len(status["message"]) <= 2000, reply
    elif tool == "app_status":
        tail = json.loads(text)["tail"]
        assert len(tail.encode()) <= 256 * 1024, f"an unbounded tail: {reply}"


# ----------------------------------------------------------------------------- sending


@pytest.fixture(scope="module")
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=REQUEST_TIMEOUT) as client:
        yield client


def post(
    http: httpx2.Client,
    url: str,
    body: bytes,
    headers: dict[str, Any],
    *,
    what: str,
    request_id: Any = NO_ID,
    drop: tuple[str, ...] = (),
    method: str = "POST",
) -> Reply:
    """A raw request with exactly these headers (JSON_HEADERS unless replaced or dropped)."""
    headers = {**JSON_HEADERS, **headers}
    if len(body) > MIB:
        # The server may stop reading a big body and answer early; the connection must not
        # then be reused for the next request.
        headers["Connection"] = "close"
    request = http.build_request(method, url, content=body, headers=headers)
    for name in drop:
        del request.headers[name]
    try:
        response = http.send(request)
    except httpx2.TimeoutException:
        pytest.fail(f"no reply within {REQUEST_TIMEOUT:.0f} s to {what}")
    except httpx2.TransportError as e:
        pytest.fail(f"no reply to {what}: {e!r}")
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return Reply(what, response.status_code, media_type, response.content, request_id)


class Omitted:
    """An argument or member that is left out of the request."""

    def __repr__(self) -> str:
        return "(omitted)"


OMIT = Omitted()


def tool_request(
    name: Any, arguments: Any, era: str, extra_headers: dict[str, Any] | None = None
) -> tuple[bytes, dict[str, Any], Any, str]:
    """(body, headers, request id, description) of a tools/call in `era`."""
    request_id = next(_request_ids)
    params: dict[str, Any] = {"name": name}
    if arguments is not OMIT:
        params["arguments"] = arguments
    headers: dict[str, Any] = dict(LEGACY_HEADERS)
    if era == "modern":
        params["_meta"] = MODERN_META
        headers = {"MCP-Protocol-Version": MODERN_VERSION, "Mcp-Method": "tools/call"}
        if isinstance(name, (str, Big)):
            headers["Mcp-Name"] = header_value(plain(name, []))
    headers.update(extra_headers or {})
    body = encode({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})
    return body, headers, request_id, f"tools/call {label(name)} {label(arguments, 120)} [{era}]"


def call_tool(
    http: httpx2.Client,
    url: str,
    name: Any,
    arguments: Any = OMIT,
    *,
    era: str,
    extra_headers: dict[str, Any] | None = None,
) -> Reply:
    body, headers, request_id, what = tool_request(name, arguments, era, extra_headers)
    return post(http, url, body, headers, what=what, request_id=request_id)


class Watch:
    """After each hostile request: the server still runs, and has logged no panic since."""

    def __init__(self, server: Server):
        self.server = server
        self.offset = server.log.stat().st_size

    def check(self, after: object) -> None:
        status = self.server.process.poll()
        assert status is None, f"agentdesk exited ({status}) after {after}"
        with self.server.log.open("rb") as log:
            log.seek(self.offset)
            new = log.read()
        self.offset += len(new)
        panics = [line for line in new.decode(errors="replace").splitlines() if "panicked" in line]
        assert not panics, f"agentdesk panicked after {after}: {panics}"


@pytest.fixture(scope="module")
def watch(server: Server) -> Watch:
    return Watch(server)


def healthz(server: Server) -> dict:
    return httpx2.get(server.base + "/healthz", timeout=REQUEST_TIMEOUT).json()


@dataclass
class Baseline:
    display: str
    processes: set[tuple[int, int]]
    """(pid, start time) of everything the server ran before this file's first test."""


@pytest.fixture(scope="module", autouse=True)
def baseline(server: Server) -> Baseline:
    return Baseline(
        display=healthz(server)["display"],
        processes={(p.pid, p.start) for p in descendants(server.process.pid)},
    )


def run(
    http: httpx2.Client,
    server: Server,
    watch: Watch,
    tool: Any,
    arguments: Any,
    expect: frozenset[str],
    eras: tuple[str, ...] = ERAS,
    extra_headers: dict[str, Any] | None = None,
) -> None:
    """Calls `tool` in each era and checks the reply against `expect`."""
    for era in eras:
        reply = call_tool(http, server.url, tool, arguments, era=era, extra_headers=extra_headers)
        watch.check(reply)
        kind = outcome(reply)
        if kind == SUCCESS:
            check_bounded(tool, reply)
        assert kind in expect, f"{kind}, expected {' or '.join(sorted(expect))}: {reply}"


async def check_afterwards(server: Server, baseline: Baseline, watch: Watch) -> None:
    """After a file's cases: the server runs, has never panicked, serves both eras through the
    SDK, still shows the same desktop, and started nothing new."""
    watch.check("everything")
    assert server.process.poll() is None
    dead = [p for p in server.children if not is_alive(p)]
    assert not dead, f"desktop processes gone: {dead}"
    health = healthz(server)
    assert health["desktop"] == "running" and health["display"] == baseline.display, health
    for mode in MODES:
        async with connect(server.url, mode=mode) as client:
            tools = (await client.list_tools()).tools
            # A desktop's own endpoint serves GhostDesk's tools; /mcp adds the fleet's.
            expected = TOOL_NAMES if "/desktops/" in server.url else TOOL_NAMES + FLEET_TOOL_NAMES
            assert [t.name for t in tools] == expected
            shot = image(await client.call_tool("screen_shot", {"format": "png"}), "image/png")
            assert shot.size == SCREEN
            # Leave a small clipboard rather than the megabytes set above.
            await client.call_tool("clipboard_set", {"text": "after the hostile suite"})
    started = [
        p for p in descendants(server.process.pid) if (p.pid, p.start) not in baseline.processes
    ]
    kill_survivors(started)
    assert not started, f"hostile input started processes (now killed): {started}"
    log = server.log.read_text(errors="replace")
    assert "panicked" not in log, server.log_tail()
