"""The built-in agent loop end to end, with no network: a scripted fake model server
(fake_models.py) speaks Anthropic's Messages API, OpenAI's Responses API and an
OpenAI-compatible chat endpoint, each request checked against the vendor SDK's own types; the
loop drives a real desktop with what it scripts (Mousepad: type, save through GTK's Save
dialog) and the test reads the file. Also: the step stream and its replay, the caps (steps,
dollars, a daily cap across two tasks at once and across a restart), cancelling, a request for
help answered by a person, a person's takeover pausing the task, `agentdesk run`, and the
README's three vendor loops run as written against the fake.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

import fake_models as F
from conftest import agentdesk_bin, desktop_home, running_server
from test_computer import close_windows, open_window, wait_for

DESKTOP = "agent"
KEY = "sk-test-not-a-real-key"


@pytest.fixture(scope="module")
def desk(server):
    """A desktop of this module's own, destroyed afterwards."""
    made = httpx2.post(f"{server.base}/api/desktops", json={"id": DESKTOP}, timeout=90)
    assert made.status_code == 201, made.text
    yield DESKTOP
    httpx2.delete(f"{server.base}/api/desktops/{DESKTOP}", timeout=60)


@pytest.fixture
def fake():
    with F.FakeModels() as models:
        yield models
        assert models.errors == [], models.errors


def base_url(fake: F.FakeModels, model: str) -> str:
    """Where a provider's SDK would send its requests: Anthropic's base has no /v1."""
    return fake.url if model.startswith("anthropic:") else fake.url + "/v1"


def start(server, fake, model: str, goal: str = "Do the thing.", desktop: str = DESKTOP,
          **extra) -> dict:
    body = {"desktop": desktop, "goal": goal, "model": model, "api_key": KEY,
            "base_url": base_url(fake, model), **extra}
    reply = httpx2.post(f"{server.base}/api/tasks", json=body, timeout=60)
    assert reply.status_code == 201, reply.text
    task = reply.json()
    assert task["state"] == "running" and task["stream"] == f"/api/tasks/{task['id']}/stream"
    return task


def events(server, task_id: str, last: int | None = None, path: str | None = None,
           until: str = "end", timeout: float = 90) -> list[tuple[int, str, dict]]:
    """The stream's events (after `last`, by Last-Event-ID) until one of kind `until`."""
    headers = {"Accept": "text/event-stream", **getattr(server, "headers", {})}
    if last is not None:
        headers["Last-Event-ID"] = str(last)
    url = f"{server.base}{path or f'/api/tasks/{task_id}/stream'}"
    got: list[tuple[int, str, dict]] = []
    with httpx2.stream("GET", url, headers=headers, timeout=timeout) as stream:
        assert stream.status_code == 200, stream.read()
        assert stream.headers["content-type"] == "text/event-stream"
        event: dict = {}
        for line in stream.iter_lines():
            if line.startswith("id: "):
                event["id"] = int(line[4:])
            elif line.startswith("event: "):
                event["kind"] = line[7:]
            elif line.startswith("data: "):
                event["data"] = json.loads(line[6:])
            elif line == "" and "data" in event:
                got.append((event["id"], event["kind"], event["data"]))
                if event["kind"] == until:
                    break
                event = {}
    return got


def end_of(evs: list[tuple[int, str, dict]]) -> dict:
    assert evs and evs[-1][1] == "end", evs
    return evs[-1][2]


def steps_of(evs) -> list[dict]:
    return [data for _, kind, data in evs if kind == "step"]


# ------------------------------------------------------------------ Mousepad, per provider

def anthropic_script(center, text, name):
    first_ids = []

    def turn1(body):
        first = body["messages"][0]["content"]
        assert "Goal:" in first[0]["text"] and first[1]["type"] == "image"
        assert body["tools"][0] == {"type": "computer_toolset_20260801"}
        blocks = [F.claude_use("left_click", coordinate=list(center)),
                  F.claude_use("type", text=text), F.claude_use("key", text="ctrl+s")]
        first_ids.extend(b["id"] for b in blocks)
        return F.claude(F.claude_text("I will write the text and save it."), *blocks)

    def turn2(body):
        results = body["messages"][-1]["content"]
        assert [r["tool_use_id"] for r in results] == first_ids
        assert not any(r.get("is_error") for r in results), results
        assert all(r["toolset_name"] == "computer" for r in results)
        return F.claude(F.claude_use("type", text=name), F.claude_use("key", text="Return"))

    return "anthropic:claude-test-5", [turn1, turn2, F.claude(F.claude_text(f"Saved {name}."))]


