"""The live view's WebSocket bridge (`/desktops/{id}/rfb`) and human takeover
(`/desktops/{id}/control`), driven by a minimal RFB viewer here: the handshake, pixels flowing,
viewers' input dropped on the server unless they hold control, agent input refused meanwhile,
hand-back, the gate and Origin, help requests. The page itself, in a browser: test_browser.py."""

from __future__ import annotations

import json
import struct
import threading
import time

import httpx2
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect as ws_connect

from conftest import (
    SCREEN,
    Server,
    audit_lines,
    mcp_call,
    pointer_position,
    running_server,
    text_of,
)

ALICE = "alice-0123456789abcdef0123456789"


def rfb_url(srv: Server, viewer: str | None = None) -> str:
    url = srv.base.replace("http://", "ws://") + "/desktops/default/rfb"
    return f"{url}?viewer={viewer}" if viewer else url


def control(srv: Server, viewer: str, action: str) -> httpx2.Response:
    return httpx2.post(
        f"{srv.base}/desktops/default/control",
        params={"viewer": viewer, "action": action},
        timeout=10,
    )


class Viewer:
    """Just enough of an RFB 3.8 client over a WebSocket to test the bridge."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.buffer = b""

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            message = self.ws.recv(timeout=10)
            assert isinstance(message, bytes), message
            self.buffer += message
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def handshake(self) -> tuple[int, int]:
        assert self.read(12) == b"RFB 003.008\n"
        self.ws.send(b"RFB 003.008\n")
        count = self.read(1)[0]
        assert list(self.read(count)) == [1]  # None: the gate has already authenticated us
        self.ws.send(bytes([1]))
        assert self.read(4) == b"\0\0\0\0"
        self.ws.send(bytes([0]))  # ClientInit, "exclusive": the bridge makes it shared anyway
        width, height = struct.unpack(">HH", self.read(4))
        self.read(16)  # pixel format
        (name_len,) = struct.unpack(">I", self.read(4))
        self.read(name_len)
        return width, height

    def drain(self) -> None:
        """Reads what is still in flight. websockets' sync client reads no further (not even
        the server's answer to its Close) while a received message waits to be consumed."""
        while True:
            try:
                self.ws.recv(timeout=0.3)
            except TimeoutError:
                return

    def settle(self) -> bytes:
        """Asks for an update and waits for the answer, so that everything sent before has been
        handled by the server; then reads what is still in flight. Returns the answer's first
        byte: 0 for a FramebufferUpdate."""
        self.request_update()
        first = self.read(1)
        self.drain()
        return first

    def request_update(self) -> None:
        self.ws.send(struct.pack(">BBHHHH", 3, 0, 0, 0, 8, 8))

    def pointer(self, x: int, y: int, buttons: int = 0) -> None:
        self.ws.send(struct.pack(">BBHH", 5, buttons, x, y))

    def key(self, keysym: int, down: bool) -> None:
        self.ws.send(struct.pack(">BBxxI", 4, int(down), keysym))


def refused_count(srv: Server, tool: str) -> int:
    """How many calls of `tool` audit-refused.jsonl has counted, once the current second's
    count is written (within a second and a quarter)."""
    path = srv.data_dir / "desktops" / "default" / "audit-refused.jsonl"
    time.sleep(1.5)
    if not path.exists():
        return 0
    lines = [json.loads(line) for line in path.read_text().split("\n") if line]
    return sum(line["tools"].get(tool, 0) for line in lines)


def mcp_move(srv: Server, x: int, y: int) -> None:
    result = mcp_call(srv, "mouse_move", {"x": x, "y": y})
    assert not result.get("isError"), result


def test_a_viewer_sees_the_desktop_and_its_input_is_dropped(server):
    mcp_move(server, 600, 300)
    with ws_connect(rfb_url(server), subprotocols=["binary"], open_timeout=10) as ws:
        viewer = Viewer(ws)
        assert viewer.handshake() == SCREEN
        viewer.request_update()
        assert viewer.read(1) == b"\0"  # FramebufferUpdate: pixels flow
        # View-only: the bridge drops the pointer and keys, whatever the viewer sends.
        viewer.pointer(100, 100, buttons=1)
        viewer.pointer(100, 100, buttons=0)
        viewer.key(0x61, True)
        viewer.key(0x61, False)
        viewer.settle()
    assert pointer_position(server) == (600, 300)


