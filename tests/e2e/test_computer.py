"""The executor endpoints end to end: each vendor's computer-use calls, written as the vendor's
own SDK types describe them (the `anthropic`, `openai` and `google-genai` packages validate
every request this file sends and every answer it gets back), posted to
/desktops/{id}/computer/{anthropic,openai,gemini} and run on a real desktop: Mousepad's GTK
Save dialog driven in one batch, an xterm typed into, the pointer's place checked with xdotool.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import time
from pathlib import Path

import httpx2
import pytest
from PIL import Image
from pydantic import TypeAdapter

import anthropic.types as A
from google.genai import types as G
from openai.types.responses import ResponseComputerToolCall
from openai.types.responses.response_input_item_param import ComputerCallOutput

from conftest import connect, desktop_home, desktop_x_env

DESKTOP = "computer"
HALT = "Not executed: an earlier computer action in this turn failed."


@pytest.fixture(scope="module")
def desk(server):
    """A desktop of this module's own, destroyed afterwards."""
    made = httpx2.post(f"{server.base}/api/desktops", json={"id": DESKTOP}, timeout=90)
    assert made.status_code == 201, made.text
    yield DESKTOP
    httpx2.delete(f"{server.base}/api/desktops/{DESKTOP}", timeout=60)


def url(server, dialect: str, query: str = "") -> str:
    return f"{server.base}/desktops/{DESKTOP}/computer/{dialect}{query}"