def openai_script(center, text, name):
    ids = {}

    def turn1(body):
        assert body["tools"][0] == {"type": "computer"}
        assert body["input"][0]["content"][1]["type"] == "input_image"
        reply = F.responses(F.gpt_text("Writing."), F.gpt_computer(
            {"type": "click", "x": center[0], "y": center[1], "button": "left"},
            {"type": "type", "text": text},
            {"type": "keypress", "keys": ["CTRL", "S"]}))
        ids["response"], ids["call"] = reply["id"], reply["output"][1]["call_id"]
        return reply

    def turn2(body):
        assert body["previous_response_id"] == ids["response"]
        (output,) = body["input"]
        assert output["type"] == "computer_call_output" and output["call_id"] == ids["call"]
        return F.responses(F.gpt_computer({"type": "type", "text": name},
                                          {"type": "keypress", "keys": ["ENTER"]}))

    return "openai:gpt-test", [turn1, turn2, F.responses(F.gpt_text(f"Saved {name}."))]


def chat_script(center, text, name):
    # Qwen3-VL's grid: 0-1000 on each axis of the 1280x800 screen.
    grid = [round(center[0] * 1000 / 1280), round(center[1] * 1000 / 800)]

    def turn1(body):
        assert body["messages"][0]["role"] == "system"
        assert body["tools"][0]["function"]["name"] == "computer_use"
        return F.chat("Writing.", [
            ("computer_use", {"action": "left_click", "coordinate": grid}),
            ("computer_use", {"action": "type", "text": text}),
            ("computer_use", {"action": "key", "keys": ["ctrl", "s"]})])

    def turn2(body):
        answers = [m for m in body["messages"] if m["role"] == "tool"]
        assert len(answers) == 3 and not any("error" in a["content"] for a in answers), answers
        assert body["messages"][-1]["content"][-1]["type"] == "image_url"
        # As a model behind a server without a tool parser writes its calls.
        return F.chat('<tool_call>{"name": "computer_use", "arguments": {"action": "type", '
                      f'"text": "{name}"}}}}</tool_call><tool_call>{{"name": "computer_use", '
                      '"arguments": {"action": "key", "keys": ["Return"]}}</tool_call>')

    done = F.chat('Saved. <tool_call>{"name": "computer_use", "arguments": '
                  '{"action": "terminate", "status": "success"}}</tool_call>')
    return "chat:Qwen/Qwen3-VL-test", [turn1, turn2, done]


@pytest.mark.parametrize("script", [anthropic_script, openai_script, chat_script],
                         ids=["anthropic", "openai", "chat"])
def test_a_task_saves_a_file_in_mousepad(server, desk, fake, script):
    window = open_window(server, "mousepad", "mousepad", DESKTOP)
    try:
        name = f"task-{script.__name__.split('_')[0]}.txt"
        text = f"written by the agent loop ({name})"
        model, turns = script((window["center_x"], window["center_y"]), text, name)
        fake.script(model.split(":", 1)[1], turns)
        task = start(server, fake, model, goal=f"Write {text!r} in Mousepad, save as {name}.")
        evs = events(server, task["id"])
        end = end_of(evs)
        assert end["state"] == "completed", end
        assert end["outcome"]["reason"] == "done" and end["steps"] == 3
        wait_for(desktop_home(server, DESKTOP) / name, text)
        steps = steps_of(evs)
        assert [s["step"] for s in steps] == [1, 2, 3]
        assert steps[0]["narration"] and len(steps[0]["actions"]) == 3
        assert all(r["ok"] for r in steps[0]["results"]), steps[0]
        # Each step that acted has a thumbnail: the screen after it, as the model saw it.
        shot = httpx2.get(server.base + steps[1]["thumbnail"], timeout=10)
        assert shot.status_code == 200 and shot.headers["content-type"].startswith("image/")
        assert steps[2]["thumbnail"] is None and steps[2]["finish"]["success"]
        # The key went in the vendor's header, and no request carried anything else of ours.
        (first, *_) = fake.requests(model.split(":", 1)[1])
        if model.startswith("anthropic:"):
            assert first.headers["x-api-key"] == KEY
            assert first.headers["anthropic-version"] == "2023-06-01"
        else:
            assert first.headers["authorization"] == f"Bearer {KEY}"
        detail = httpx2.get(f"{server.base}/api/tasks/{task['id']}", timeout=10).json()
        assert detail["state"] == "completed" and len(detail["step_list"]) == 3
        assert detail["usage"]["input_tokens"] == 3000
    finally:
        close_windows(server, "mousepad", DESKTOP)