def test_viewers_never_receive_the_clipboard(server):
    """Xvnc runs without clipboard over RFB: text an agent copies (a password sent with
    secret: true, say) does not reach every viewer."""
    with ws_connect(rfb_url(server), subprotocols=["binary"], open_timeout=10) as ws:
        viewer = Viewer(ws)
        viewer.handshake()
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "clipboard_set",
                           "arguments": {"text": "hunter2-for-nobody", "secret": True}}}
        headers = {"Accept": "application/json, text/event-stream",
                   "MCP-Protocol-Version": "2025-11-25"}
        httpx2.post(server.url, json=body, headers=headers, timeout=30).raise_for_status()
        time.sleep(0.5)  # Xvnc would have announced the new clipboard by now
        assert viewer.settle() == b"\0", "something other than a FramebufferUpdate came first"


def test_the_live_view_is_behind_the_gate_and_the_origin_check(tmp_path):
    with running_server(tmp_path, env={"AGENTDESK_AUTH_TOKEN": ALICE}) as srv:
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(rfb_url(srv), open_timeout=10)
        assert refused.value.response.status_code == 401
        bearer = {"Authorization": f"Bearer {ALICE}"}
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(rfb_url(srv), additional_headers=bearer, origin="http://evil.example.com",
                       open_timeout=10)
        assert refused.value.response.status_code == 403
        with ws_connect(rfb_url(srv), additional_headers=bearer, origin=srv.base,
                        subprotocols=["binary"], open_timeout=10) as ws:
            assert Viewer(ws).handshake() == SCREEN
        # Taking control: the token, and not from another site's page (CSRF would lock the
        # agent out).
        take = f"{srv.base}/desktops/default/control?viewer=v&action=take"
        assert httpx2.post(take, timeout=10).status_code == 401
        foreign = {**bearer, "Origin": "http://evil.example.com"}
        assert httpx2.post(take, headers=foreign, timeout=10).status_code == 403
        rebound = {**bearer, "Host": f"evil.example.com:{srv.port}"}  # DNS rebinding
        assert httpx2.post(take, headers=rebound, timeout=10).status_code == 403
        assert httpx2.post(take, headers=bearer, timeout=10).json()["control"] == "you"


def test_a_human_takes_control_and_hands_it_back(tmp_path):
    """Take control: that viewer's input reaches the desktop and agent input is refused at
    once (read-only tools still work); a second viewer cannot take it; release: the agent acts
    again and is told to look again."""
    with running_server(tmp_path) as srv:
        mcp_move(srv, 600, 300)
        with ws_connect(rfb_url(srv, "alice"), subprotocols=["binary"], open_timeout=10) as ws:
            viewer = Viewer(ws)
            viewer.handshake()
            assert control(srv, "alice", "take").json()["control"] == "you"
            # Others see that a viewer holds it, never its id (which would let them act as it).
            seen = state_of(srv)
            assert seen["control"] == "another viewer" and "alice" not in json.dumps(seen)
            assert control(srv, "bob", "take").status_code == 409
            viewer.pointer(100, 120)
            viewer.settle()
            assert pointer_position(srv) == (100, 120)
            refused = mcp_call(srv, "mouse_click", {"x": 10, "y": 10})
            assert refused["isError"] is True
            assert "a human has taken control" in text_of(refused)
            assert "human" in text_of(mcp_call(srv, "clipboard_set", {"text": "x"}))
            shot = mcp_call(srv, "screen_shot", {"format": "png"})
            assert not shot.get("isError") and shot["content"][0]["type"] == "image"
            assert pointer_position(srv) == (100, 120)  # the refused click moved nothing
            assert control(srv, "alice", "release").json()["control"] == "agent"
            events = [(e["tool"], e["outcome"]) for e in audit_lines(srv)
                      if e["tool"].startswith("live_view.")]
            assert events == [("live_view.take_control", "ok"),
                              ("live_view.release_control", "ok")], events
            # The second viewer's refused take changed nothing: counted, not written alone.
            assert refused_count(srv, "live_view.take_control") == 1
            # Handed back, this viewer is view-only again.
            viewer.pointer(300, 300)
            viewer.settle()
        assert pointer_position(srv) == (100, 120)
        after = mcp_call(srv, "mouse_move", {"x": 640, "y": 400})
        assert not after.get("isError"), after
        assert "handed it back" in text_of(after) and "Take a screenshot" in text_of(after)
        assert "handed it back" not in text_of(mcp_call(srv, "mouse_move", {"x": 641, "y": 400}))


