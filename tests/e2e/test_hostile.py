"""Hostile input: about 2,000 cases, some 4,000 malformed, oversized or malicious requests,
against the session's running server (and a few dozen lines against a stdio server of this
file's own), sent raw, as bytes over HTTP with httpx2 or lines over stdio, so that no client
library tidies them up on the way.

This file owns how agentdesk treats input that is wrong on purpose: wrong types for every
argument of every tool, extreme numbers, NaN and Infinity, control characters and lone
surrogates, 10 MiB strings, shell and path tricks, unknown tools, broken JSON-RPC envelopes, bad
headers and broken HTTP framing. An agent, a confused model or a hostile web page may send any
of it, and a server that panics, hangs, or quietly acts on nonsense takes the desktop down with
it. So every request must be answered, within REQUEST_TIMEOUT, with a clear refusal: a tool
error (isError and a message), a JSON-RPC error (code and message) or, for garbage below
JSON-RPC, a 4xx status; never a 5xx, never a malformed answer, never a panic. A valid but
extreme call may succeed instead if its effect is bounded (a clamped scroll, a capped tail),
which `check_bounded` checks. Afterwards the server must still serve, on the same desktop, and
must have started no process.

test_tools.py owns what the tools do with good input and their ordinary error messages;
test_transport.py owns the Origin and Host guards; test_security.py the tokens and limits.

The desktop is shared with the other files. Every point clicked lies on the empty desktop,
nothing typed or pressed holds Return, and the one app launched, `xterm -version`, exits at
once (app_status needs a real pid to be asked about).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import gzip
import io
import itertools
import json
import os
import re
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from PIL import Image

from conftest import (
    LEGACY_VERSION,
    MODERN_VERSION,
    MODES,
    SCREEN,
    TOOL_NAMES,
    Proc,
    Server,
    agentdesk_bin,
    connect,
    descendants,
    image,
    is_alive,
    kill_survivors,
    read_proc,
    wait_for_desktop_processes,
    wait_gone,
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
"""Over agentdesk's request body limit (8 MiB)."""
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


# ----------------------------------------------------------------------------- tool arguments

BASE_ARGUMENTS: dict[str, dict[str, Any]] = {
    "screen_shot": {
        "region": {"x": 0, "y": 0, "width": 8, "height": 8},
        "format": "png",
        "stabilize": False,
    },
    "mouse_move": {"x": 1000, "y": 400},
    "mouse_click": {"x": 1000, "y": 400, "button": "left"},
    "mouse_double_click": {"x": 1000, "y": 400, "button": "left"},
    "mouse_drag": {"from_x": 1000, "from_y": 400, "to_x": 1010, "to_y": 410, "button": "left"},
    "mouse_scroll": {"x": 700, "y": 500, "direction": "down", "amount": 1},
    "key_type": {"text": "", "secret": False},
    "key_press": {"keys": "ctrl"},
    "app_list": {},
    "app_launch": {"command": "no-such-app"},
    "app_status": {"pid": 0, "lines": 5},
    "clipboard_get": {},
    "clipboard_set": {"text": "", "secret": False},
}
"""Arguments for each tool into which the cases put one bad value. The points lie on the empty
desktop (right of where IceWM opens the first window, above the taskbar), so that even a bad
value taken for a good one would do no harm."""

REQUIRED = {
    "mouse_move": ["x", "y"],
    "mouse_click": ["x", "y"],
    "mouse_double_click": ["x", "y"],
    "mouse_drag": ["from_x", "from_y", "to_x", "to_y"],
    "mouse_scroll": ["x", "y"],
    "key_type": ["text"],
    "key_press": ["keys"],
    "app_launch": ["command"],
    "app_status": ["pid"],
    "clipboard_set": ["text"],
}

ENUM_VALUES = {"button": "left", "direction": "down", "format": "png"}


def argument_paths() -> Iterator[tuple[str, tuple[str, ...]]]:
    """(tool, path) of every argument, region's fields included: ("region", "width")."""
    for tool, arguments in BASE_ARGUMENTS.items():
        for name, value in arguments.items():
            yield tool, (name,)
            if isinstance(value, dict):
                for field in value:
                    yield tool, (name, field)


def kind_of(tool: str, path: tuple[str, ...]) -> str:
    value: Any = BASE_ARGUMENTS[tool]
    for key in path:
        value = value[key]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, dict):
        return "object"
    return "enum" if path[-1] in ENUM_VALUES else "string"