# ------------------------------------------------------------------------- the stream

def test_the_stream_replays_what_a_client_missed(server, desk, fake):
    fake.script("claude-replay", [F.claude(F.claude_use("screenshot")),
                                  F.claude(F.claude_use("cursor_position")),
                                  F.claude(F.claude_text("Done."))])
    task = start(server, fake, "anthropic:claude-replay")
    everything = events(server, task["id"])
    assert [e[0] for e in everything] == list(range(1, len(everything) + 1))
    assert [e[1] for e in everything] == ["step", "step", "step", "end"]
    # A client that saw event 2 gets 3 and on, by header or (for EventSource-less clients)
    # by query; the live view's path gives the same.
    assert events(server, task["id"], last=2) == everything[2:]
    by_query = events(server, task["id"], path=f"/api/tasks/{task['id']}/stream?last_event_id=3")
    assert by_query == everything[3:]
    view = events(server, task["id"], path=f"/desktops/{DESKTOP}/tasks/{task['id']}/stream")
    assert view == everything
    listed = httpx2.get(f"{server.base}/api/tasks", timeout=10).json()["tasks"]
    assert task["id"] in [t["id"] for t in listed]
    on_desktop = httpx2.get(f"{server.base}/desktops/{DESKTOP}/tasks", timeout=10).json()
    assert on_desktop["tasks"][0]["id"] == task["id"]
    # The transcript: the task, each step and the end, the screens; the server's user's only,
    # and no key in any of it.
    kept = server.data_dir / "desktops" / DESKTOP / "tasks" / task["id"]
    lines = [json.loads(l) for l in (kept / "steps.jsonl").read_text().splitlines()]
    assert [l.get("step") for l in lines] == [1, 2, 3, None] and "end" in lines[-1]
    assert json.loads((kept / "task.json").read_text())["model"] == "anthropic:claude-replay"
    assert {p.name for p in kept.glob("step-*")} == {"step-0000.webp", "step-0001.webp",
                                                     "step-0002.webp"}
    for path in kept.iterdir():
        assert path.stat().st_mode & 0o077 == 0, path
        assert KEY.encode() not in path.read_bytes(), path
    assert kept.stat().st_mode & 0o077 == 0
    audit = (server.data_dir / "desktops" / DESKTOP / "audit.jsonl").read_text()
    assert '"agent.anthropic"' in audit and KEY not in audit


def test_a_subscriber_sees_each_step_as_it_happens(server, desk, fake):
    """Connected before the model answers: the step arrives while the task still runs."""
    fake.script("claude-live", [F.claude(F.claude_use("screenshot")),
                                F.claude(F.claude_text("Done."))], delay=1.0)
    task = start(server, fake, "anthropic:claude-live")
    first = events(server, task["id"], until="step")
    assert first[-1][1] == "step"
    assert httpx2.get(f"{server.base}/api/tasks/{task['id']}", timeout=10).json()["state"] \
        == "running"
    assert end_of(events(server, task["id"], last=first[-1][0]))["state"] == "completed"


# ------------------------------------------------------------------------------ the caps

