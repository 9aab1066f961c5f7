"""The GhostDesk-compatible tools (and ours after them), driven through the official Python MCP
SDK against a real desktop (Xvnc + IceWM) run by one agentdesk server."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import MCPError

from conftest import (
    FLEET_TOOL_NAMES,
    SCREEN,
    TOOL_NAMES,
    avoid_minute_boundary,
    connect,
    error_text,
    feedback,
    image,
    ok_text,
    poll,
    shot,
    texts,
    type_in_terminal,
    wait_for_file,
)

# ----------------------------------------------------------------------------- tools/list


def integer_schemas(schema: Any):
    """Every subschema (at any depth) whose type is or includes "integer"."""
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
            yield schema
        for value in schema.values():
            yield from integer_schemas(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from integer_schemas(value)


async def test_tools_list(server, mode):
    """A desktop's own endpoint serves GhostDesk's tools exactly, then ours; /mcp adds the fleet tools
    and an optional `desktop` argument to each desktop tool."""
    async with connect(server.url, mode=mode) as mcp:
        main = (await mcp.list_tools()).tools
    assert [t.name for t in main] == TOOL_NAMES + FLEET_TOOL_NAMES
    for tool in main[: len(TOOL_NAMES)]:
        assert tool.input_schema["properties"]["desktop"]["type"] == "string", tool.name
        assert "desktop" not in tool.input_schema.get("required", []), tool.name
    async with connect(f"{server.base}/desktops/default/mcp", mode=mode) as mcp:
        tools = (await mcp.list_tools()).tools
        assert [t.name for t in tools] == TOOL_NAMES
        by_name = {t.name: t for t in tools}
        assert all("desktop" not in t.input_schema["properties"] for t in tools)

        for tool in tools:
            schema = tool.input_schema
            assert schema["type"] == "object", tool.name
            # Misspelt arguments are errors, so every schema says so.
            assert schema.get("additionalProperties") is False, tool.name
            assert "$ref" not in json.dumps(schema), tool.name
            for sub in integer_schemas(schema):
                assert "format" not in sub, f"{tool.name}: integer schema with a format: {sub}"
            assert tool.description, tool.name
            assert tool.annotations is not None, tool.name
            assert tool.annotations.read_only_hint is not None, tool.name

        for no_args in ("app_list", "clipboard_get"):
            schema = by_name[no_args].input_schema
            assert schema["properties"] == {}, schema
            assert schema["additionalProperties"] is False
            assert not schema.get("required")

        assert list(integer_schemas(by_name["mouse_click"].input_schema)), "x and y are integers"
        assert by_name["mouse_click"].input_schema["required"] == ["x", "y"]
        assert by_name["screen_shot"].annotations.read_only_hint is True
        assert by_name["app_list"].annotations.read_only_hint is True
        assert by_name["clipboard_get"].annotations.read_only_hint is True
        assert by_name["mouse_click"].annotations.read_only_hint is False
        assert by_name["mouse_click"].annotations.destructive_hint is True
        # The tools whose results carry structuredContent declare its shape.
        assert by_name["app_list"].output_schema["properties"]["result"]["type"] == "array"
        for name in ("clipboard_get", "clipboard_set"):
            assert by_name[name].output_schema["properties"]["result"] == {"type": "string"}


# ----------------------------------------------------------------------------- screen_shot


async def test_screen_shot_default_is_full_screen_webp(server, mode):
    async with connect(server.url, mode=mode) as mcp:
        img = image(await mcp.call_tool("screen_shot", {}), "image/webp")
        assert img.size == SCREEN


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
async def test_screen_shot_formats(server, fmt):
    async with connect(server.url) as mcp:
        result = await mcp.call_tool("screen_shot", {"format": fmt})
        assert image(result, f"image/{fmt}").size == SCREEN


async def test_screen_shot_region_is_a_crop(server):
    async with connect(server.url) as mcp:
        region = {"x": 100, "y": 50, "width": 300, "height": 200}
        cropped = image(await mcp.call_tool("screen_shot", {"region": region}), "image/webp")
        assert cropped.size == (300, 200)

        # The crop holds exactly the pixels of the full screen there (both lossless). Retried in
        # case something redraws between the two captures.
        for _ in range(3):
            part = await shot(mcp, region=region)
            full = await shot(mcp)
            if part.tobytes() == full.crop((100, 50, 400, 250)).tobytes():
                break
        else:
            pytest.fail("the region screenshot differs from the same area of a full screenshot")
        assert part.size == (300, 200)


async def test_screen_shot_region_in_model_space(server, mode):
    async with connect(server.url, mode=mode, headers={"GhostDesk-Model-Space": "1000"}) as c:
        region = {"x": 0, "y": 0, "width": 500, "height": 500}
        img = image(await c.call_tool("screen_shot", {"region": region}), "image/webp")
        # Half of each axis of a 1280x800 screen.
        assert img.size == (640, 400)


@pytest.mark.parametrize(
    "region",
    [
        {"x": 1200, "y": 700, "width": 300, "height": 200},
        {"x": -1, "y": 0, "width": 10, "height": 10},
        {"x": 0, "y": 0, "width": 1281, "height": 800},
    ],
)
async def test_screen_shot_region_outside_screen(server, region):
    async with connect(server.url) as mcp:
        message = error_text(await mcp.call_tool("screen_shot", {"region": region}))
        assert "1280x800" in message
        assert "x+width <= 1280" in message and "y+height <= 800" in message


async def test_screen_shot_empty_region(server):
    async with connect(server.url) as mcp:
        region = {"x": 10, "y": 10, "width": 0, "height": 10}
        message = error_text(await mcp.call_tool("screen_shot", {"region": region}))
        assert "empty" in message and "at least 1" in message


# ----------------------------------------------------------------------------- apps


async def test_app_list(server, mode):
    async with connect(server.url, mode=mode) as mcp:
        result = await mcp.call_tool("app_list", {})
        assert not result.is_error
        entries = [json.loads(t) for t in texts(result)]
        assert len(entries) == len(result.content), "one text block per app"
        assert entries, "no applications listed"
        for entry in entries:
            assert set(entry) == {"name", "exec"}, entry
            assert entry["name"] and entry["exec"]
        assert result.structured_content == {"result": entries}
        assert "xterm" in [e["exec"] for e in entries]


async def test_app_launch_and_status(server, terminal):
    async with connect(server.url) as mcp:
        launched = terminal.launched
        assert set(launched) == {"pid", "log_file", "action"}, launched
        assert launched["action"] == "Launched: xterm"
        assert isinstance(launched["pid"], int) and launched["pid"] > 0
        assert launched["log_file"].startswith(str(server.data_dir)), launched["log_file"]

        status = json.loads(ok_text(await mcp.call_tool("app_status", {"pid": terminal.pid})))
        assert set(status) == {"pid", "running", "log_file", "tail"}, status
        assert status["pid"] == terminal.pid
        assert status["running"] is True
        assert status["log_file"] == launched["log_file"]
        assert isinstance(status["tail"], str)

        status = json.loads(
            ok_text(await mcp.call_tool("app_status", {"pid": terminal.pid, "lines": 1}))
        )
        assert status["running"] is True


async def test_app_status_of_an_app_that_exited(server):
    """An app's output goes to its log; app_status shows its newest lines once it has exited."""
    async with connect(server.url) as mcp:
        launched = json.loads(
            ok_text(await mcp.call_tool("app_launch", {"command": "xterm -version"}))
        )
        assert launched["action"] == "Launched: xterm -version"
        pid = launched["pid"]
        status = {}

        async def exited():
            nonlocal status
            result = await mcp.call_tool("app_status", {"pid": pid, "lines": 5})
            status = json.loads(ok_text(result))
            return not status["running"] and "XTerm(" in status["tail"]

        await poll(exited, timeout=10.0, what="xterm -version to exit", seen=lambda: repr(status))
        assert status["log_file"] == launched["log_file"]
        assert "XTerm(" in Path(status["log_file"]).read_text()
        status = json.loads(ok_text(await mcp.call_tool("app_status", {"pid": pid, "lines": 0})))
        assert status["running"] is False and status["tail"] == ""