def test_control_returns_to_the_agent_after_the_idle_time(tmp_path):
    with running_server(tmp_path, "--control-idle", "1", "--call-timeout", "5") as srv:
        # help_status waits only as long as the per-call limit allows.
        refused = mcp_call(srv, "help_status", {"wait_seconds": 4})
        assert refused["isError"] is True and "0 to 3" in text_of(refused), refused
        assert control(srv, "alice", "take").status_code == 200
        assert "human" in text_of(mcp_call(srv, "mouse_move", {"x": 5, "y": 5}))
        time.sleep(1.2)
        result = mcp_call(srv, "mouse_move", {"x": 5, "y": 5})
        assert not result.get("isError") and "handed it back" in text_of(result)
        assert state_of(srv)["control"] == "agent"


def state_of(srv: Server) -> dict:
    return httpx2.get(f"{srv.base}/desktops/default/control", timeout=10).json()


def answer(srv: Server, request: int, reply: str, **headers: str) -> httpx2.Response:
    return httpx2.post(
        f"{srv.base}/desktops/default/help",
        params={"viewer": "alice", "request": request},
        json={"reply": reply},
        headers=headers,
        timeout=10,
    )


def test_a_help_request_reaches_the_page_and_its_answer_the_agent(tmp_path):
    with running_server(tmp_path) as srv:
        none = json.loads(text_of(mcp_call(srv, "help_status", {})))
        assert none["state"] == "none" and none["human_has_control"] is False
        asked = json.loads(text_of(mcp_call(srv, "help_request",
                                            {"message": "please <b>solve</b> the captcha"})))
        assert asked["state"] == "open" and "/desktops/default/view" in asked["action"]
        help_ = state_of(srv)["help"]
        assert help_["message"] == "please <b>solve</b> the captcha" and not help_["answered"]
        # The page's answers: from this origin only, to the current request only, bounded.
        foreign = answer(srv, help_["id"], "x", Origin="http://evil.example.com")
        assert foreign.status_code == 403
        assert answer(srv, help_["id"] + 1, "x").status_code == 409
        assert answer(srv, help_["id"], "x" * 2001).status_code == 400
        assert answer(srv, help_["id"], "bad\x1b[2J").status_code == 400

        # An agent waiting with help_status wakes up when the human answers.
        def answer_soon():
            time.sleep(0.5)
            assert answer(srv, help_["id"], "solved it").status_code == 200

        helper = threading.Thread(target=answer_soon)
        helper.start()
        started = time.monotonic()
        waited = json.loads(text_of(mcp_call(srv, "help_status", {"wait_seconds": 15})))
        helper.join()
        assert time.monotonic() - started < 10
        assert waited["state"] == "answered" and waited["reply"] == "solved it", waited
        assert "screenshot" in waited["action"]
        assert answer(srv, help_["id"], "again").status_code == 409  # answered once

        # An answer the agent did not ask about comes as a note on its next call, once.
        again = json.loads(text_of(mcp_call(srv, "help_request", {"message": "click Allow"})))
        assert answer(srv, again["request"], "").status_code == 200
        noted = text_of(mcp_call(srv, "mouse_move", {"x": 5, "y": 5}))
        assert f"answered your help request {again['request']}" in noted
        assert "help request" not in text_of(mcp_call(srv, "mouse_move", {"x": 6, "y": 5}))
        refused = mcp_call(srv, "help_status", {"wait_seconds": 21})
        assert refused["isError"] is True and "0 to 20" in text_of(refused)
        # What the human did is in the audit log, beside the agent's calls; answers that were
        # refused (a stale request, one answered already) changed nothing and are only counted.
        answers = [e for e in audit_lines(srv) if e["tool"] == "live_view.answer_help"]
        assert [(e["outcome"], e["arguments"].get("reply")) for e in answers] == [
            ("ok", "solved it"), ("ok", "")], answers
        assert refused_count(srv, "live_view.answer_help") >= 2


