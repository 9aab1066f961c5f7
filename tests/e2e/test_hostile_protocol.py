"""Hostile protocol input, against the session's running server and a stdio server of this
file's own: broken JSON-RPC envelopes, 2026-07-28 requests with broken metadata, header garbage,
broken HTTP framing sent over raw sockets, and garbage lines on stdio (about 450 cases). The
machinery is in hostile.py; tool arguments are test_hostile_tools.py's, the Origin and Host
guards test_transport.py's.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import re
import select
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from conftest import (
    LEGACY_VERSION,
    MODERN_VERSION,
    SCREEN,
    Proc,
    Server,
    agentdesk_bin,
    kill_survivors,
    read_proc,
    wait_for_desktop_processes,
    wait_gone,
)
from hostile import (
    MIB,
    ACCEPTED,
    BODY_LIMIT_EXCEEDED,
    ERAS,
    HTTP_ERROR,
    LEGACY_HEADERS,
    LIST,
    LIST_BYTES,
    MODERN_META,
    OMIT,
    REFUSED,
    REQUEST_TIMEOUT,
    RPC_ERROR,
    SUCCESS,
    TOOL_ERROR,
    _request_ids,
    baseline,
    Big,
    call_tool,
    check_afterwards,
    encode,
    first_text,
    header_value,
    http,
    label,
    outcome,
    parse_json,
    post,
    watch,
)


# ----------------------------------------------------------------------------- JSON-RPC envelopes

def message(**members: Any) -> bytes:
    """tools/list with `members` changed (OMIT leaves a member out)."""
    changed = {**LIST, **members}
    return encode({k: v for k, v in changed.items() if v is not OMIT})


def deep(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


MOVE_ARGS_PREFIX = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"mouse_move",'

GARBAGE_BODIES = [
    ("empty", b""),
    ("blank", b" \r\n\t "),
    ("invalid JSON", b"{not json"),
    ("cut short", LIST_BYTES[:-7]),
    ("NUL bytes", b"\0" * 64),
    ("invalid UTF-8", b'{"jsonrpc":"2.0","id":1,"method":"tools/l\xff\xfeist"}'),
    ("UTF-16", json.dumps(LIST).encode("utf-16")),
    ("UTF-32", json.dumps(LIST).encode("utf-32")),
    ("trailing garbage", LIST_BYTES + b" trailing"),
    ("two messages", LIST_BYTES + LIST_BYTES),
    ("null", b"null"),
    ("true", b"true"),
    ("number", b"5"),
    ("string", b'"tools/list"'),
    ("empty batch", b"[]"),
    ("batch", b"[" + LIST_BYTES + b"]"),
    ("batch of numbers", b"[1,2,3]"),
    ("10000 nested arrays", deep(10_000)),
    ("10000 nested objects", b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
    ("deep id", b'{"jsonrpc":"2.0","method":"tools/list","id":' + deep(10_000) + b"}"),
    ("NaN id", b'{"jsonrpc":"2.0","id":NaN,"method":"tools/list"}'),
    ("jsonrpc 1.0", message(jsonrpc="1.0")),
    ("jsonrpc 3.0", message(jsonrpc="3.0")),
    ("jsonrpc number", message(jsonrpc=2.0)),
    ("jsonrpc null", message(jsonrpc=None)),
    ("no jsonrpc", message(jsonrpc=OMIT)),
    ("no method", message(method=OMIT)),
    ("method null", message(method=None)),
    ("method number", message(method=5)),
    ("method object", message(method={"name": "tools/list"})),
    ("method empty", message(method="")),
    ("method blank", message(method=" ")),
    ("method unknown", message(method="nosuch/method")),
    ("method upper case", message(method="TOOLS/LIST")),
    ("method with NUL", message(method="tools/list\0")),
    ("method 100 kB", message(method="m" * 100_000)),
    ("method rpc.", message(method="rpc.discover")),
    ("id object", message(id={"a": 1})),
    ("id array", message(id=[1])),
    ("id true", message(id=True)),
    ("id 1.5", message(id=1.5)),
    ("id 2**64", message(id=2**64)),
    ("id null", message(id=None)),
    ("params string", message(params="x")),
    ("params array", message(params=[1])),
    ("params number", message(params=5)),
    ("tools/call without params", message(method="tools/call")),
    ("tools/call params array", message(method="tools/call", params=["mouse_move", {}])),
    ("a result", encode({"jsonrpc": "2.0", "id": 1, "result": {}})),
    ("an error", encode({"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "x"}})),
    ("duplicate id", b'{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/list"}'),
    ("resources/read file", message(method="resources/read", params={"uri": "file:///etc/passwd"})),
    ("resources/read dots", message(method="resources/read", params={"uri": "ghostdesk://../x"})),
    ("resources/read empty", message(method="resources/read", params={"uri": ""})),
    ("resources/read NUL", message(method="resources/read", params={"uri": "ghostdesk://apps\0"})),
    ("resources/subscribe", message(method="resources/subscribe", params={"uri": "ghostdesk://"})),
    ("prompts/get", message(method="prompts/get", params={"name": "x"})),
    ("completion", message(method="completion/complete", params={})),
    ("logging", message(method="logging/setLevel", params={"level": "debug"})),
    ("initialize without params", message(method="initialize")),
    ("initialize garbage", message(method="initialize", params={"protocolVersion": 5})),
    ("10 MiB body", message(params={"pad": Big(BODY_LIMIT_EXCEEDED)})),
]
"""Request bodies that are not a request the server can serve: refused by a 4xx or answered with
a JSON-RPC error, never served."""


@pytest.mark.parametrize(
    "body", [pytest.param(body, id=name) for name, body in GARBAGE_BODIES]
)
def test_garbage_envelopes_are_refused(server, http, watch, body):
    reply = post(http, server.url, body, LEGACY_HEADERS, what=label(body, 80), request_id=1)
    watch.check(reply)
    assert outcome(reply, tool_call=False) in {HTTP_ERROR, RPC_ERROR}, reply


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param(MOVE_ARGS_PREFIX + b'"arguments":{"x":' + deep(10_000) + b',"y":1}}}',
                     "16 levels", id="10000 levels deep"),
        pytest.param(MOVE_ARGS_PREFIX + b'"arguments":{"x":[' + b"0," * 500_000 + b'0],"y":1}}}',
                     "1000 values", id="half a million values"),
        pytest.param(MOVE_ARGS_PREFIX + b'"arguments":{'
                     + b",".join(b'"k%d":{}' % i for i in range(5000)) + b"}}}",
                     "1000 values", id="5000 keys"),
    ],
)
def test_arguments_no_tool_takes_are_a_tool_error_before_anything_is_built(
    server, http, watch, body, says
):
    reply = post(http, server.url, body, LEGACY_HEADERS, what=label(body, 80), request_id=1)
    watch.check(reply)
    assert outcome(reply) == TOOL_ERROR, reply
    assert says in first_text(reply), reply


@pytest.mark.parametrize(
    "request_id",
    [0, -1, 2**63 - 1, -(2**63), "", "x", "\u202e\0id", "i" * 10_000, 1.0, "1", " "],
    ids=label,
)
def test_odd_but_valid_ids_are_echoed(server, http, watch, request_id):
    reply = post(
        http, server.url, message(id=request_id), LEGACY_HEADERS,
        what=f"tools/list id={label(request_id)}", request_id=request_id,
    )
    watch.check(reply)
    assert outcome(reply, tool_call=False) == SUCCESS, reply


@pytest.mark.parametrize(
    "body",
    [
        message(id=OMIT),
        encode({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        encode({"jsonrpc": "2.0", "method": "notifications/nosuch", "params": {"x": [1]}}),
        encode({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}),
    ],
    ids=["tools/list", "initialized", "unknown", "cancelled"],
)
def test_notifications_are_accepted_silently(server, http, watch, body):
    reply = post(http, server.url, body, LEGACY_HEADERS, what=label(body, 80))
    watch.check(reply)
    assert outcome(reply, tool_call=False) == ACCEPTED, reply


def test_tools_call_without_id_runs_nothing(server, http, watch):
    """A tools/call sent as a notification has nobody to report to: it must not run."""
    ok = call_tool(http, server.url, "clipboard_set", {"text": "before"}, era="legacy")
    assert outcome(ok) == SUCCESS, ok
    notification = encode(
        {
            "jsonrpc": "2.0",
            "method": "tools/call",
            "params": {"name": "clipboard_set", "arguments": {"text": "from a notification"}},
        }
    )
    reply = post(http, server.url, notification, LEGACY_HEADERS, what="tools/call without id")
    watch.check(reply)
    assert outcome(reply, tool_call=False) == ACCEPTED, reply
    time.sleep(0.3)
    clip = call_tool(http, server.url, "clipboard_get", {}, era="legacy")
    assert outcome(clip) == SUCCESS and first_text(clip) == "before", clip


MALFORMED_PARAMS = [
    ("tools/call", {"name": "mouse_move", "arguments": [1000, 400]}),
    ("tools/call", {"name": "mouse_move", "arguments": "x=1000"}),
    ("tools/call", {"name": "mouse_move", "arguments": 5}),
    ("tools/call", {"name": "mouse_move", "arguments": True}),
    ("tools/call", {"name": 5, "arguments": {}}),
    ("tools/call", {"name": None, "arguments": {}}),
    ("tools/call", {"name": {"tool": "mouse_move"}, "arguments": {}}),
    ("tools/call", {"arguments": {}}),
    ("tools/call", OMIT),
    ("resources/read", {"uri": 5}),
    ("resources/read", {}),
    ("initialize", {}),
]


@pytest.mark.parametrize(
    "method, params", MALFORMED_PARAMS, ids=[f"{m}-{label(p)}" for m, p in MALFORMED_PARAMS]
)
def test_malformed_params_are_invalid_params(server, http, watch, method, params):
    """JSON-RPC: params that do not fit a method that exists are -32602 Invalid params."""
    eras = ERAS if isinstance(params, dict) and method != "initialize" else ("legacy",)
    codes = {}
    for era in eras:
        request_id = next(_request_ids)
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        headers: dict[str, Any] = dict(LEGACY_HEADERS)
        if params is not OMIT:
            body["params"] = dict(params) if isinstance(params, dict) else params
        if era == "modern":
            body["params"]["_meta"] = MODERN_META
            headers = {"MCP-Protocol-Version": MODERN_VERSION, "Mcp-Method": method}
            if isinstance(params.get("name"), str):
                headers["Mcp-Name"] = params["name"]
        what = f"{method} {label(params)} [{era}]"
        reply = post(http, server.url, encode(body), headers, what=what, request_id=request_id)
        watch.check(reply)
        assert outcome(reply) == RPC_ERROR, reply
        error = parse_json(reply.body)["error"]
        codes[era] = (reply.status, error["code"], error["message"])
    assert all(code == -32602 for _, code, _ in codes.values()), codes


def modern_tool_call(meta: Any = MODERN_META, name: str = "clipboard_get") -> bytes:
    params: dict[str, Any] = {"name": name, "arguments": {}}
    if meta is not OMIT:
        params["_meta"] = meta
    return encode({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})


MODERN_HEADERS = {
    "MCP-Protocol-Version": MODERN_VERSION,
    "Mcp-Method": "tools/call",
    "Mcp-Name": "clipboard_get",
}

MODERN_GARBAGE = [
    ("no _meta", modern_tool_call(OMIT), {}, ()),
    ("_meta string", modern_tool_call("x"), {}, ()),
    ("_meta array", modern_tool_call([MODERN_META]), {}, ()),
    (
        "_meta version mismatch",
        modern_tool_call({**MODERN_META, "io.modelcontextprotocol/protocolVersion": "1999-01-01"}),
        {},
        (),
    ),
    (
        "_meta capabilities not an object",
        modern_tool_call({**MODERN_META, "io.modelcontextprotocol/clientCapabilities": 5}),
        {},
        (),
    ),
    ("no Mcp-Method", modern_tool_call(), {}, ("Mcp-Method",)),
    ("Mcp-Method mismatch", modern_tool_call(), {"Mcp-Method": "tools/list"}, ()),
    ("Mcp-Method garbage", modern_tool_call(), {"Mcp-Method": "\u00ff".encode("latin-1")}, ()),
    ("no Mcp-Name", modern_tool_call(), {}, ("Mcp-Name",)),
    ("Mcp-Name mismatch", modern_tool_call(), {"Mcp-Name": "app_list"}, ()),
    ("Mcp-Name bad base64", modern_tool_call(), {"Mcp-Name": "=?base64?!!!?="}, ()),
    ("Mcp-Name base64 of another", modern_tool_call(), {"Mcp-Name": header_value("app\0")}, ()),
    ("no MCP-Protocol-Version", modern_tool_call(), {}, ("MCP-Protocol-Version",)),
]


@pytest.mark.parametrize(
    "body, headers, drop", [c[1:] for c in MODERN_GARBAGE], ids=[c[0] for c in MODERN_GARBAGE]
)
def test_broken_2026_requests_are_refused(server, http, watch, body, headers, drop):
    reply = post(
        http, server.url, body, {**MODERN_HEADERS, **headers}, drop=drop,
        what=f"2026-07-28 tools/call {label(headers)} without {drop}", request_id=1,
    )
    watch.check(reply)
    assert outcome(reply) in {HTTP_ERROR, RPC_ERROR}, reply


def test_a_valid_2026_request_is_served(server, http, watch):
    """The control for the test above: the same request, unbroken."""
    reply = post(http, server.url, modern_tool_call(), MODERN_HEADERS, what="2026", request_id=1)
    watch.check(reply)
    assert outcome(reply) == SUCCESS, reply


def test_an_oversized_body_is_a_jsonrpc_error(server, http, watch):
    body = message(params={"pad": Big(BODY_LIMIT_EXCEEDED)})
    reply = post(http, server.url, body, LEGACY_HEADERS, what="10 MiB body", request_id=1)
    watch.check(reply)
    assert reply.status == 413, reply
    assert outcome(reply, tool_call=False) == RPC_ERROR, reply


# ----------------------------------------------------------------------------- HTTP headers

OK_OR_REFUSED = frozenset({SUCCESS, HTTP_ERROR, RPC_ERROR})
"""Unusual but arguably valid: served, or refused with a 4xx."""

HEADER_CASES = [
    ("no Content-Type", {}, ("Content-Type",), REFUSED),
    ("Content-Type empty", {"Content-Type": ""}, (), REFUSED),
    ("Content-Type text", {"Content-Type": "text/plain"}, (), REFUSED),
    ("Content-Type form", {"Content-Type": "application/x-www-form-urlencoded"}, (), REFUSED),
    ("Content-Type multipart", {"Content-Type": "multipart/form-data; boundary=x"}, (), REFUSED),
    ("Content-Type json-seq", {"Content-Type": "application/json-seq"}, (), REFUSED),
    ("Content-Type jsonx", {"Content-Type": "application/jsonx"}, (), REFUSED),
    ("Content-Type charset", {"Content-Type": "application/json; charset=utf-8"}, (), {SUCCESS}),
    ("Content-Type upper case", {"Content-Type": "APPLICATION/JSON"}, (), {SUCCESS}),
    ("no Accept", {}, ("Accept",), REFUSED),
    ("Accept empty", {"Accept": ""}, (), REFUSED),
    ("Accept html", {"Accept": "text/html"}, (), REFUSED),
    ("Accept any", {"Accept": "*/*"}, (), OK_OR_REFUSED),
    ("Accept JSON only", {"Accept": "application/json"}, (), OK_OR_REFUSED),
    ("Accept SSE only", {"Accept": "text/event-stream"}, (), OK_OR_REFUSED),
    ("Accept JSON q=0", {"Accept": "application/json;q=0, text/event-stream"}, (), OK_OR_REFUSED),
    ("version unknown", {"MCP-Protocol-Version": "1999-01-01"}, (), REFUSED),
    ("version future", {"MCP-Protocol-Version": "9999-12-31"}, (), REFUSED),
    ("version empty", {"MCP-Protocol-Version": ""}, (), REFUSED),
    ("version list", {"MCP-Protocol-Version": f"{LEGACY_VERSION}, {MODERN_VERSION}"}, (), REFUSED),
    ("version latin-1", {"MCP-Protocol-Version": b"\xff"}, (), REFUSED),
    ("version garbage", {"MCP-Protocol-Version": "../../etc/passwd"}, (), REFUSED),
    ("version 2026 without _meta", {"MCP-Protocol-Version": MODERN_VERSION}, (), REFUSED),
    ("Content-Encoding gzip (false)", {"Content-Encoding": "gzip"}, (), OK_OR_REFUSED),
    ("64 KiB header", {"X-Pad": "a" * 65_536}, (), OK_OR_REFUSED),
]


@pytest.mark.parametrize(
    "headers, drop, expect", [c[1:] for c in HEADER_CASES], ids=[c[0] for c in HEADER_CASES]
)
def test_header_garbage(server, http, watch, headers, drop, expect):
    reply = post(
        http, server.url, LIST_BYTES, {**LEGACY_HEADERS, **headers}, drop=drop,
        what=f"tools/list {label(headers)} without {drop}", request_id=1,
    )
    watch.check(reply)
    assert outcome(reply, tool_call=False) in expect, reply


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT", "PATCH", "OPTIONS", "TRACE", "BREW"])
def test_other_http_methods_are_refused(server, http, watch, method):
    reply = post(
        http, server.url, LIST_BYTES, LEGACY_HEADERS, what=f"{method} /mcp", method=method
    )
    watch.check(reply)
    assert 400 <= reply.status < 500, reply
    assert reply.body, reply


def test_head_is_refused(server, http, watch):
    reply = post(http, server.url, b"", LEGACY_HEADERS, what="HEAD /mcp", method="HEAD")
    watch.check(reply)
    assert 400 <= reply.status < 500, reply


def test_a_gzipped_body(server, http, watch):
    """Decompressed and served, or refused; never read as garbled JSON."""
    body = gzip.compress(LIST_BYTES)
    headers = {**LEGACY_HEADERS, "Content-Encoding": "gzip"}
    reply = post(http, server.url, body, headers, what="gzip body", request_id=1)
    watch.check(reply)
    assert outcome(reply, tool_call=False) in OK_OR_REFUSED, reply


# ----------------------------------------------------------------------------- HTTP framing


def exchange(
    server: Server, data: bytes, *, half_close: bool = False, wait: float = REQUEST_TIMEOUT
) -> bytes:
    """Sends `data` on a fresh connection and returns what comes back until the server closes
    it or `wait` seconds pass."""
    received = b""
    with socket.create_connection((server.host, server.port), timeout=wait) as conn:
        conn.sendall(data)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + wait
        try:
            while time.monotonic() < deadline:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                received += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    return received


def final_status(received: bytes) -> int | None:
    """The status of the final response in `received` (after any 1xx), if there is one."""
    statuses = [int(s) for s in re.findall(rb"^HTTP/1\.[01] (\d{3})", received, re.MULTILINE)]
    finals = [s for s in statuses if s >= 200]
    return finals[0] if finals else None


def framed(request_line: bytes, extra: bytes = b"", body: bytes = LIST_BYTES) -> bytes:
    headers = (
        b"Host: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\n"
    )
    length = b"" if b"Transfer-Encoding" in extra or b"Content-Length" in extra else (
        b"Content-Length: %d\r\n" % len(body)
    )
    return request_line + b"\r\n" + headers + extra + length + b"\r\n" + body


def chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


FRAMING_CASES = {
    "Content-Length not a number": framed(b"POST /mcp HTTP/1.1", b"Content-Length: abc\r\n"),
    "negative Content-Length": framed(b"POST /mcp HTTP/1.1", b"Content-Length: -5\r\n"),
    "conflicting Content-Lengths": framed(
        b"POST /mcp HTTP/1.1", b"Content-Length: 3\r\nContent-Length: 47\r\n"
    ),
    "binary request line": b"\x00\x01\x02garbage\r\n\r\n",
    "HTTP/0.9": b"GET /mcp\r\n\r\n",
    "HTTP/9.9": framed(b"POST /mcp HTTP/9.9"),
    "space in the path": framed(b"POST /m cp HTTP/1.1"),
    "obsolete line folding": framed(b"POST /mcp HTTP/1.1", b"X-Fold: a\r\n b\r\n"),
    "NUL in a header": framed(b"POST /mcp HTTP/1.1", b"X-Nul: a\x00b\r\n"),
    "500 headers": framed(
        b"POST /mcp HTTP/1.1", b"".join(b"X-H%d: v\r\n" % i for i in range(500))
    ),
    "100 kB target": framed(b"POST /mcp?" + b"a" * 100_000 + b" HTTP/1.1"),
    "Transfer-Encoding gzip": framed(b"POST /mcp HTTP/1.1", b"Transfer-Encoding: gzip\r\n"),
    "chunk size not hex": framed(
        b"POST /mcp HTTP/1.1", b"Transfer-Encoding: chunked\r\n", b"zz\r\nabc\r\n0\r\n\r\n"
    ),
    "chunk size over 64 bits": framed(
        b"POST /mcp HTTP/1.1",
        b"Transfer-Encoding: chunked\r\n",
        b"ffffffffffffffffff\r\n" + LIST_BYTES + b"\r\n0\r\n\r\n",
    ),
    "100 kB chunk extension": framed(
        b"POST /mcp HTTP/1.1",
        b"Transfer-Encoding: chunked\r\n",
        b"%x;" % len(LIST_BYTES) + b"e" * 100_000 + b"\r\n" + LIST_BYTES + b"\r\n0\r\n\r\n",
    ),
    "absolute-form target, foreign host": framed(b"POST http://evil.example.com/mcp HTTP/1.1"),
}


@pytest.mark.parametrize(
    "name, data",
    [pytest.param(name, data, id=name) for name, data in FRAMING_CASES.items()],
)
def test_broken_http_framing_is_a_client_error(server, watch, name, data):
    received = exchange(server, data)
    watch.check(name)
    status = final_status(received)
    assert status is not None and 400 <= status < 500, f"{name}: {received[:300]!r}"


def test_valid_but_unusual_framing_is_served(server, watch):
    """The controls: chunked, with trailers, HTTP/1.0, LF line ends, Expect: 100-continue."""
    requests = {
        "chunked": framed(
            b"POST /mcp HTTP/1.1", b"Transfer-Encoding: chunked\r\n", chunked(LIST_BYTES)
        ),
        "many chunks": framed(
            b"POST /mcp HTTP/1.1", b"Transfer-Encoding: chunked\r\n",
            chunked(*(LIST_BYTES[i : i + 1] for i in range(len(LIST_BYTES)))),
        ),
        "HTTP/1.0": framed(b"POST /mcp HTTP/1.0"),
        "LF only": framed(b"POST /mcp HTTP/1.1").replace(b"\r\n", b"\n"),
        "Expect": framed(b"POST /mcp HTTP/1.1", b"Expect: 100-continue\r\n"),
    }
    for name, data in requests.items():
        received = exchange(server, data)
        watch.check(name)
        assert final_status(received) == 200, f"{name}: {received[:300]!r}"


def test_a_body_cut_short_is_a_client_error(server, watch):
    """Content-Length promises more than arrives before the client stops sending."""
    data = framed(b"POST /mcp HTTP/1.1", b"Content-Length: 1000\r\n")
    received = exchange(server, data, half_close=True)
    watch.check("a body cut short")
    status = final_status(received)
    assert status is not None and 400 <= status < 500, received[:300]


def test_a_content_length_over_the_limit_is_refused_at_once(server, watch):
    data = framed(b"POST /mcp HTTP/1.1", b"Content-Length: 99999999999999\r\n")
    received = exchange(server, data, wait=2.0)
    watch.check("a 100 TB Content-Length")
    assert final_status(received) == 413, received[:300]


def test_stalled_uploads_do_not_block_others(server, http, watch):
    """Slowloris: connections that never finish their body must not stop other clients."""
    head = framed(b"POST /mcp HTTP/1.1", b"Content-Length: 100000\r\n", b"{")
    stalled = []
    try:
        for _ in range(64):
            conn = socket.create_connection((server.host, server.port), timeout=10)
            conn.sendall(head)
            stalled.append(conn)
        started = time.monotonic()
        reply = post(http, server.url, LIST_BYTES, LEGACY_HEADERS, what="tools/list", request_id=1)
        assert outcome(reply, tool_call=False) == SUCCESS, reply
        assert time.monotonic() - started < 5.0, "a stalled upload held up another client"
    finally:
        for conn in stalled:
            conn.close()
    watch.check("64 stalled uploads")


# ----------------------------------------------------------------------------- stdio


class StdioServer:
    """`agentdesk serve --stdio`, spoken to line by line with raw bytes."""

    def __init__(self, directory: Path):
        self.stderr = directory / "stderr.log"
        with open(self.stderr, "wb") as errors:
            self.process = subprocess.Popen(
                [agentdesk_bin(), "serve", "--stdio", "--data-dir", str(directory / "data")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                env={**os.environ, "NO_COLOR": "1"},
            )
        self.pending = b""
        self.tree: list[Proc] = []

    def send(self, line: bytes) -> None:
        self.process.stdin.write(line + b"\n")
        self.process.stdin.flush()

    def request(self, request_id: str, method: str, params: Any = OMIT) -> None:
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not OMIT:
            message["params"] = params
        self.send(encode(message))

    def until(self, request_id: Any, timeout: float = REQUEST_TIMEOUT) -> tuple[Any, list[dict]]:
        """Reads messages up to the answer to `request_id`: (that answer or None if it does not
        come, the messages before it). Every line must be a JSON-RPC message."""
        before: list[dict] = []
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.pending:
                line, self.pending = self.pending.split(b"\n", 1)
                message = parse_json(line)
                assert isinstance(message, dict) and message.get("jsonrpc") == "2.0", line[:300]
                if message.get("id") == request_id and ("result" in message or "error" in message):
                    return message, before
                before.append(message)
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.process.stdout], [], [], max(remaining, 0))
            if not ready:
                return None, before
            chunk = os.read(self.process.stdout.fileno(), 1 << 20)
            if not chunk:
                return None, before
            self.pending += chunk

    def panics(self) -> list[str]:
        text = self.stderr.read_text(errors="replace")
        return [line for line in text.splitlines() if "panicked" in line]

    def stop(self) -> list[str]:
        """Closes stdin; returns the problems (exit status, survivors, panics)."""
        problems = []
        self.process.stdin.close()
        try:
            status = self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait()
        if status != 0:
            problems.append(f"exited with status {status}")
        survivors = wait_gone(self.tree, timeout=10.0)
        kill_survivors(survivors)
        if survivors:
            problems.append(f"still running after the stdio server exited: {survivors}")
        self.process.stdout.close()
        return problems + self.panics()


@pytest.fixture(scope="module")
def stdio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StdioServer]:
    server = StdioServer(tmp_path_factory.mktemp("hostile-stdio"))
    try:
        server.request(
            "init",
            "initialize",
            {
                "protocolVersion": LEGACY_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "agentdesk-hostile", "version": "0"},
            },
        )
        reply, _ = server.until("init")
        assert reply is not None and "result" in reply, reply
        server.send(encode({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        me = read_proc(server.process.pid)
        server.tree = [me] + wait_for_desktop_processes(server.process.pid, timeout=10.0)
        yield server
    finally:
        problems = server.stop()
    assert not problems, problems


def stdio_tool_call(request_id: str, name: str, arguments: Any) -> bytes:
    params = {"name": name, "arguments": arguments}
    return encode({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})


STDIO_GARBAGE = [
    b"{not json",
    b"",
    b"   ",
    b"\x00\xff\xfe",
    b"null",
    b"5",
    b"[]",
    b"[1,2]",
    b"\xef\xbb\xbf" + encode({**LIST, "id": "bom"}),  # may be served: RFC 8259 allows it
    encode({"jsonrpc": "1.0", "id": "g1", "method": "tools/list"}),
    encode({"jsonrpc": "2.0", "id": "g2"}),
    encode({"jsonrpc": "2.0", "id": "g3", "result": {}}),
    stdio_tool_call("g4", "mouse_move", [1]),
    stdio_tool_call("g5", "nosuch", {}),
    stdio_tool_call("g6", "mouse_move", {"x": float("nan"), "y": 1}),
    deep(10_000),
    b"x" * BODY_LIMIT_EXCEEDED,
]


def test_stdio_survives_garbage(stdio):
    """After each bad line the server still answers the next request; anything it says in
    between is a JSON-RPC error."""
    for n, garbage in enumerate(STDIO_GARBAGE):
        stdio.send(garbage)
        stdio.request(f"after-{n}", "tools/list")
        reply, before = stdio.until(f"after-{n}")
        assert reply is not None and "result" in reply, f"no answer after {label(garbage)}"
        for message in before:
            served = message.get("id") == "bom" and "result" in message
            assert served or ("error" in message and message["error"].get("message")), message
        assert stdio.process.poll() is None, f"exited after {label(garbage)}"
    assert not stdio.panics()


@pytest.mark.parametrize(
    "name, argument", [("key_type", "text"), ("key_press", "keys"), ("app_launch", "command")]
)
def test_stdio_refuses_10_mib_commands(stdio, name, argument):
    """No body limit protects stdio: the tools' own bounds must."""
    stdio.send(stdio_tool_call("big", name, {argument: Big(BODY_LIMIT_EXCEEDED)}))
    reply, _ = stdio.until("big")
    assert reply is not None, f"no answer to a 10 MiB {name}"
    assert reply.get("result", {}).get("isError") is True, str(reply)[:300]