async def test_app_launch_rejects_commands_not_in_app_list(server):
    async with connect(server.url) as mcp:
        result = await mcp.call_tool("app_launch", {"command": "bash -c id"})
        body = json.loads(error_text(result))
        assert set(body) == {"error"}, body
        assert "bash" in body["error"]
        assert "app_list" in body["error"]
        assert "xterm" in body["error"], "the error names the apps that are allowed"


async def test_app_status_of_unknown_pid(server):
    async with connect(server.url) as mcp:
        result = await mcp.call_tool("app_status", {"pid": 999999})
        body = json.loads(error_text(result))
        assert set(body) == {"error"}, body
        assert "999999" in body["error"] and "app_launch" in body["error"]


# ----------------------------------------------------------------------------- typing


async def test_type_into_terminal(server, terminal, desk_tmp):
    async with connect(server.url) as mcp:
        out = desk_tmp / "typed.txt"
        command = f"echo agentdesk-e2e-$((6*7)) > {out}"
        typed = await type_in_terminal(mcp, command)
        assert typed["action"] == f"Typed {len(command) + 1} characters"
        assert typed["screen_changed"] is True, "typing into a focused terminal must show"
        await wait_for_file(out, "agentdesk-e2e-42")


async def test_type_unicode_into_terminal(server, terminal, desk_tmp):
    """Characters that are on no US keyboard still arrive (agentdesk maps keysyms itself)."""
    async with connect(server.url) as mcp:
        out = desk_tmp / "unicode.txt"
        text = "héllo–你好✓ a😀b"
        typed = await type_in_terminal(mcp, f"echo '{text}' > {out}")
        assert typed["screen_changed"] is True
        await wait_for_file(out, text)