def test_the_step_cap_and_the_dollar_cap(server, desk, fake):
    fake.script("claude-steps", [F.claude(F.claude_use("screenshot")) for _ in range(5)])
    task = start(server, fake, "anthropic:claude-steps", max_steps=2)
    end = end_of(events(server, task["id"]))
    assert end["state"] == "failed" and end["outcome"]["reason"] == "max_steps"
    assert end["steps"] == 2
    # $2 a step (4000 tokens in at $500 a million), each estimated at $2.50 beforehand (the last
    # step's input and a quarter): two steps fit under $5, a third would not.
    fake.script("claude-usd", [F.claude(F.claude_use("screenshot"), usage=(4000, 0))
                               for _ in range(5)])
    task = start(server, fake, "anthropic:claude-usd", max_usd=5,
                 price={"input_per_mtok": 500, "output_per_mtok": 0})
    end = end_of(events(server, task["id"]))
    assert end["outcome"]["reason"] == "max_usd" and end["steps"] == 2, end
    assert end["cost_usd"] == pytest.approx(4.0)
    budget = httpx2.get(f"{server.base}/api/budget", timeout=10).json()
    mine = next(t for t in budget["tasks"] if t["id"] == task["id"])
    assert mine["cost_usd"] == pytest.approx(4.0) and mine["input_tokens"] == 8000
    # A provider's nonsense usage is not believed (and cannot overflow anything).
    fake.script("claude-usage", [F.claude(F.claude_use("screenshot"), usage=(2**64 - 1, 2**64 - 1))])
    task = start(server, fake, "anthropic:claude-usage")
    end = end_of(events(server, task["id"]))
    assert end["outcome"]["reason"] == "model_error" and "not believed" in end["outcome"]["text"]


def test_the_daily_cap_stops_the_second_of_two_tasks_and_survives_a_restart(tmp_path, fake):
    """$1 a day. Two tasks start at once; each first step is reserved at the first-step
    estimate ($0.50: 5000 tokens in) and costs $0.70: the first task is done after it, the
    second is stopped before its next step, and no new task starts, even after a restart."""
    price = {"input_per_mtok": 100, "output_per_mtok": 0}
    fake.script("claude-a", [F.claude(F.claude_text("Done."), usage=(7000, 0))], delay=1.0)
    fake.script("claude-b", [F.claude(F.claude_use("screenshot"), usage=(7000, 0)),
                             F.claude(F.claude_text("Done."))], delay=1.0)
    with running_server(tmp_path, "--max-usd-per-day", "1") as srv:
        made = httpx2.post(f"{srv.base}/api/desktops", json={"id": "second"}, timeout=90)
        assert made.status_code == 201, made.text
        a = start(srv, fake, "anthropic:claude-a", desktop="default", price=price)
        b = start(srv, fake, "anthropic:claude-b", desktop="second", price=price)
        end_a, end_b = end_of(events(srv, a["id"])), end_of(events(srv, b["id"]))
        assert end_a["state"] == "completed", end_a
        assert end_b["outcome"]["reason"] == "max_usd_per_day", end_b
        assert "daily cap of $1.00" in end_b["outcome"]["text"]
        budget = httpx2.get(f"{srv.base}/api/budget", timeout=10).json()
        assert budget["cap_usd"] == 1 and budget["spent_usd"] == pytest.approx(1.4)
        assert budget["remaining_usd"] == 0
        refused = httpx2.post(f"{srv.base}/api/tasks", timeout=10, json={
            "goal": "more", "model": "anthropic:claude-a", "api_key": KEY,
            "base_url": fake.url, "price": price})
        assert refused.status_code == 429 and "daily cap" in refused.text
        lines = (srv.data_dir / "budget.jsonl").read_text().splitlines()
        assert len(lines) == 2 and {json.loads(l)["task"] for l in lines} == {a["id"], b["id"]}
        assert KEY not in (srv.data_dir / "budget.jsonl").read_text()
        assert KEY not in srv.log.read_text()
    with running_server(tmp_path, "--max-usd-per-day", "1") as srv:
        refused = httpx2.post(f"{srv.base}/api/tasks", timeout=10, json={
            "goal": "more", "model": "anthropic:claude-a", "api_key": KEY,
            "base_url": fake.url, "price": price})
        assert refused.status_code == 429, refused.text
        assert httpx2.get(f"{srv.base}/api/budget", timeout=10).json()["spent_usd"] \
            == pytest.approx(1.4)


def test_a_token_starts_a_bounded_number_of_tasks_a_minute(tmp_path, fake):
    fake.script("claude-rate", [F.claude(F.claude_text("Done."))])
    with running_server(tmp_path, "--tasks-per-minute", "1") as srv:
        start(srv, fake, "anthropic:claude-rate", desktop="default")
        again = httpx2.post(f"{srv.base}/api/tasks", timeout=10, json={
            "goal": "g", "model": "anthropic:claude-rate", "api_key": KEY,
            "base_url": fake.url})
        assert again.status_code == 429 and "1 a minute" in again.text, again.text
        assert int(again.headers["retry-after"]) >= 1