def with_value(tool: str, path: tuple[str, ...], value: Any) -> dict[str, Any]:
    arguments = copy.deepcopy(BASE_ARGUMENTS[tool])
    target = arguments
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return arguments


NOT_INTEGERS = [
    *("abc", "", " ", None, True, False, [], [1], {}, {"v": 1}),
    *(1.5, -0.5, "1.5", 5e-324, 1e18, 1e300, -1e300, 2**64, -(2**63) - 1, 10**30),
    *("NaN", "nan", "Infinity", "-inf", "1e400", "0x10", "1_000", "5 5", "5,", "5\0"),
    *("\u0663", "\uff19", "\u00b2"),  # ARABIC-INDIC THREE, FULLWIDTH NINE, SUPERSCRIPT TWO
]
"""Not integers at all, though some are numbers: every integer argument must refuse them."""

NOT_JSON_NUMBERS = [float("nan"), float("inf"), float("-inf")]
"""Written by json.dumps as the bare tokens NaN, Infinity and -Infinity, which are not JSON."""

EXTREME_INTEGERS = [
    *(-1, -(2**63), 2**63 - 1, 2**32, 2**31, 10**15, 8999999999999998.0),
    *("-1", "9223372036854775807", " -9223372036854775808 "),
]
"""Integers (as the lenient parser reads them) far outside any screen, pid or region."""

NOT_STRINGS = [5, -1, 1.5, True, None, ["a"], [], {"text": "a"}, {}]


def not_enums(value: str) -> list[Any]:
    return NOT_STRINGS + [
        "",
        value.upper(),
        value.title(),
        f" {value} ",
        f"{value}\0",
        f"\u202e{value}",
        "../x",
        "gif",
        {value: 5},
        [value],
        {value: None},
    ]


NOT_BOOLEANS = ["maybe", "", "2", 2, -1, 0.5, None, [True], {}, "true\0", "truee", "tru"]

NOT_REGIONS = [
    "0,0,8,8",
    5,
    True,
    [],
    [0, 0, 8],
    [0, 0, 8, 8, 8],
    [0, 0, "a", 8],
    {},
    {"x": 0, "y": 0, "width": 8},
    {"x": 0, "y": 0, "width": 8, "height": 8, "depth": 1},
    {"X": 0, "Y": 0, "WIDTH": 8, "HEIGHT": 8},
    {"x": 1279, "y": 0, "width": 2**63 - 1, "height": 8},
    {"x": 2**63 - 1, "y": 2**63 - 1, "width": 2**63 - 1, "height": 2**63 - 1},
    {"x": 0, "y": 0, "width": 0, "height": 8},
    {"x": 0, "y": 0, "width": 8, "height": -8},
    {"x": 0, "y": 0, "width": 1281, "height": 8},
    [0, 0, 8, 8],
]

WRONG_VALUES = {
    "integer": NOT_INTEGERS,
    "string": NOT_STRINGS,
    "boolean": NOT_BOOLEANS,
    "object": NOT_REGIONS,
}


def schema_properties(schema: dict) -> dict[str, dict]:
    """The properties of an object schema, looking into anyOf and oneOf (region is nullable)."""
    for alternative in [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]:
        if "properties" in alternative:
            return alternative["properties"]
    return {}


def test_the_cases_cover_every_argument_of_every_tool(server, http):
    """BASE_ARGUMENTS names every argument the server declares, so that a new argument gets
    its own share of hostile values; and kind_of agrees with the declared types."""
    reply = post(http, server.url, LIST_BYTES, LEGACY_HEADERS, what="tools/list", request_id=1)
    tools = {t["name"]: t["inputSchema"] for t in response_message(reply)["result"]["tools"]}
    assert set(tools) == set(BASE_ARGUMENTS)
    for tool, schema in tools.items():
        assert set(schema_properties(schema)) == set(BASE_ARGUMENTS[tool]), tool
        assert set(schema.get("required", [])) == set(REQUIRED.get(tool, [])), tool
    for tool, path in argument_paths():
        declared = schema_properties(tools[tool])[path[0]]
        if len(path) == 2:
            declared = schema_properties(declared)[path[1]]
        is_integer = declared.get("type") == "integer"
        assert is_integer == (kind_of(tool, path) == "integer"), (tool, path, declared)


def wrong_type_cases() -> Iterator[Any]:
    for tool, path in argument_paths():
        kind = kind_of(tool, path)
        values = not_enums(ENUM_VALUES[path[-1]]) if kind == "enum" else WRONG_VALUES[kind]
        for value in values:
            yield pytest.param(tool, path, value, id=f"{tool}.{'.'.join(path)}={label(value)}")