# ----------------------------------------------------------------------------- clipboard


@pytest.mark.parametrize(
    "text", ["héllo – 你好 ✓", "emoji 😀 outside the BMP\nline two\tand a tab"]
)
async def test_clipboard_round_trip(server, mode, text):
    async with connect(server.url, mode=mode) as mcp:
        result = await mcp.call_tool("clipboard_set", {"text": text})
        expected = f"Clipboard set ({len(text)} characters)"  # len() counts code points
        assert ok_text(result) == expected
        assert result.structured_content == {"result": expected}

        result = await mcp.call_tool("clipboard_get", {})
        assert ok_text(result) == text
        assert result.structured_content == {"result": text}


async def clipboard_text(client) -> str:
    result = await client.call_tool("clipboard_get", {})
    assert result.structured_content == {"result": ok_text(result)}
    return ok_text(result)


async def test_clipboard_copy_from_terminal(server, terminal):
    async with connect(server.url) as mcp:
        ok_text(await mcp.call_tool("clipboard_set", {"text": "before the copy"}))
        await type_in_terminal(mcp, "printf 'copied-from-xterm' | xclip -selection clipboard")

        last = None

        async def copied():
            nonlocal last
            last = await clipboard_text(mcp)
            return last == "copied-from-xterm"

        await poll(
            copied,
            timeout=15.0,
            what="xclip's copy to reach clipboard_get",
            seen=lambda: repr(last),
        )
        # Take the clipboard back so that xclip, which serves it until then, exits.
        ok_text(await mcp.call_tool("clipboard_set", {"text": "after the copy"}))


def big_text() -> str:
    """1,000,000 code points, mixing ASCII and multi-byte characters, newlines and tabs."""
    unit = ("The quick brown fox\tjumps over the lazy dog 0123456789\n" * 20)[:965]
    unit += "é–你好✓😀ß" * 5  # 35 more code points, 1000 in all
    assert len(unit) == 1000
    text = unit * 1000
    assert len(text) == 1_000_000
    return text


async def test_clipboard_large(server):
    async with connect(server.url) as mcp:
        text = big_text()
        assert ok_text(await mcp.call_tool("clipboard_set", {"text": text})) == (
            "Clipboard set (1000000 characters)"
        )
        result = await mcp.call_tool("clipboard_get", {})
        assert ok_text(result) == text
        assert result.structured_content == {"result": text}


async def test_clipboard_large_is_readable_by_other_x_clients(server, terminal, desk_tmp):
    """The big clipboard really is on the X CLIPBOARD selection: another client (xclip, in the
    desktop's terminal) reads it byte for byte."""
    async with connect(server.url) as mcp:
        text = big_text()
        ok_text(await mcp.call_tool("clipboard_set", {"text": text}))
        out = desk_tmp / "paste.sha256"
        # Written to a temporary name first, so that the file never holds a partial hash.
        pipeline = "xclip -selection clipboard -o | sha256sum | cut -d' ' -f1"
        await type_in_terminal(mcp, f"{pipeline} > {out}.tmp && mv {out}.tmp {out}")
        await wait_for_file(out, hashlib.sha256(text.encode()).hexdigest())