def test_control_comes_back_when_the_holders_page_closes(tmp_path):
    with running_server(tmp_path) as srv:
        with ws_connect(rfb_url(srv, "alice"), subprotocols=["binary"], open_timeout=10) as ws:
            Viewer(ws).handshake()
            assert control(srv, "alice", "take").status_code == 200
            assert "human" in text_of(mcp_call(srv, "mouse_move", {"x": 5, "y": 5}))
        # The closed WebSocket hands control back, without waiting for the idle time.
        deadline = time.monotonic() + 10
        while state_of(srv)["control"] != "agent":
            assert time.monotonic() < deadline, "control was not handed back"
            time.sleep(0.1)
        result = mcp_call(srv, "mouse_move", {"x": 5, "y": 5})
        assert not result.get("isError") and "handed it back" in text_of(result)


BOB = "bob-0123456789abcdef0123456789"


def test_control_belongs_to_the_viewer_and_its_token(tmp_path):
    """Another token holder who learned a page's viewer id still cannot send input as it,
    release it, or take its place; a second connection of the same page keeps control when
    the first closes."""
    tokens = tmp_path / "tokens"
    tokens.write_text(f"alice: {ALICE}\nbob: {BOB}\n")
    tokens.chmod(0o600)
    alice = {"Authorization": f"Bearer {ALICE}"}
    bob = {"Authorization": f"Bearer {BOB}"}
    with running_server(tmp_path / "server", "--token-file", str(tokens)) as srv:
        def post(who, action):
            return httpx2.post(f"{srv.base}/desktops/default/control",
                               params={"viewer": "page-1", "action": action}, headers=who,
                               timeout=10)

        mcp = {**alice, "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "mouse_move", "arguments": {"x": 600, "y": 300}}}
        assert "error" not in httpx2.post(srv.url, json=body, headers=mcp, timeout=30).json()
        with ws_connect(rfb_url(srv, "page-1"), additional_headers=alice,
                        subprotocols=["binary"], open_timeout=10) as first:
            Viewer(first).handshake()
            assert post(alice, "take").json()["control"] == "you"
            assert post(bob, "take").status_code == 409
            seen = post(bob, "release").json()
            assert seen["control"] == "another viewer" and seen["holder_token"] == "alice"
            with ws_connect(rfb_url(srv, "page-1"), additional_headers=bob,
                            subprotocols=["binary"], open_timeout=10) as ws:
                impostor = Viewer(ws)
                impostor.handshake()
                impostor.pointer(50, 60)
                impostor.settle()
            assert pointer_position(srv, ALICE) == (600, 300)
            # Bob's connection under alice's page id closed: alice keeps control.
            assert post(alice, "take").json()["control"] == "you"
            with ws_connect(rfb_url(srv, "page-1"), additional_headers=alice,
                            subprotocols=["binary"], open_timeout=10) as second:
                again = Viewer(second)
                again.handshake()
                first.close()
                time.sleep(0.3)
                assert post(alice, "take").json()["control"] == "you"
                again.pointer(70, 80)
                again.settle()
                assert pointer_position(srv, ALICE) == (70, 80)


def test_revoking_a_token_closes_its_open_connections(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(f"alice: {ALICE}\nbob: {BOB}\n")
    tokens.chmod(0o600)
    with running_server(tmp_path / "server", "--token-file", str(tokens)) as srv:
        with ws_connect(rfb_url(srv, "page-1"), additional_headers={"Authorization": f"Bearer {BOB}"},
                        subprotocols=["binary"], open_timeout=10) as ws:
            viewer = Viewer(ws)
            viewer.handshake()
            tokens.write_text(f"alice: {ALICE}\n")
            deadline = time.monotonic() + 10
            with pytest.raises(ConnectionClosed):
                while time.monotonic() < deadline:
                    viewer.request_update()
                    viewer.drain()
                    time.sleep(0.2)
            assert time.monotonic() < deadline, "bob's connection outlived his token"