# ------------------------------------------------------------------- people in the loop

def test_cancel_ends_a_task_at_once(server, desk, fake):
    fake.script("claude-slow", [F.claude(F.claude_text("never"))], delay=30)
    task = start(server, fake, "anthropic:claude-slow",
                 price={"input_per_mtok": 100, "output_per_mtok": 0})
    time.sleep(0.5)
    started = time.monotonic()
    cancelled = httpx2.post(f"{server.base}/api/tasks/{task['id']}/cancel", timeout=30)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert time.monotonic() - started < 5
    end = end_of(events(server, task["id"]))
    assert end["outcome"]["reason"] == "cancelled"
    # The call it cut off is charged its estimate (5000 tokens in): the provider had it, and
    # starting and cancelling tasks must not spend past the caps.
    assert end["cost_usd"] == pytest.approx(0.5), end
    # A finished task takes no answer, and a second cancel changes nothing.
    assert httpx2.post(f"{server.base}/api/tasks/{task['id']}/answer",
                       json={"reply": "x"}, timeout=10).status_code == 409
    assert httpx2.post(f"{server.base}/api/tasks/{task['id']}/cancel",
                       timeout=10).json()["state"] == "cancelled"


def test_a_stopping_server_ends_its_tasks_and_their_streams(tmp_path, fake):
    """SIGTERM while a task waits for its model: the task ends `server_stopping`, a client
    following it gets that end event, and the server stops promptly."""
    import threading

    fake.script("claude-stop", [F.claude(F.claude_text("never"))], delay=30)
    got: list = []
    with running_server(tmp_path, env={"ANTHROPIC_API_KEY": KEY}) as srv:
        task = start(srv, fake, "anthropic:claude-stop", desktop="default")
        follower = threading.Thread(target=lambda: got.extend(events(srv, task["id"])),
                                    daemon=True)
        follower.start()
        time.sleep(0.5)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 12
    follower.join(timeout=10)
    assert end_of(got)["outcome"]["reason"] == "server_stopping", got


def test_a_help_request_waits_for_a_person(server, desk, fake):
    def answered(body):
        (result,) = body["messages"][-1]["content"]
        assert result["type"] == "tool_result"
        assert "A person answered: call it notes.txt" in result["content"][0]["text"]
        return F.claude(F.claude_text("Thanks, done."))

    fake.script("claude-help", [
        F.claude(F.claude_tool("request_help", question="Which file name should I use?")),
        answered])
    task = start(server, fake, "anthropic:claude-help")
    asked = events(server, task["id"], until="state")
    question = asked[-1][2]
    assert question["state"] == "input_required"
    assert question["question"] == "Which file name should I use?"
    assert question["view"] == f"/desktops/{DESKTOP}/view"
    # The desktop's help request is the one the live view shows and answers.
    status = httpx2.get(f"{server.base}/api/tasks/{task['id']}", timeout=10).json()
    assert status["state"] == "input_required" and status["question"] == question["question"]
    answer = httpx2.post(f"{server.base}/api/tasks/{task['id']}/answer",
                         json={"reply": "call it notes.txt"}, timeout=10)
    assert answer.status_code == 200, answer.text
    rest = events(server, task["id"], last=asked[-1][0])
    assert rest[0][2] == {"state": "running"}
    assert end_of(rest)["state"] == "completed"
    step = steps_of(rest)[0]
    assert step["help"] == {"question": question["question"], "answer": "call it notes.txt"}


def test_a_person_taking_control_pauses_the_task(server, desk, fake):
    def after(body):
        # The note comes after the pause: before the first request or the second, whichever
        # step the person's takeover fell before (the conversation carries it either way).
        notes = [b["text"] for m in body["messages"] if m["role"] == "user"
                 for b in m["content"] if b["type"] == "text"]
        assert any("A person used the desktop meanwhile" in n for n in notes), notes
        return F.claude(F.claude_text("Done."))

    fake.script("claude-pause", [F.claude(F.claude_use("screenshot")), after], delay=1.5)
    task = start(server, fake, "anthropic:claude-pause")
    control = f"{server.base}/desktops/{DESKTOP}/control?viewer=person"
    time.sleep(0.3)
    taken = httpx2.post(f"{control}&action=take", timeout=10)
    assert taken.json()["control"] == "you", taken.text
    try:
        paused = events(server, task["id"], until="state")
        assert paused[-1][2]["state"] == "paused", paused
        time.sleep(1.0)
        assert httpx2.get(f"{server.base}/api/tasks/{task['id']}",
                          timeout=10).json()["state"] == "paused"
    finally:
        httpx2.post(f"{control}&action=release", timeout=10)
    rest = events(server, task["id"], last=paused[-1][0])
    assert rest[0][2] == {"state": "running"}
    assert end_of(rest)["state"] == "completed"