@pytest.mark.parametrize("tool, path, value", wrong_type_cases())
def test_wrong_types_are_refused(server, http, watch, tool, path, value):
    run(http, server, watch, tool, with_value(tool, path, value), REJECTED)


def integer_cases(values: list[Any]) -> Iterator[Any]:
    for tool, path in argument_paths():
        if kind_of(tool, path) == "integer":
            for value in values:
                yield pytest.param(tool, path, value, id=f"{tool}.{'.'.join(path)}={label(value)}")


@pytest.mark.parametrize("tool, path, value", integer_cases(NOT_JSON_NUMBERS))
def test_nan_and_infinity_are_refused(server, http, watch, tool, path, value):
    run(http, server, watch, tool, with_value(tool, path, value), REFUSED)


@pytest.mark.parametrize("tool, path, value", integer_cases(EXTREME_INTEGERS))
def test_extreme_integers_are_refused_or_clamped(server, http, watch, tool, path, value):
    if path == ("amount",):
        # GhostDesk clamps the scroll amount into 1..=5 rather than refusing it.
        run(http, server, watch, tool, with_value(tool, path, value), BOUNDED, eras=("modern",))
    else:
        # Coordinates off any screen, regions that do not fit, pids nobody launched.
        run(http, server, watch, tool, with_value(tool, path, value), REJECTED)


@pytest.mark.parametrize(
    "token",
    ["NaN", "-NaN", "Infinity", "+1", "01", "1.", ".5", "1e", "-", "--1", "0x10", "1_000"]
    + ["1e400", "-1e400", "undefined", "True", "None", "'5'", "5 5", "[5"],
)
def test_number_tokens_that_are_not_json_are_refused(server, http, watch, token):
    run(http, server, watch, "mouse_move", {"x": Raw(token), "y": 400}, REFUSED)


@pytest.mark.parametrize("token", ["-0", "1E2", "1e-400", "1000.000000000000000001", "0.1e4"])
def test_odd_but_valid_number_tokens(server, http, watch, token):
    """Valid JSON: whatever the lenient parser makes of it must stay on the screen."""
    run(http, server, watch, "mouse_move", {"x": Raw(token), "y": 400}, BOUNDED, eras=("legacy",))


@pytest.mark.parametrize("value", ["no", "off", "0", 0, "FALSE", " false "], ids=label)
def test_lenient_booleans(server, http, watch, value):
    """pydantic's lax booleans, as GhostDesk accepts them."""
    arguments = with_value("screen_shot", ("stabilize",), value)
    run(http, server, watch, "screen_shot", arguments, BOUNDED)


# ----------------------------------------------------------------------------- argument objects


def missing_argument_cases() -> Iterator[Any]:
    for tool, names in REQUIRED.items():
        for name in names:
            arguments = {k: v for k, v in BASE_ARGUMENTS[tool].items() if k != name}
            yield pytest.param(tool, arguments, id=f"{tool}-without-{name}")
        yield pytest.param(tool, {}, id=f"{tool}-empty")
        yield pytest.param(tool, None, id=f"{tool}-null")
        yield pytest.param(tool, OMIT, id=f"{tool}-omitted")
    for field in ("x", "y", "width", "height"):
        region = {k: v for k, v in BASE_ARGUMENTS["screen_shot"]["region"].items() if k != field}
        yield pytest.param("screen_shot", {"region": region}, id=f"region-without-{field}")


@pytest.mark.parametrize("tool, arguments", missing_argument_cases())
def test_missing_arguments_are_refused(server, http, watch, tool, arguments):
    run(http, server, watch, tool, arguments, REJECTED)


UNKNOWN_KEYS = ["bogus", "", "X", "__proto__", "constructor", "\0", "x\u202e", "k" * 10_000]
UNKNOWN_KEYS += ["\U0001f642", "x ", "$ref", "arguments", "_meta"]


@pytest.mark.parametrize("key", UNKNOWN_KEYS, ids=label)
@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_unknown_arguments_are_refused(server, http, watch, tool, key):
    run(http, server, watch, tool, {**BASE_ARGUMENTS[tool], key: 1}, REJECTED)


@pytest.mark.parametrize("arguments", [[], [1000, 400], "x", "", 5, 0, True, False], ids=label)
@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_arguments_that_are_not_an_object_are_refused(server, http, watch, tool, arguments):
    run(http, server, watch, tool, arguments, REJECTED)


