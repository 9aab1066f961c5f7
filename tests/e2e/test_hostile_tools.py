"""Hostile tool arguments, against the session's running server: wrong types for every argument
of every tool, extreme numbers, NaN and Infinity, missing and unknown keys, control characters and
lone surrogates, 10 MiB strings, shell and path tricks, unknown tool names and model-space
garbage (about 1,500 cases). The machinery is in hostile.py; envelopes, HTTP and stdio are
test_hostile_protocol.py's.

An agent, a confused model or a hostile web page may send any of it, and a server that panics,
hangs, or quietly acts on nonsense takes the desktop down with it. test_tools.py owns what the
tools do with good input; test_security.py the tokens and limits.

The desktop is shared with the other files. Every point clicked lies on the empty desktop,
nothing typed or pressed holds Return, and the one app launched, `xterm -version`, exits at
once (app_status needs a real pid to be asked about).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from conftest import (
    TOOL_NAMES,
    Server,
)
from hostile import (
    BODY_LIMIT_EXCEEDED,
    BOUNDED,
    ERAS,
    JSON_HEADERS,
    LEGACY_HEADERS,
    LIST_BYTES,
    OMIT,
    REFUSED,
    REJECTED,
    REQUEST_TIMEOUT,
    SUCCESS,
    UNDER_BODY_LIMIT,
    baseline,
    Big,
    call_tool,
    check_afterwards,
    first_text,
    http,
    label,
    outcome,
    post,
    Raw,
    Reply,
    response_message,
    run,
    tool_request,
    watch,
)


# ----------------------------------------------------------------------------- tool arguments


@pytest.fixture(scope="module")
def server(server: Server) -> Server:
    """The session's server, through the default desktop's own endpoint: GhostDesk's tools
    exactly, as a GhostDesk client sees them. (/mcp's fleet tools and `desktop` argument get
    their hostile values in test_fleet.py.)"""
    return dataclasses.replace(server, url=f"{server.base}/desktops/default/mcp")


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
    "help_request": {"message": "hostile-input test: nothing to do"},
    "help_status": {"wait_seconds": 0},
    "screen_find_text": {
        "text": "hostile",
        "region": {"x": 1000, "y": 400, "width": 8, "height": 8},
        "exact": False,
        "limit": 5,
        "source": "ocr",
    },
    "screen_read_text": {"region": {"x": 1000, "y": 400, "width": 8, "height": 8}, "max_lines": 5,
                         "source": "ocr"},
    "screen_zoom": {"region": {"x": 1000, "y": 400, "width": 8, "height": 8}, "scale": 2,
                    "format": "png"},
    "window_list": {"title": "no-such-window", "app": "no-such-app"},
    "window_action": {"action": "move", "window": 1, "title": "no-such-window",
                      "app": "no-such-app", "x": 1000, "y": 400, "width": 10, "height": 10},
    "ui_tree": {"window": "no-such-window", "app": "no-such-app", "max_nodes": 5, "max_depth": 3},
    "ui_find": {"role": "push button", "name": "no-such-node", "window": "no-such-window",
                "app": "no-such-app", "limit": 5},
    "ui_action": {"id": "1.0/0", "action": "focus", "text": "", "secret": False},
    "browser_page_map": {"window": "no-such-window"},
    "browser_navigate": {"url": "about:blank", "window": "no-such-window"},
    "batch": {"actions": [{"action": "mouse_move", "x": 1000, "y": 400}], "screenshot": False},
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
    "help_request": ["message"],
    "screen_find_text": ["text"],
    "screen_zoom": ["region"],
    "window_action": ["action"],
    "ui_action": ["id", "action"],
    "browser_navigate": ["url"],
    "batch": ["actions"],
}

ENUM_VALUES = {"button": "left", "direction": "down", "format": "png", "action": "move",
               "source": "ocr"}


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
STRING_ARGUMENTS["help_request"] = "message"

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
            elif tool in ("key_press", "help_request") or value in TYPEABLE_ODD_UNICODE:
                # Each key that is pressed costs a reaction wait: one era each.
                yield case(tool, value, BOUNDED, "unicode", (next(alternate),))
        yield case(tool, Big(BODY_LIMIT_EXCEEDED), REFUSED, "huge")
        yield case(tool, Big(UNDER_BODY_LIMIT), BOUNDED if data else REJECTED, "large")
    # Just past each command's own bound.
    yield case("key_type", "x" * 10_001, REJECTED, "over-bound")
    yield case("key_press", "a+" * 128 + "a", REJECTED, "over-bound")
    yield case("app_launch", "no-such-app " + "a" * 4096, REJECTED, "over-bound")
    yield case("help_request", "x" * 2001, REJECTED, "over-bound")
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


# ----------------------------------------------------------------------------- afterwards


async def test_afterwards_the_server_still_serves_the_same_desktop(server, baseline, watch):
    """Last in this file: after everything above, the server still serves the same desktop."""
    await check_afterwards(server, baseline, watch)