def mcp(server, name: str, arguments: dict, desktop: str = DESKTOP) -> dict:
    """One tools/call on the module's desktop (or `desktop`); its JSON answer."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}
    headers = {"Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}
    reply = httpx2.post(f"{server.base}/desktops/{desktop}/mcp", json=body, headers=headers,
                        timeout=60).json()["result"]
    assert not reply.get("isError"), reply
    return json.loads(reply["content"][0]["text"])


def open_window(server, command: str, app: str, desktop: str = DESKTOP) -> dict:
    """Launches `command` and waits for its window (not another's); its place."""
    pid = mcp(server, "app_launch", {"command": command}, desktop)["pid"]
    deadline = time.monotonic() + 30
    while True:
        windows = [w for w in mcp(server, "window_list", {"app": app}, desktop)["windows"]
                   if w["pid"] == pid]
        if windows:
            return windows[0]
        assert time.monotonic() < deadline, f"no {app} window"
        time.sleep(0.2)


def close_windows(server, app: str, desktop: str = DESKTOP) -> None:
    """Closes `app`'s windows and waits until they are gone."""
    for w in mcp(server, "window_list", {"app": app}, desktop)["windows"]:
        mcp(server, "window_action", {"window": w["id"], "action": "close"}, desktop)
    deadline = time.monotonic() + 15
    while windows := mcp(server, "window_list", {"app": app}, desktop)["windows"]:
        assert time.monotonic() < deadline, f"{app} did not close: {windows}"
        time.sleep(0.2)


def pointer(server) -> tuple[int, int]:
    """Where the desktop's X pointer is, asked of its X server by xdotool."""
    out = subprocess.run(["xdotool", "getmouselocation", "--shell"],
                         env=desktop_x_env(server, DESKTOP), capture_output=True, text=True,
                         check=True).stdout
    values = dict(line.split("=", 1) for line in out.split())
    return int(values["X"]), int(values["Y"])


def wait_for(path: Path, expected: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = path.read_text()
            if seen.strip() == expected:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{path} holds {seen!r}, not {expected!r}; beside it: "
                f"{sorted(p.name for p in path.parent.iterdir())}")


# ----------------------------------------------------------------------------- Anthropic


def claude(i: int, name: str, **input) -> dict:
    """A toolset member's tool_use block, checked against the SDK's own type for it."""
    block = {"type": "tool_use", "id": f"toolu_{i:02d}", "name": name,
             "toolset_name": "computer", "input": input, "caller": {"type": "direct"}}
    TypeAdapter(A.ComputerToolUseBlock).validate_python(block)
    return block


def check_results(message: dict, blocks: list[dict]) -> list[dict]:
    """The answer is a user message of one tool_result per block, as the SDK types it."""
    A.MessageParam  # noqa: B018 (the type this message is appended as)
    TypeAdapter(A.MessageParam).validate_python(message)
    assert set(message) == {"role", "content"} and message["role"] == "user"
    results = message["content"]
    assert [r["tool_use_id"] for r in results] == [b["id"] for b in blocks]
    keys = A.ToolResultBlockParam.__required_keys__ | A.ToolResultBlockParam.__optional_keys__
    for r in results:
        TypeAdapter(A.ToolResultBlockParam).validate_python(r)
        assert set(r) <= keys, set(r) - keys
        assert r["toolset_name"] == "computer"
        assert r["content"], r  # the API refuses an empty result
        for c in r["content"]:
            assert c["type"] in ("text", "image"), c
    return results


def text(result: dict) -> str:
    return " ".join(c["text"] for c in result["content"] if c["type"] == "text")


def image_of(result: dict) -> Image.Image:
    (img,) = [c for c in result["content"] if c["type"] == "image"]
    return Image.open(io.BytesIO(base64.b64decode(img["source"]["data"])))


def test_a_claude_turn_saves_a_file_through_gtk_save_dialog(server, desk):
    """One assistant turn: click into Mousepad, type, ctrl+s, type a file name and press
    Return: GTK's Save dialog ignores a Return that comes too soon after the name, so this
    passes only if the batch waits for the screen to settle between actions."""
    window = open_window(server, "mousepad", "mousepad")
    blocks = [
        claude(1, "left_click", coordinate=[window["center_x"], window["center_y"]]),
        claude(2, "type", text="written by a claude turn"),
        claude(3, "key", text="ctrl+s"),
        claude(4, "type", text="claude-turn.txt"),
        claude(5, "key", text="Return"),
    ]
    reply = httpx2.post(url(server, "anthropic"), json=blocks, timeout=60)
    assert reply.status_code == 200, reply.text
    assert reply.headers["agentdesk-ran"] == "5/5"
    results = check_results(reply.json(), blocks)
    assert not any(r.get("is_error") for r in results), results
    # The screen after the turn comes with its last result, in the screen's size.
    assert image_of(results[-1]).size == (1280, 800)
    wait_for(desktop_home(server, DESKTOP) / "claude-turn.txt", "written by a claude turn")
    close_windows(server, "mousepad")


def test_a_claude_turn_stops_at_the_first_failure(server, desk):
    blocks = [
        claude(1, "mouse_move", coordinate=[200, 150]),
        claude(2, "cursor_position"),
        claude(3, "left_click", coordinate=[5000, 10]),
        claude(4, "mouse_move", coordinate=[300, 300]),
        claude(5, "screenshot"),
    ]
    reply = httpx2.post(url(server, "anthropic"), json={"role": "assistant",
                                                        "content": blocks}, timeout=60)
    assert reply.status_code == 200, reply.text
    results = check_results(reply.json(), blocks)
    assert text(results[1]) == "X=200,Y=150"
    assert results[2]["is_error"] is True and "x must be 0 to 1279" in text(results[2])
    for r in results[3:]:
        assert r["is_error"] is True and text(r) == HALT
    assert reply.headers["agentdesk-ran"] == "3/5"
    assert "x must be 0 to 1279" in reply.headers["agentdesk-error"]
    # The later move did not run.
    assert pointer(server) == (200, 150)


def test_claude_members_act_as_documented(server, desk):
    window = open_window(server, "xterm", "xterm")
    home = desktop_home(server, DESKTOP)
    cx, cy = window["center_x"], window["center_y"]
    blocks = [
        claude(1, "left_click", coordinate=[cx, cy]),
        claude(2, "type", text="echo one two three > members.txt"),
        claude(3, "key", text="BackSpace", repeat=4),
        claude(4, "type", text="t.txt"),
        claude(5, "key", text="Return"),
        claude(6, "zoom", region=[10, 20, 110, 70]),
        claude(7, "wait", duration=1),
        claude(8, "scroll", scroll_direction="down", scroll_amount=2, coordinate=[cx, cy],
               text="shift"),
        claude(9, "triple_click", coordinate=[cx, cy]),
        claude(10, "hold_key", text="shift", duration=1),
        claude(11, "left_mouse_down"),
        claude(12, "mouse_move", coordinate=[cx + 20, cy + 5]),
        claude(13, "left_mouse_up"),
        claude(14, "middle_click", coordinate=[cx, cy]),
        claude(15, "right_click", coordinate=[cx, cy]),
        claude(16, "double_click", coordinate=[cx, cy]),
        claude(17, "left_click_drag", start_coordinate=[cx, cy], coordinate=[cx + 30, cy]),
    ]
    reply = httpx2.post(url(server, "anthropic", "?screenshot=false"), json=blocks, timeout=60)
    assert reply.status_code == 200, reply.text
    results = check_results(reply.json(), blocks)
    assert not any(r.get("is_error") for r in results), [text(r) for r in results]
    # "members.txt" lost ".txt" to the repeated BackSpace, then got "t.txt".
    wait_for(home / "memberst.txt", "one two three")
    # zoom gives the region at full resolution, and nothing when screenshot=false.
    assert image_of(results[5]).size == (100, 50)
    assert not [c for c in results[-1]["content"] if c["type"] == "image"]
    assert pointer(server) == (cx + 30, cy)
    close_windows(server, "xterm")


def test_the_older_computer_tool_and_a_declared_display(server, desk):
    """computer_20251124's single tool: `action` in the input; a display declared smaller than
    the screen scales coordinates and screenshots."""
    blocks = [
        {"type": "tool_use", "id": "toolu_a", "name": "computer",
         "input": {"action": "mouse_move", "coordinate": [320, 200]}},
        {"type": "tool_use", "id": "toolu_b", "name": "computer",
         "input": {"action": "cursor_position"}},
        {"type": "tool_use", "id": "toolu_c", "name": "computer",
         "input": {"action": "screenshot"}},
        {"type": "tool_use", "id": "toolu_d", "name": "other_tool", "input": {}},
    ]
    for b in blocks:
        A.ToolUseBlock.model_validate(b)
    reply = httpx2.post(url(server, "anthropic", "?display=640x400&format=png"), json=blocks,
                        timeout=60)
    assert reply.status_code == 200, reply.text
    message = reply.json()
    TypeAdapter(A.MessageParam).validate_python(message)
    results = message["content"]
    # Another tool's call is the caller's to answer.
    assert [r["tool_use_id"] for r in results] == ["toolu_a", "toolu_b", "toolu_c"]
    assert all("toolset_name" not in r for r in results)
    assert pointer(server) == (640, 400)
    assert text(results[1]) == "X=320,Y=200"
    assert image_of(results[2]).size == (640, 400)
    assert results[2]["content"][0]["source"]["media_type"] == "image/png"
    assert reply.headers["agentdesk-screenshot"] == "640x400"
    assert "scaled" in reply.headers["agentdesk-coordinates"]


@pytest.mark.parametrize("body, status, says", [
    (b"not json", 400, "not JSON"),
    (b'{"some": "object"}', 400, "content blocks"),
    (b'[{"type": "tool_use", "name": "screenshot", "toolset_name": "computer"}]', 400, "id"),
])
def test_bad_requests_are_refused_whole(server, desk, body, status, says):
    reply = httpx2.post(url(server, "anthropic"), content=body,
                        headers={"Content-Type": "application/json"}, timeout=30)
    assert reply.status_code == status and says in reply.json()["error"], reply.text


def test_unknown_dialects_and_desktops(server, desk):
    reply = httpx2.post(url(server, "mistral"), json=[], timeout=30)
    assert reply.status_code == 404 and "anthropic, openai, gemini" in reply.json()["error"]
    reply = httpx2.post(f"{server.base}/desktops/nope/computer/anthropic", json=[], timeout=30)
    assert reply.status_code == 404
    reply = httpx2.post(url(server, "anthropic", "?display=2000x1000"), json=[], timeout=30)
    assert reply.status_code == 400 and "larger than the screen" in reply.json()["error"]
    for bad in ["99999x1", "0x0", "axb", "1280"]:
        reply = httpx2.post(url(server, "anthropic", f"?display={bad}"), json=[], timeout=30)
        assert reply.status_code == 400 and "display:" in reply.json()["error"], bad


# ----------------------------------------------------------------------------- OpenAI


def computer_call(call_id: str, actions: list[dict], checks: list[dict] | None = None) -> dict:
    item = {"type": "computer_call", "id": f"cu_{call_id}", "call_id": call_id,
            "status": "completed", "pending_safety_checks": checks or [], "actions": actions}
    ResponseComputerToolCall.model_validate(item)
    return item


def check_output(item: dict, call_id: str) -> Image.Image:
    keys = ComputerCallOutput.__required_keys__ | ComputerCallOutput.__optional_keys__
    assert set(item) <= keys, set(item) - keys
    TypeAdapter(ComputerCallOutput).validate_python(item)
    assert item["type"] == "computer_call_output" and item["call_id"] == call_id
    output = item["output"]
    assert output["type"] == "computer_screenshot"
    head, data = output["image_url"].split(",", 1)
    assert head == "data:image/webp;base64"
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_an_openai_batch_types_into_a_terminal(server, desk):
    window = open_window(server, "xterm", "xterm")
    cx, cy = window["center_x"], window["center_y"]
    item = computer_call("call_1", [
        {"type": "click", "button": "left", "x": cx, "y": cy},
        {"type": "type", "text": "echo from openai > openai.txt"},
        {"type": "keypress", "keys": ["ENTER"]},
        {"type": "scroll", "x": cx, "y": cy, "scroll_x": 0, "scroll_y": 200},
        {"type": "double_click", "x": cx, "y": cy},
        {"type": "drag", "path": [{"x": cx, "y": cy}, {"x": cx + 10, "y": cy},
                                  {"x": cx + 20, "y": cy + 10}]},
        {"type": "wait"},
        {"type": "move", "x": 77, "y": 66, "keys": ["SHIFT"]},
    ])
    reply = httpx2.post(url(server, "openai"), json=item, timeout=60)
    assert reply.status_code == 200, reply.text
    assert check_output(reply.json(), "call_1").size == (1280, 800)
    assert reply.headers["agentdesk-ran"] == "8/8"
    wait_for(desktop_home(server, DESKTOP) / "openai.txt", "from openai")
    assert pointer(server) == (77, 66)
    close_windows(server, "xterm")


def test_openai_safety_checks_need_a_person(server, desk):
    check = {"id": "cu_sc_1", "code": "malicious_instructions", "message": "The page asks..."}
    item = computer_call("call_2", [{"type": "move", "x": 11, "y": 12}], [check])
    reply = httpx2.post(url(server, "openai"), json=item, timeout=30)
    assert reply.status_code == 409, reply.text
    assert reply.json()["pending_safety_checks"] == [check]
    assert pointer(server) != (11, 12)
    reply = httpx2.post(url(server, "openai"), timeout=30, json={
        "computer_call": item, "acknowledged_safety_checks": [check]})
    assert reply.status_code == 200, reply.text
    output = reply.json()
    check_output(output, "call_2")
    assert output["acknowledged_safety_checks"] == [check]
    assert pointer(server) == (11, 12)


def test_an_openai_failure_is_said_in_a_header(server, desk):
    item = computer_call("call_3", [{"type": "move", "x": 5, "y": 6},
                                    {"type": "click", "button": "left", "x": 99999, "y": 1},
                                    {"type": "move", "x": 50, "y": 60}])
    reply = httpx2.post(url(server, "openai"), json=item, timeout=30)
    assert reply.status_code == 200
    check_output(reply.json(), "call_3")
    assert reply.headers["agentdesk-ran"] == "2/3"
    assert "x must be 0 to 1279" in reply.headers["agentdesk-error"]
    assert pointer(server) == (5, 6)


# ----------------------------------------------------------------------------- Gemini


def gemini_call(name: str, **args) -> dict:
    call = {"name": name, "args": {"intent": f"the test's {name}", **args}}
    G.FunctionCall.model_validate(call)
    return {"function_call": call}


def test_a_gemini_turn_on_its_grid(server, desk):
    window = open_window(server, "xterm", "xterm")
    # The window's centre on the 0-999 grid.
    gx, gy = window["center_x"] * 1000 // 1280, window["center_y"] * 1000 // 800
    content = {"role": "model", "parts": [
        {"text": "I will type in the terminal."},
        gemini_call("click", x=gx, y=gy),
        gemini_call("type", text="echo from gemini > gemini.txt", press_enter=True),
        gemini_call("hotkey", keys=["control", "l"]),
        gemini_call("scroll", x=gx, y=gy, direction="up", magnitude_in_pixels=200),
        gemini_call("move", x=500, y=500),
    ]}
    G.Content.model_validate(content)
    reply = httpx2.post(url(server, "gemini"), json=content, timeout=60)
    assert reply.status_code == 200, reply.text
    answer = G.Content.model_validate(reply.json())
    assert answer.role == "user"
    responses = [p.function_response for p in answer.parts]
    assert [r.name for r in responses] == ["click", "type", "hotkey", "scroll", "move"]
    assert all("output" in r.response for r in responses), responses
    # The screen after the turn, with the last response only.
    assert all(not r.parts for r in responses[:-1])
    (part,) = responses[-1].parts
    assert Image.open(io.BytesIO(part.inline_data.data)).size == (1280, 800)
    wait_for(desktop_home(server, DESKTOP) / "gemini.txt", "from gemini")
    assert pointer(server) == (640, 400)
    close_windows(server, "xterm")


def test_gemini_confirmation_and_errors(server, desk):
    risky = gemini_call("move", x=100, y=100,
                        safety_decision={"decision": "require_confirmation",
                                         "explanation": "it clicks Buy"})
    reply = httpx2.post(url(server, "gemini"), json=[risky], timeout=30)
    assert reply.status_code == 409 and "it clicks Buy" in reply.json()["error"]
    reply = httpx2.post(url(server, "gemini"), timeout=30, json={
        "function_calls": [risky["function_call"]], "safety_acknowledgement": True})
    assert reply.status_code == 200, reply.text
    (part,) = G.Content.model_validate(reply.json()).parts
    assert part.function_response.response["safety_acknowledgement"] == "true"
    assert pointer(server) == (128, 80)
    reply = httpx2.post(url(server, "gemini"), timeout=30, json=[
        gemini_call("fly", x=1, y=1), gemini_call("move", x=1, y=1)])
    parts = G.Content.model_validate(reply.json()).parts
    assert "unknown computer_use function" in parts[0].function_response.response["error"]
    assert parts[1].function_response.response["error"] == HALT


# ----------------------------------------------------------------------------- over MCP


def mcp_url(server, query: str) -> str:
    return f"{server.base}/desktops/{DESKTOP}/mcp{query}"


async def test_anthropic_profile_over_mcp(server, desk):
    """?tools=anthropic: the toolset's members are the MCP tools, same names and arguments."""
    async with connect(mcp_url(server, "?tools=anthropic")) as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == [
            "screenshot", "cursor_position", "zoom", "left_click", "right_click",
            "middle_click", "double_click", "triple_click", "left_click_drag", "mouse_move",
            "left_mouse_down", "left_mouse_up", "scroll", "type", "key", "hold_key", "wait"]
        # Every member's input schema takes what the SDK's input type takes.
        schemas = {t.name: t.input_schema for t in tools}
        assert schemas["left_click_drag"]["required"] == ["start_coordinate", "coordinate"]
        moved = await client.call_tool("mouse_move", {"coordinate": [400, 300]})
        assert not moved.is_error, moved.content
        where = await client.call_tool("cursor_position", {})
        assert where.content[0].text == "X=400,Y=300"
        shot = await client.call_tool("screenshot", {})
        (img,) = shot.content
        assert Image.open(io.BytesIO(base64.b64decode(img.data))).size == (1280, 800)
        bad = await client.call_tool("left_click", {"coordinate": [1, 2, 3]})
        assert bad.is_error and "[x, y]" in bad.content[0].text
    assert pointer(server) == (400, 300)


async def test_gemini_and_openai_profiles_over_mcp(server, desk):
    async with connect(mcp_url(server, "?tools=gemini")) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert "take_screenshot" in names and "drag_and_drop" in names
        moved = await client.call_tool("move", {"x": 250, "y": 750, "intent": "test"})
        assert not moved.is_error, moved.content
    assert pointer(server) == (320, 600)
    async with connect(mcp_url(server, "?tools=openai")) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert names == ["click", "double_click", "drag", "keypress", "move", "screenshot",
                         "scroll", "type", "wait"]
        moved = await client.call_tool("move", {"x": 33, "y": 44})
        assert not moved.is_error, moved.content
    assert pointer(server) == (33, 44)
    async with connect(mcp_url(server, "?tools=ghostdesk")) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert names[0] == "screen_shot" and names[-1] == "batch"
    reply = httpx2.post(mcp_url(server, "?tools=cobol"), timeout=30,
                        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                        headers={"Accept": "application/json, text/event-stream",
                                 "MCP-Protocol-Version": "2025-11-25"})
    assert "ghostdesk (the default), anthropic, openai or gemini" in reply.text


async def test_batch_saves_through_the_save_dialog(server, desk):
    """GhostDesk's tools in one `batch`: the same debounced Save dialog, paced; one screenshot
    at the end; a secret typed in a batch stays out of the audit log."""
    window = open_window(server, "mousepad", "mousepad")
    async with connect(mcp_url(server, "")) as client:
        result = await client.call_tool("batch", {"actions": [
            {"action": "mouse_click", "x": window["center_x"], "y": window["center_y"]},
            {"action": "key_type", "text": "batched words", "secret": True},
            {"action": "key_press", "keys": "ctrl+s"},
            {"action": "key_type", "text": "batched.txt"},
            {"action": "key_press", "keys": "Return"},
        ]})
        assert not result.is_error, result.content
        lines, img = result.content
        assert lines.text.splitlines()[1] == "2. Typed 13 characters"
        assert Image.open(io.BytesIO(base64.b64decode(img.data))).size == (1280, 800)
        wait_for(desktop_home(server, DESKTOP) / "batched.txt", "batched words")
        # A mistake anywhere: nothing runs.
        bad = await client.call_tool("batch", {"actions": [
            {"action": "mouse_move", "x": 10, "y": 10},
            {"action": "mouse_click", "x": 99999, "y": 1}]})
        assert bad.is_error and "action 2" in bad.content[0].text
        assert "nothing was run" in bad.content[0].text
        # A failure while running: the rest is not run, and the answer says so.
        stopped = await client.call_tool("batch", {"actions": [
            {"action": "mouse_move", "x": 10, "y": 10},
            {"action": "key_press", "keys": "ctrl+nosuchkey"},
            {"action": "mouse_move", "x": 20, "y": 20}]})
        assert stopped.is_error
        text = stopped.content[0].text
        assert "2. failed:" in text and "were not run" in text, text
    assert pointer(server) == (10, 10)
    log = server.data_dir / "desktops" / DESKTOP / "audit.jsonl"
    lines = [json.loads(line) for line in log.read_text().split("\n") if line]
    logged = [line for line in lines if line.get("tool") == "batch"]
    assert logged and "batched words" not in json.dumps(logged)
    close_windows(server, "mousepad")


# ----------------------------------------------------------------------------- hostile review


def test_turns_are_bounded(server, desk):
    """Counts a request may not exceed, and numbers that once overflowed."""
    many = [claude(i, "mouse_move", coordinate=[5, 5]) for i in range(101)]
    reply = httpx2.post(url(server, "anthropic"), json=many, timeout=30)
    assert reply.status_code == 400 and "at most 100" in reply.json()["error"]
    calls = [{"type": "computer_call", "call_id": f"c{i}", "actions": []} for i in range(9)]
    reply = httpx2.post(url(server, "openai"), json=calls, timeout=30)
    assert reply.status_code == 400 and "at most 8" in reply.json()["error"]
    huge = [gemini_call("scroll_at", x=500, y=500, direction="down",
                        magnitude=2**63 - 1)["function_call"]]
    reply = httpx2.post(url(server, "gemini"), json=huge, timeout=30)
    assert reply.status_code == 200, reply.text
    # Unreadable safety checks refuse the call; checks without an id cannot be acknowledged.
    odd = computer_call("c", [{"type": "move", "x": 1, "y": 1}])
    odd["pending_safety_checks"] = "none"
    assert httpx2.post(url(server, "openai"), json=odd, timeout=30).status_code == 400
    odd["pending_safety_checks"] = [{"code": "x"}]
    reply = httpx2.post(url(server, "openai"), timeout=30, json={
        "computer_call": odd, "acknowledged_safety_checks": [{"id": ""}]})
    assert reply.status_code == 409


def test_keys_the_server_acts_on_and_held_keys(server, desk):
    """Terminate_Server would end the X server (and every app on a shared desktop): refused.
    Only modifiers stay held between calls: a held letter would repeat with nothing to stop
    it."""
    reply = httpx2.post(url(server, "anthropic"), timeout=30,
                        json=[claude(1, "key", text="Terminate_Server")])
    (result,) = reply.json()["content"]
    assert result["is_error"] and "X server itself" in text(result)
    reply = httpx2.post(url(server, "gemini"), timeout=30,
                        json=[gemini_call("key_down", key="a")["function_call"]])
    (part,) = G.Content.model_validate(reply.json()).parts
    assert "only modifier keys" in part.function_response.response["error"]
    reply = httpx2.post(url(server, "gemini"), timeout=30, json=[
        gemini_call("key_down", key="shift")["function_call"],
        gemini_call("key_up", key="shift")["function_call"]])
    assert reply.headers["agentdesk-ran"] == "2/2"
    # The desktop is still the one it was: its X server never went away.
    assert httpx2.get(f"{server.base}/api/desktops/{DESKTOP}", timeout=10).json()["state"] \
        == "running"


def test_a_turn_is_not_interleaved_with_other_input(server, desk):
    """A turn holds the desktop's input: another request's move waits until it is over, so
    the turn's click lands where the turn put the pointer."""
    import threading

    answers = {}

    def first():
        answers["turn"] = httpx2.post(url(server, "anthropic", "?screenshot=false"), timeout=60,
                                      json=[claude(1, "mouse_move", coordinate=[100, 100]),
                                            claude(2, "wait", duration=2),
                                            claude(3, "cursor_position")]).json()

    turn = threading.Thread(target=first)
    turn.start()
    time.sleep(0.5)
    httpx2.post(url(server, "anthropic", "?screenshot=false"), timeout=60,
                json=[claude(1, "mouse_move", coordinate=[700, 500])])
    turn.join()
    assert text(answers["turn"]["content"][2]) == "X=100,Y=100"
    assert pointer(server) == (700, 500)


def test_one_audit_line_per_request_and_every_batched_action(server, desk):
    log = server.data_dir / "desktops" / DESKTOP / "audit.jsonl"
    before = len(log.read_text().split("\n"))
    httpx2.post(url(server, "anthropic", "?screenshot=false"), timeout=60,
                json=[claude(i, "mouse_move", coordinate=[i + 1, 1]) for i in range(40)])
    lines = [json.loads(line) for line in log.read_text().split("\n")[before - 1:] if line]
    (line,) = [entry for entry in lines if entry["tool"] == "computer.anthropic"]
    assert len(line["arguments"]["actions"]) == 40
    assert line["arguments"]["actions"][39] == {"call": "mouse_move", "coordinate": [40, 1]}
    actions = [{"action": "mouse_move", "x": 1, "y": 1}] * 32
    actions += [{"action": "key_type", "text": f"LATE-{i}"} for i in range(18)]
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "batch", "arguments": {"actions": actions, "screenshot": False}}}
    httpx2.post(f"{server.base}/desktops/{DESKTOP}/mcp", json=body, timeout=60,
                headers={"Accept": "application/json, text/event-stream",
                         "MCP-Protocol-Version": "2025-11-25"})
    batches = [json.loads(line) for line in log.read_text().split("\n") if "LATE-17" in line]
    assert batches and len(batches[-1]["arguments"]["actions"]) == 50