# ----------------------------------------------------------------- between tokens

ALICE, BOB, OPS = ("alice-tasks-0123456789abcdef", "bob-tasks-0123456789abcdef",
                   "ops-tasks-0123456789abcdef")


def as_(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_tasks_between_tokens(tmp_path, fake):
    """Prices and endpoints are the operator's; a task's question is its owner's to answer and
    its answer no one else's to read; another token's task is not named; a revoked token's task
    stops; a provider that echoes the key does not get it shown."""
    tokens = tmp_path / "tokens"
    tokens.write_text(f"alice: {ALICE}\nbob: {BOB}\nops: {OPS} admin\n")
    env = {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": KEY}
    with running_server(tmp_path / "server", "--token-file", str(tokens),
                        "--model-price", "anthropic:claude-priced=5,25", env=env) as srv:
        api = f"{srv.base}/api/tasks"

        def post(token, **body):
            body = {"goal": "g", "model": "anthropic:claude-priced", **body}
            return httpx2.post(api, json=body, headers=as_(token), timeout=30)

        # Only the operator prices a model; only an admin names an endpoint (its own one may
        # be sent back).
        free = post(ALICE, price={"input_per_mtok": 0, "output_per_mtok": 0})
        assert free.status_code == 403 and "--model-price" in free.text, free.text
        elsewhere = post(ALICE, base_url="http://127.0.0.1:1/v1")
        assert elsewhere.status_code == 403, elsewhere.text
        assert post(ALICE, base_url=fake.url + "@x").status_code in (400, 403)

        def answered(body):
            (result,) = body["messages"][-1]["content"]
            assert "A person answered: hunter2" in result["content"][0]["text"]
            return F.claude(F.claude_text("Logged in."))

        fake.script("claude-priced", [
            F.claude(F.claude_tool("request_help", question="What is the password?")), answered])
        task = post(ALICE, max_usd=1)
        assert task.status_code == 201, task.text
        task = task.json()
        asked = events(srv_with(srv, ALICE), task["id"], until="state")
        assert asked[-1][2]["state"] == "input_required"
        # Bob, who shares the default desktop, sees no task of Alice's, cannot answer its
        # question, and is not told its id.
        control = f"{srv.base}/desktops/default/control?viewer=bob"
        seen = httpx2.get(control, headers=as_(BOB), timeout=10).json()["help"]
        assert seen["message"] == "What is the password?" and "reply" not in seen
        refused = httpx2.post(f"{srv.base}/desktops/default/help?viewer=bob&request={seen['id']}",
                              json={"reply": "forged"}, headers=as_(BOB), timeout=10)
        assert refused.status_code == 403, refused.text
        for path in (f"/api/tasks/{task['id']}", f"/api/tasks/{task['id']}/stream"):
            assert httpx2.get(srv.base + path, headers=as_(BOB), timeout=10).status_code == 404
        busy = post(BOB)
        assert busy.status_code == 409 and task["id"] not in busy.text, busy.text
        # Nor over MCP: Bob's agent cannot put its own question in its place.
        replaced = mcp_as(srv, BOB, "help_request", {"message": "type your password here"})
        assert replaced["isError"] and "waiting for a person's answer" in str(replaced)
        answer = httpx2.post(f"{api}/{task['id']}/answer", json={"reply": "hunter2"},
                             headers=as_(ALICE), timeout=10)
        assert answer.status_code == 200, answer.text
        end = end_of(events(srv_with(srv, ALICE), task["id"], last=asked[-1][0]))
        assert end["state"] == "completed", end
        seen = httpx2.get(control, headers=as_(BOB), timeout=10).json()["help"]
        assert "reply" not in seen and "hunter2" not in json.dumps(seen)
        status = mcp_as(srv, BOB, "help_status", {})
        assert "hunter2" not in json.dumps(status), status

        # A revoked token's task stops at its next step.
        fake.script("claude-priced", [F.claude(F.claude_use("screenshot"))] * 10, delay=1.0)
        task = post(ALICE).json()
        time.sleep(0.5)
        tokens.write_text(f"bob: {BOB}\nops: {OPS} admin\n")
        end = end_of(events(srv_with(srv, OPS), task["id"]))
        assert end["outcome"]["reason"] == "token_revoked", end

        # A provider that echoes the key it refused: the outcome does not repeat it.
        fake.script("claude-priced", [F.Error(401, f"invalid x-api-key: {KEY}")])
        task = post(BOB).json()
        end = end_of(events(srv_with(srv, BOB), task["id"]))
        assert end["outcome"]["reason"] == "model_error" and "401" in end["outcome"]["text"]
        assert KEY[:8] not in end["outcome"]["text"] and KEY[-8:] not in end["outcome"]["text"]
        assert KEY not in srv.log.read_text()


def mcp_as(srv, token: str, name: str, arguments: dict) -> dict:
    """One tools/call on the default desktop with `token`; its result."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}
    headers = {"Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25", **as_(token)}
    reply = httpx2.post(f"{srv.base}/mcp", json=body, headers=headers, timeout=30)
    return reply.json()["result"]


def srv_with(srv, token: str):
    """The server, as a caller with `token` (for `events`)."""
    class As:
        base = srv.base
        headers = as_(token)
    return As


# ----------------------------------------------------------------------- refusals

@pytest.mark.parametrize("change, status, says", [
    ({"model": "claude"}, 400, "PROVIDER:MODEL"),
    ({"model": "gemini:x"}, 400, "not a provider"),
    ({"goal": " "}, 400, "goal must be"),
    ({"max_steps": 0}, 400, "max_steps must be"),
    ({"max_usd": -1}, 400, "max_usd must be"),
    ({"surprise": 1}, 400, "unknown field"),
    ({"desktop": "nope"}, 404, "nope"),
    ({"model": "anthropic:claude-unlisted", "max_usd": 1}, 400, "no price is known"),
    ({"model": "chat:qwen", "max_usd": 1}, 400, "no price is known"),
    ({"model": "chat:qwen", "base_url": None}, 400, "OPENAI_BASE_URL"),
    ({"model": "anthropic:claude-x", "api_key": None}, 400, "ANTHROPIC_API_KEY"),
    ({"base_url": "ftp://x"}, 400, "unsupported scheme"),
])
def test_bad_tasks_are_refused(server, desk, fake, change, status, says):
    body = {"desktop": DESKTOP, "goal": "g", "model": "anthropic:claude-x", "api_key": KEY,
            "base_url": fake.url, **change}
    body = {k: v for k, v in body.items() if v is not None}
    reply = httpx2.post(f"{server.base}/api/tasks", json=body, timeout=30)
    assert reply.status_code == status, reply.text
    assert says in reply.json()["error"]


def test_one_task_per_desktop_and_unknown_tasks(server, desk, fake):
    fake.script("claude-hold", [F.claude(F.claude_text("done"))], delay=3)
    task = start(server, fake, "anthropic:claude-hold")
    second = httpx2.post(f"{server.base}/api/tasks", timeout=30, json={
        "desktop": DESKTOP, "goal": "g", "model": "anthropic:claude-hold", "api_key": KEY,
        "base_url": fake.url})
    assert second.status_code == 409 and task["id"] in second.json()["error"]
    assert httpx2.get(f"{server.base}/api/tasks/task-nope", timeout=10).status_code == 404
    assert end_of(events(server, task["id"]))["state"] == "completed"


def test_a_destroyed_desktop_ends_its_task(server, fake):
    """Destroyed while the model thinks: the task ends then, not when the model answers (and
    the answer, "done", does not complete it)."""
    made = httpx2.post(f"{server.base}/api/desktops", json={"id": "doomed"}, timeout=90)
    assert made.status_code == 201, made.text
    fake.script("claude-doomed", [F.claude(F.claude_text("All done."))], delay=60)
    task = start(server, fake, "anthropic:claude-doomed", desktop="doomed")
    deadline = time.monotonic() + 30
    while not fake.requests("claude-doomed"):
        assert time.monotonic() < deadline, "the model was never asked"
        time.sleep(0.1)
    destroyed = time.monotonic()
    assert httpx2.delete(f"{server.base}/api/desktops/doomed", timeout=60).status_code == 200
    # Another desktop under the same id at once: not the task's.
    again = httpx2.post(f"{server.base}/api/desktops", json={"id": "doomed"}, timeout=90)
    assert again.status_code == 201, again.text
    try:
        end = end_of(events(server, task["id"]))
        assert end["outcome"]["reason"] == "desktop_error", end
        assert "doomed" in end["outcome"]["text"]
        # Well before the model's answer (60 s): the call was given up.
        assert time.monotonic() - destroyed < 30
    finally:
        httpx2.delete(f"{server.base}/api/desktops/doomed", timeout=60)


def test_a_model_error_ends_the_task_with_the_providers_words(server, desk, fake):
    # No script for this model: the fake answers 404 with a message.
    task = start(server, fake, "anthropic:claude-unscripted")
    end = end_of(events(server, task["id"]))
    assert end["outcome"]["reason"] == "model_error"
    assert "answered 404" in end["outcome"]["text"] and "no script" in end["outcome"]["text"]
    assert KEY not in end["outcome"]["text"]


# -------------------------------------------------------------------- agentdesk run

def test_agentdesk_run_prints_the_steps_and_the_outcome(server, desk, fake):
    fake.script("claude-cli", [F.claude(F.claude_text("Looking."), F.claude_use("screenshot")),
                               F.claude(F.claude_text("All done."))])
    env = {**os.environ, "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": fake.url,
           "AGENTDESK_SERVER": server.base}
    run = subprocess.run([agentdesk_bin(), "run", "--desktop", DESKTOP, "--goal", "Look.",
                          "--model", "anthropic:claude-cli"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "All done." in run.stdout
    assert re.search(r"step +1 .*Looking\.", run.stdout), run.stdout
    assert "→ screenshot" in run.stdout
    assert fake.requests("claude-cli")[0].headers["x-api-key"] == KEY
    # A task that fails exits 1 with why.
    fake.script("claude-cli", [F.claude(F.claude_use("screenshot"))])
    run = subprocess.run([agentdesk_bin(), "run", "--desktop", DESKTOP, "--goal", "Look.",
                          "--model", "anthropic:claude-cli", "--max-steps", "1"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "max_steps" in run.stderr, run.stderr


# ---------------------------------------------------------------- the README's loops

def readme_loops() -> dict[str, str]:
    """The Python examples of the README's section on the vendors' own tools."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Driving a desktop with a vendor's own computer-use tool")[1]
    section = section.split("\n## ")[0]
    blocks = re.findall(r"\*\*(\w+)\*\*[^\n]*\n```python\n(.*?)```", section, re.S)
    return dict(blocks)


def test_the_readme_vendor_loops_run_as_written(server, fake):
    loops = readme_loops()
    assert set(loops) == {"Anthropic", "OpenAI", "Gemini"}, loops.keys()
    fake.script("claude-sonnet-5", [F.claude(F.claude_use("screenshot")),
                                    F.claude(F.claude_text("Done."))])
    fake.script("gpt-5.4", [F.responses(F.gpt_computer({"type": "screenshot"})),
                            F.responses(F.gpt_text("Done."))])
    fake.script("gemini-3.5-flash", [
        F.gemini({"functionCall": {"name": "take_screenshot", "args": {}}}),
        F.gemini({"text": "Done."})])
    env = {**os.environ, "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": fake.url,
           "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": fake.url + "/v1",
           "GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": fake.url}
    for vendor, code in loops.items():
        # The one change: the server's address (the test's server listens on its own port).
        code = code.replace("http://127.0.0.1:3000", server.base)
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 0, f"{vendor}:\n{run.stderr}"
    for model in ("claude-sonnet-5", "gpt-5.4", "gemini-3.5-flash"):
        assert len(fake.requests(model)) == 2, model
    # The second request of each carried the executor's answer to the first.
    second = fake.requests("claude-sonnet-5")[1].body["messages"][-1]["content"][0]
    assert second["type"] == "tool_result" and second["content"][0]["type"] == "image"
    second = fake.requests("gpt-5.4")[1].body["input"][0]
    assert second["type"] == "computer_call_output"
    second = fake.requests("gemini-3.5-flash")[1].body["contents"][-1]["parts"][0]
    assert "functionResponse" in second or "function_response" in second