# ----------------------------------------------------------------------------- strings

STRING_ARGUMENTS = {"key_type": "text", "key_press": "keys", "app_launch": "command"}
STRING_ARGUMENTS["clipboard_set"] = "text"

CONTROLS = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"]
CONTROLS += ["\x7f", "\x80", "\x85", "\x9b", "\x9f"]
"""C0 controls but the three that are whitespace in text, DEL and some C1 controls."""

LONE_SURROGATES = ["\ud800", "\udfff", "a\udc00b", "\udbff\udbff", "\udc00\ud800"]

ODD_UNICODE = [
    "\u202eexe.txt",  # RIGHT-TO-LEFT OVERRIDE
    "\u202b\u05d0\u05d1\u202c abc",  # embedding, Hebrew, pop
    "\ufeff",  # BYTE ORDER MARK
    "\u200b\u200c\u200d",  # zero widths
    "\ufffe\uffff",  # noncharacters
    "\U0010ffff",  # the last code point
    "\ue000\U000f0000",  # private use
    "\U000e0001\U000e0041",  # tags
    "e" + "\u0301" * 200,  # a pile of combining accents
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",  # a ZWJ sequence
    "\u2028\u2029",  # line and paragraph separators
    "\uff58\uff54\uff45\uff52\uff4d",  # fullwidth "xterm"
    "\u0445term",  # Cyrillic ha: a homoglyph of "xterm"
]

TYPEABLE_ODD_UNICODE = ["\u202eexe.txt", "\U0010ffff", "\ufffe\uffff", "\u200b"]
"""The few odd strings key_type really types (each into nothing: no window has the focus while
this file runs first, and none of them holds Return)."""


def string_cases() -> Iterator[Any]:
    def case(tool: str, value: Any, expect: frozenset[str], what: str, eras=ERAS):
        return pytest.param(tool, value, expect, eras, id=f"{tool}-{what}-{label(value, 24)}")

    alternate = itertools.cycle(ERAS)
    for tool in STRING_ARGUMENTS:
        data = tool == "clipboard_set"  # the clipboard takes any text; the others are commands
        empty_ok = tool in ("key_type", "clipboard_set")
        yield case(tool, "", BOUNDED if empty_ok else REJECTED, "empty")
        if tool != "key_type":  # key_type would press Tab
            yield case(tool, " \t ", BOUNDED if data else REJECTED, "blank")
        for c in CONTROLS:
            if tool == "app_launch":
                value = f"xterm{c}-version"  # were it split there, xterm -version exits at once
            else:
                value = f"ctrl+{c}" if tool == "key_press" else f"a{c}b"
            yield case(tool, value, BOUNDED if data else REJECTED, f"U+{ord(c):04X}")
        for value in LONE_SURROGATES:
            yield case(tool, value, REFUSED, "surrogate")
        for value in ODD_UNICODE:
            if tool == "app_launch":
                yield case(tool, value, REJECTED, "unicode")
            elif data:
                yield case(tool, value, BOUNDED, "unicode")
            elif tool == "key_press" or value in TYPEABLE_ODD_UNICODE:
                # Each key that is pressed costs a reaction wait: one era each.
                yield case(tool, value, BOUNDED, "unicode", (next(alternate),))
        yield case(tool, Big(BODY_LIMIT_EXCEEDED), REFUSED, "huge")
        yield case(tool, Big(UNDER_BODY_LIMIT), BOUNDED if data else REJECTED, "large")
    # Just past each command's own bound.
    yield case("key_type", "x" * 10_001, REJECTED, "over-bound")
    yield case("key_press", "a+" * 128 + "a", REJECTED, "over-bound")
    yield case("app_launch", "no-such-app " + "a" * 4096, REJECTED, "over-bound")
    for value in ("ctrl+ ", "ctrl+\t", "shift+\n"):
        yield case("key_press", value, REJECTED, "blank-key")


@pytest.mark.parametrize("tool, value, expect, eras", string_cases())
def test_hostile_strings(server, http, watch, tool, value, expect, eras):
    run(http, server, watch, tool, {STRING_ARGUMENTS[tool]: value}, expect, eras)


# ----------------------------------------------------------------------------- paths and shells