async def test_clipboard_large_copied_by_other_x_clients(server, terminal, desk_tmp):
    """And clipboard_get reads a big selection another client owns."""
    async with connect(server.url) as mcp:
        text = big_text().replace("0123456789", "9876543210")
        source = desk_tmp / "copy.txt"
        source.write_text(text)
        ok_text(await mcp.call_tool("clipboard_set", {"text": "before the big copy"}))
        await type_in_terminal(mcp, f"xclip -selection clipboard -i {source}")

        last = None

        async def copied():
            nonlocal last
            last = await clipboard_text(mcp)
            return last == text

        await poll(
            copied,
            timeout=20.0,
            interval=0.25,
            what="the 1 MB copy from xclip",
            seen=lambda: f"{len(last)} characters starting {last[:40]!r}",
        )
        ok_text(await mcp.call_tool("clipboard_set", {"text": "after the big copy"}))


# ----------------------------------------------------------------------------- model space


async def test_model_space_header(server, mode):
    async with connect(server.url, mode=mode, headers={"GhostDesk-Model-Space": "1000"}) as c:
        moved = feedback(await c.call_tool("mouse_move", {"x": 500, "y": 500}))
        assert moved["action"] == "Moved cursor to (640, 400)"
        # 0..=1000 inclusive: the far edge is the last pixel.
        moved = feedback(await c.call_tool("mouse_move", {"x": 1000, "y": 1000}))
        assert moved["action"] == "Moved cursor to (1279, 799)"
        message = error_text(await c.call_tool("mouse_move", {"x": 1001, "y": 10}))
        assert "outside the model space 0..=1000" in message


async def test_model_space_query_parameter(server, mode):
    async with connect(server.url + "?model_space=1000", mode=mode) as c:
        moved = feedback(await c.call_tool("mouse_move", {"x": 500, "y": 500}))
        assert moved["action"] == "Moved cursor to (640, 400)"


async def test_model_space_header_wins_over_query(server):
    headers = {"GhostDesk-Model-Space": "1000"}
    async with connect(server.url + "?model_space=2000", headers=headers) as c:
        moved = feedback(await c.call_tool("mouse_move", {"x": 500, "y": 500}))
        assert moved["action"] == "Moved cursor to (640, 400)"


async def test_pixels_without_model_space(server, mode):
    async with connect(server.url, mode=mode) as mcp:
        moved = feedback(await mcp.call_tool("mouse_move", {"x": 500, "y": 500}))
        assert moved["action"] == "Moved cursor to (500, 500)"


async def test_lenient_coordinates_like_ghostdesk(server):
    async with connect(server.url) as mcp:
        moved = feedback(await mcp.call_tool("mouse_move", {"x": "12", "y": 30.0}))
        assert moved["action"] == "Moved cursor to (12, 30)"
        moved = feedback(await mcp.call_tool("mouse_move", {"x": "383, 22"}))
        assert moved["action"] == "Moved cursor to (383, 22)"


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "tool, arguments, expected",
    [
        ("mouse_click", {"x": "abc", "y": 1}, ["invalid arguments for mouse_click", "x (integer)"]),
        ("mouse_click", {"x": 5000, "y": 10}, ["outside the screen", "1280x800", "0..=1279"]),
        ("mouse_click", {"x": 10, "y": -1}, ["outside the screen", "0..=799"]),
        ("mouse_click", {"x": 1.5, "y": 1}, ["invalid arguments for mouse_click"]),
        ("mouse_click", {"x": 10}, ["invalid arguments for mouse_click", "missing field `y`"]),
        (
            "mouse_click",
            {"x": 1, "y": 1, "button": "fourth"},
            ["invalid arguments for mouse_click"],
        ),
        ("key_press", {"keys": "notakey"}, ["unknown key", "notakey"]),
        ("key_press", {"keys": "ctrl+notakey"}, ["unknown key", "notakey"]),
        ("mouse_move", {"x": 1, "y": 1, "z": 3}, ["invalid arguments for mouse_move", "z"]),
        ("clipboard_get", {"extra": True}, ["invalid arguments for clipboard_get", "extra"]),
        ("app_list", {"verbose": 1}, ["invalid arguments for app_list"]),
        ("key_type", {"text": 5}, ["invalid arguments for key_type"]),
        (
            "mouse_scroll",
            {"x": 1, "y": 1, "direction": "sideways"},
            ["invalid arguments for mouse_scroll"],
        ),
        ("screen_shot", {"format": "gif"}, ["invalid arguments for screen_shot"]),
        # Typing is paced; past the bound the clipboard is the tool, and the error says so
        # before a single key is sent.
        ("key_type", {"text": "x" * 10_001}, ["at most 10000 characters", "clipboard_set"]),
        ("key_type", {"text": "bell \u0007"}, ["U+0007", "key_press"]),
    ],
)
async def test_bad_arguments_are_clear_tool_errors(server, mode, tool, arguments, expected):
    async with connect(server.url, mode=mode) as mcp:
        message = error_text(await mcp.call_tool(tool, arguments))
        for fragment in expected:
            assert fragment in message, f"{fragment!r} not in {message!r}"