def test_stdio_refuses_a_10_mib_clipboard(stdio):
    stdio.send(stdio_tool_call("clip", "clipboard_set", {"text": Big(BODY_LIMIT_EXCEEDED)}))
    reply, _ = stdio.until("clip")
    assert reply is not None, "no answer to a 10 MiB clipboard_set"
    assert reply.get("result", {}).get("isError") is True, str(reply)[:300]


@pytest.mark.parametrize(
    "line",
    [b"{not json", stdio_tool_call("nan", "mouse_move", {"x": float("nan"), "y": 1})],
    ids=["not-json", "NaN-request"],
)
def test_stdio_answers_unparseable_lines(stdio, line):
    stdio.send(line)
    stdio.request("next", "tools/list")
    reply, before = stdio.until("next")
    assert reply is not None
    assert any(m.get("error", {}).get("code") == -32700 for m in before), before


def test_stdio_refuses_a_line_over_16_mib_and_goes_on(stdio):
    stdio.send(b'{"jsonrpc":"2.0","id":"huge","method":"tools/list","params":{"x":"'
               + b"a" * (17 * MIB) + b'"}}')
    stdio.request("after-huge", "tools/list")
    reply, before = stdio.until("after-huge")
    assert reply is not None and "result" in reply
    assert any(m.get("error", {}).get("code") == -32600 for m in before), before


def test_stdio_still_serves_after_the_garbage(stdio):
    stdio.send(stdio_tool_call("shot", "screen_shot", {"format": "png"}))
    reply, _ = stdio.until("shot")
    assert reply is not None and not reply["result"].get("isError"), str(reply)[:300]
    data = reply["result"]["content"][0]["data"]
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == SCREEN


# ----------------------------------------------------------------------------- afterwards


async def test_afterwards_the_server_still_serves_the_same_desktop(server, baseline, watch):
    """Last in this file: after everything above, the server still serves the same desktop."""
    await check_afterwards(server, baseline, watch)