HOSTILE_COMMANDS = [
    *("../../bin/sh", "/bin/sh", "sh", "bash -i", "sh -c 'id'", "/bin/sh -c id"),
    *("firefox; rm -rf /", "firefox-esr; rm -rf /", "$(id)", "`id`", "; id", "| id", "&& id"),
    *("> /tmp/agentdesk-hostile", "< /etc/passwd", "../xterm", "/usr/bin/../bin/sh"),
    *("/proc/self/exe", "/proc/1/root/bin/sh", "~/bin/sh", "file:///bin/sh", "${SHELL}"),
    *("C:\\Windows\\System32\\cmd.exe", "%COMSPEC%", "env sh", "/usr/bin/env sh"),
    *("python3 -c 'import os; os.system(\"id\")'", "agentdesk serve", "Xvnc :9"),
    *("icewm --replace", "dbus-daemon --session", "kill -9 1", "pkill Xvnc"),
    *("xdg-open /etc/passwd", "xterm;", "xterm|id", "xterm&", "xterm$(id)", "'xterm", "xterm\\"),
    *('""', "''"),
]
"""Commands app_launch must refuse. None begins with a word whose file name is an app (a path
to "xterm" would launch the real xterm, by design)."""

HOSTILE_PIDS = ["../../etc/passwd", "/proc/self/status", "1; id", "$(id)", "1 OR 1=1", "*"]
HOSTILE_PIDS += ["%d", "1/0", "pid", "-0x1", "1e9999"]

HOSTILE_FORMATS = ["../x", "png/../../x", "/etc/passwd", "png\0", "png ", "PNG", "image/png"]
HOSTILE_FORMATS += ["", "bmp", "gif", "svg", "webp;png", "p\u202eng", "file:///x.png", "png\njpeg"]

def path_cases() -> Iterator[Any]:
    for command in HOSTILE_COMMANDS:
        yield pytest.param("app_launch", {"command": command}, id=f"app_launch-{label(command)}")
    for pid in HOSTILE_PIDS:
        yield pytest.param("app_status", {"pid": pid}, id=f"app_status-{label(pid)}")
    for fmt in HOSTILE_FORMATS:
        yield pytest.param("screen_shot", {"format": fmt}, id=f"screen_shot-{label(fmt)}")


@pytest.mark.parametrize("tool, arguments", path_cases())
def test_paths_and_shell_tricks_are_refused(server, http, watch, tool, arguments):
    run(http, server, watch, tool, arguments, REJECTED)


@pytest.fixture(scope="module")
def exited_app(server: Server, http: httpx2.Client) -> int:
    """The pid of an `xterm -version` launched here and already gone: a real app for app_status
    to report on, which leaves nothing on the desktop."""
    reply = call_tool(http, server.url, "app_launch", {"command": "xterm -version"}, era="legacy")
    assert outcome(reply) == SUCCESS, reply
    pid = json.loads(first_text(reply))["pid"]
    deadline = time.monotonic() + 15
    while True:
        status = call_tool(http, server.url, "app_status", {"pid": pid, "lines": 1}, era="legacy")
        if outcome(status) == SUCCESS and not json.loads(first_text(status))["running"]:
            return pid
        assert time.monotonic() < deadline, f"xterm -version is still running: {status}"
        time.sleep(0.1)


@pytest.mark.parametrize(
    "lines", [-1, -(2**63), 0, 2**63 - 1, 10**12, "1e9", 1e15, " 7 "], ids=label
)
def test_app_status_lines_are_bounded(server, http, watch, exited_app, lines):
    run(http, server, watch, "app_status", {"pid": exited_app, "lines": lines}, BOUNDED)


@pytest.mark.parametrize("lines", NOT_INTEGERS, ids=label)
def test_app_status_lines_of_a_real_app_must_be_integers(server, http, watch, exited_app, lines):
    run(http, server, watch, "app_status", {"pid": exited_app, "lines": lines}, REJECTED)


# ----------------------------------------------------------------------------- tool names

HOSTILE_TOOL_NAMES = [
    *("", " ", "nosuch", "screen_shot ", " screen_shot", "SCREEN_SHOT", "Screen_Shot"),
    *("screen-shot", "screenshot", "screen_shot\0", "screen_shot\n", "../screen_shot"),
    *("./screen_shot", "tools/screen_shot", "tools/list", "\u202escreen_shot", "screen\u200bshot"),
    "\u0455creen_shot",  # Cyrillic dze: a homoglyph of "s"
    *("\U0001f642", "%s%s%s%n", "{{7*7}}", "' OR 1=1 --", "${jndi:ldap://127.0.0.1/x}"),
    *("x" * 10_000, "screen_shot" + "\0" * 1000),
    *(None, 5, True, [], {}, ["screen_shot"], {"name": "screen_shot"}),
]