async def test_unknown_tool_is_a_protocol_error(server, mode):
    async with connect(server.url, mode=mode) as mcp:
        with pytest.raises(MCPError) as raised:
            await mcp.call_tool("no_such_tool", {})
        assert "no_such_tool" in str(raised.value)
        # The server is still serving: this client, and new ones.
        assert image(await mcp.call_tool("screen_shot", {})).size == SCREEN
    async with connect(server.url, mode=mode) as mcp:
        assert image(await mcp.call_tool("screen_shot", {})).size == SCREEN


# ----------------------------------------------------------------------------- input feedback


async def test_click_without_visible_effect(server):
    async with connect(server.url) as mcp:
        # The first click may move the focus away from a window (its look changes); the second,
        # at the same place on the empty desktop, changes nothing.
        feedback(await mcp.call_tool("mouse_click", {"x": 1000, "y": 400}))
        await shot(mcp, region={"x": 0, "y": 0, "width": 10, "height": 10})  # let redraws settle
        avoid_minute_boundary()
        started = time.monotonic()
        clicked = feedback(await mcp.call_tool("mouse_click", {"x": 1000, "y": 400}))
        elapsed = time.monotonic() - started
        assert clicked["action"] == "Clicked left at (1000, 400)"
        assert clicked["screen_changed"] is False
        assert clicked["reaction_time_ms"] <= 1500
        assert elapsed < 2.0, f"a click with no effect took {elapsed:.2f} s to report"


async def test_double_click_and_drag_on_the_desktop(server):
    async with connect(server.url) as mcp:
        clicked = feedback(await mcp.call_tool("mouse_double_click", {"x": 1000, "y": 400}))
        assert clicked["action"] == "Double-clicked left at (1000, 400)"
        dragged = feedback(
            await mcp.call_tool(
                "mouse_drag", {"from_x": 900, "from_y": 300, "to_x": 1000, "to_y": 400}
            )
        )
        assert dragged["action"] == "Dragged from (900, 300) to (1000, 400)"


@pytest.mark.parametrize("keys", ["ctrl+shift+t", "Page_Down", "alt+Tab", "Escape", "shift+F10"])
async def test_key_press_names(server, keys):
    async with connect(server.url) as mcp:
        pressed = feedback(await mcp.call_tool("key_press", {"keys": keys}))
        assert pressed["action"] == f"Pressed {keys}"


@pytest.mark.parametrize(
    "arguments, action",
    [
        ({"x": 700, "y": 500, "amount": 10}, "Scrolled down 5 clicks at (700, 500)"),
        ({"x": 700, "y": 500}, "Scrolled down 3 clicks at (700, 500)"),
    ],
)
async def test_scroll_amount_is_clamped(server, arguments, action):
    async with connect(server.url) as mcp:
        scrolled = feedback(await mcp.call_tool("mouse_scroll", arguments))
        assert scrolled["action"] == action


async def test_terminal_is_still_usable_after_other_input(server, terminal, desk_tmp):
    """The desktop is still in a sane state after the whole suite's clicks, keys and scrolls
    (e.g. no workspace switch or menu hid the terminal)."""
    async with connect(server.url) as mcp:
        out = desk_tmp / "still.txt"
        await type_in_terminal(mcp, f"echo still-$((1+1)) > {out}")
        await wait_for_file(out, "still-2")