def test_a_turn_keeps_to_the_time_limit(tmp_path):
    """Typing that would take far longer than --call-timeout stops at the limit and says how
    far it got."""
    from conftest import running_server

    with running_server(tmp_path, "--call-timeout", "3") as srv:
        # Every character a new one: each needs a keymap change (~5 ms).
        text_ = "".join(chr(0x4E00 + i) for i in range(10_000))
        started = time.monotonic()
        reply = httpx2.post(f"{srv.base}/desktops/default/computer/anthropic?screenshot=false",
                            json=[claude(1, "type", text=text_)], timeout=60)
        took = time.monotonic() - started
        (result,) = reply.json()["content"]
        assert result["is_error"] and "time limit ran out after" in text(result), result
        assert took < 8, took
        # A wait (or a held key) that would end at the limit is refused before it starts.
        reply = httpx2.post(f"{srv.base}/desktops/default/computer/anthropic?screenshot=false",
                            json=[claude(1, "wait", duration=3)], timeout=60)
        (result,) = reply.json()["content"]
        assert result["is_error"] and "left of the request's time limit" in text(result)


def test_a_human_taking_control_ends_a_turn(server, desk):
    """A turn waiting (with shift held) stops as soon as a human takes control, and the rest
    of it is not run. (That taking control lets go of held keys is tested against a real X
    server in agentdesk-x11's tests.)"""
    import threading

    answers = {}

    def turn():
        answers["turn"] = httpx2.post(url(server, "gemini"), timeout=60, json=[
            gemini_call("key_down", key="shift")["function_call"],
            gemini_call("wait", seconds=20)["function_call"],
            gemini_call("move", x=10, y=10)["function_call"]])

    control = f"{server.base}/desktops/{DESKTOP}/control?viewer=person"
    started = time.monotonic()
    thread = threading.Thread(target=turn)
    thread.start()
    time.sleep(1.0)
    try:
        taken = httpx2.post(f"{control}&action=take", timeout=10)
        assert taken.json()["control"] == "you", taken.text
        thread.join(timeout=30)
        assert time.monotonic() - started < 10
        parts = G.Content.model_validate(answers["turn"].json()).parts
        assert "taken control" in parts[1].function_response.response["error"]
        assert "Not executed" in parts[2].function_response.response["error"]
    finally:
        httpx2.post(f"{control}&action=release", timeout=10)


def test_a_server_asked_to_stop_does_not_wait_for_a_turn(tmp_path):
    """SIGTERM during a turn's long wait: the turn ends at once and the server stops cleanly,
    instead of holding its graceful shutdown for the rest of the wait."""
    import threading

    from conftest import running_server

    with running_server(tmp_path) as srv:
        def turn():
            try:
                httpx2.post(f"{srv.base}/desktops/default/computer/anthropic", timeout=60,
                            json=[claude(1, "wait", duration=25)])
            except httpx2.HTTPError:
                pass  # the server went away: what this test is about

        thread = threading.Thread(target=turn, daemon=True)
        thread.start()
        time.sleep(1.0)
        stopping = time.monotonic()
    # Leaving the block sent SIGTERM and checked that everything stopped.
    assert time.monotonic() - stopping < 12
    thread.join(timeout=10)