@pytest.mark.parametrize("name", HOSTILE_TOOL_NAMES, ids=label)
def test_unknown_tools_are_refused(server, http, watch, name):
    run(http, server, watch, name, {}, REJECTED)


@pytest.mark.parametrize("name", LONE_SURROGATES + [Big(BODY_LIMIT_EXCEEDED)], ids=label)
def test_unencodable_and_huge_tool_names_are_refused(server, http, watch, name):
    run(http, server, watch, name, {}, REFUSED)


# ----------------------------------------------------------------------------- model space

MODEL_SPACES: list[Any] = ["", "0", "-1", "1e3", "1000.5", "NaN", "inf", "99999999999999999999"]
MODEL_SPACES += ["1000001", "4294967296", "1000, 2000", "1000 1000", "0x3e8", "+1000"]
MODEL_SPACES += ["\u0661\u0660\u0660\u0660".encode(), b"\xff\xfe", "1" * 5000]


@pytest.mark.parametrize("space", MODEL_SPACES, ids=label)
def test_model_space_header_garbage(server, http, watch, space):
    """Whatever the header says, (2000000, 2000000) is off the screen and outside any model
    space the server accepts (at most 1000000)."""
    point = {"x": 2_000_000, "y": 2_000_000}
    headers = {"GhostDesk-Model-Space": space}
    run(http, server, watch, "mouse_move", point, REJECTED, extra_headers=headers)


@pytest.mark.parametrize(
    "query",
    ["model_space=-1", "model_space=%00", "model_space=" + "9" * 5000, "model_space",
     "model_space=1000&model_space=-1", "=&&&", "model_space=%FF%FE", "a=" + "b" * 20_000],
    ids=label,
)
def test_model_space_query_garbage(server, http, watch, query):
    url = f"{server.url}?{query}"
    for era in ERAS:
        body, headers, request_id, what = tool_request(
            "mouse_move", {"x": 2_000_000, "y": 2_000_000}, era
        )
        what = f"{what} ?{label(query)}"
        reply = post(http, url, body, headers, what=what, request_id=request_id)
        watch.check(reply)
        assert outcome(reply) in REFUSED, reply


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
    ("deep arguments", MOVE_ARGS_PREFIX + b'"arguments":{"x":' + deep(10_000) + b',"y":1}}}'),
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


async def test_a_burst_of_hostile_calls_at_once(server, watch):
    """300 bad calls at the same time, over 64 connections: each is refused, none is lost."""
    integers = [(tool, path) for tool, path in argument_paths() if kind_of(tool, path) == "integer"]
    cases = itertools.product(integers, NOT_INTEGERS)
    requests = [
        tool_request(tool, with_value(tool, path, value), ERAS[i % 2])
        for i, ((tool, path), value) in enumerate(itertools.islice(cases, 300))
    ]
    limits = httpx2.Limits(max_connections=64)
    async with httpx2.AsyncClient(timeout=REQUEST_TIMEOUT, limits=limits) as client:

        async def one(body, headers, request_id, what):
            headers = {**JSON_HEADERS, **headers}
            response = await client.post(server.url, content=body, headers=headers)
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            return Reply(what, response.status_code, media_type, response.content, request_id)

        started = time.monotonic()
        replies = await asyncio.gather(*(one(*r) for r in requests))
    watch.check("the burst")
    for reply in replies:
        assert outcome(reply) in REJECTED, reply
    assert time.monotonic() - started < REQUEST_TIMEOUT


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


def test_stdio_still_serves_after_the_garbage(stdio):
    stdio.send(stdio_tool_call("shot", "screen_shot", {"format": "png"}))
    reply, _ = stdio.until("shot")
    assert reply is not None and not reply["result"].get("isError"), str(reply)[:300]
    data = reply["result"]["content"][0]["data"]
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == SCREEN


# ----------------------------------------------------------------------------- afterwards


async def test_afterwards_the_server_still_serves_the_same_desktop(server, baseline, watch):
    """Last in this file: after everything above, the server runs, has never panicked, serves
    both eras through the SDK, still shows the same desktop, and started nothing new."""
    watch.check("everything")
    assert server.process.poll() is None
    dead = [p for p in server.children if not is_alive(p)]
    assert not dead, f"desktop processes gone: {dead}"
    health = healthz(server)
    assert health["desktop"] == "running" and health["display"] == baseline.display, health
    for mode in MODES:
        async with connect(server.url, mode=mode) as client:
            tools = (await client.list_tools()).tools
            assert [t.name for t in tools] == TOOL_NAMES
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
