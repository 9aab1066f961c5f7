"""What a hostile review and a new user's first hour found in the landed work, each a test on a
real server: the launch policy's side doors (the window manager's menu, arguments that turn an
allowed app into a shell), the audit log washed out by refusals, the live view locked by
another local user, memory from small bodies, file modes, the X server's environment, what a
killed server leaves behind, secrets in rejected calls, rate limits that killed client
sessions, and apps that greet a restarted desktop with dialogs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from websockets.sync.client import connect as ws_connect

from conftest import (
    Server,
    audit_lines,
    connect,
    descendants,
    desktop_home,
    error_text,
    is_alive,
    ok_text,
    poll,
    read_proc,
    running_server,
    type_in_terminal,
    wait_for_file,
)
from test_live import Viewer, rfb_url

MCP_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}


def tool_call(name: str, arguments: Any, id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}


def post(http: httpx2.Client, url: str, body: Any) -> httpx2.Response:
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return http.post(url, content=content, headers=MCP_HEADERS)


def result_of(response: httpx2.Response) -> dict[str, Any]:
    assert response.status_code == 200, (response.status_code, response.text[:300])
    return response.json()["result"]


def mcp_result(srv: Server, name: str, arguments: dict) -> dict[str, Any]:
    with httpx2.Client(timeout=30) as http:
        return result_of(post(http, srv.url, tool_call(name, arguments)))


def text(result: dict[str, Any]) -> str:
    return " ".join(c["text"] for c in result["content"] if c["type"] == "text")


def refused_lines(srv: Server) -> list[dict[str, Any]]:
    path = srv.data_dir / "desktops" / "default" / "audit-refused.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().split("\n") if line]


def desktop_env(srv: Server) -> dict[str, str]:
    """The environment the desktop's apps get (the window manager's, without its own
    variable), for running a program as if an app had."""
    wm = next(p for p in descendants(srv.process.pid) if p.comm == "icewm")
    env = dict(
        var.split("=", 1)
        for var in Path(f"/proc/{wm.pid}/environ").read_text().split("\0")
        if "=" in var
    )
    env.pop("ICEWM_PRIVCFG", None)
    return env


def runtime_dir(srv: Server) -> Path:
    """The desktop's runtime directory (its XDG_RUNTIME_DIR)."""
    return Path(desktop_env(srv)["XDG_RUNTIME_DIR"])


def processes_with_cmdline(*argv: str) -> list[int]:
    """The processes running exactly `argv` (wherever in the process tree they are)."""
    wanted = "".join(f"{a}\0" for a in argv).encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/cmdline").read_bytes() == wanted:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def run_in_a_new_terminal(srv: Server, command: str) -> dict[str, Any]:
    """Launches an xterm through MCP, waits for its shell and types `command` into it, as an
    agent would; returns app_launch's answer."""
    async def run():
        async with connect(srv.url) as client:
            launched = json.loads(ok_text(await client.call_tool(
                "app_launch", {"command": "xterm"})))
            await poll(lambda: asyncio.sleep(0, result=bool(descendants(launched["pid"]))),
                       timeout=10, what="xterm's shell")
            await type_in_terminal(client, command)
            return launched
    return asyncio.run(run())


# ----------------------------------------------------------------------------- 1. the menu


def started_since(srv: Server, before: set[tuple[int, int]]) -> list:
    """Processes of the server's tree that were not there before."""
    return [p for p in descendants(srv.process.pid) if (p.pid, p.start) not in before]


def tree(srv: Server) -> set[tuple[int, int]]:
    return {(p.pid, p.start) for p in descendants(srv.process.pid)}


def end_processes(procs: list) -> None:
    for p in procs:
        if is_alive(p):
            os.kill(p.pid, signal.SIGKILL)


FIREFOX_HELPERS = {"Web Content", "WebExtensions", "Socket Process", "RDD Process",
                   "Utility Process", "Privileged Cont", "Isolated Web Co", "forkserver",
                   "Chroot Helper", "MainThread", "crashhelper",
                   "dbus-launch", "dbus-daemon", "at-spi-bus-laun", "at-spi2-registr"}
"""What Firefox ESR starts beside itself (process names, cut to 15 characters); none of them
runs a program of the agent's choosing."""

MENU_REGION = {"x": 0, "y": 400, "width": 400, "height": 374}
"""Where IceWM's start menu opens at 1280x800: above the start button, left of the screen."""


def test_the_window_managers_menu_offers_only_what_the_policy_allows(tmp_path):
    """Walk IceWM's start menu item by item with MCP key presses, as an agent clicking around
    would, then try every other launcher IceWM has: only the allowed apps ever start."""
    markers = [tmp_path / "canary-ran", tmp_path / "address-bar-ran"]
    home_apps = tmp_path / "data" / "desktops" / "default" / "home" / ".local/share/applications"
    home_apps.mkdir(parents=True)
    # A .desktop file the agent could have saved into its home: never offered under a policy.
    (home_apps / "canary.desktop").write_text(
        f"[Desktop Entry]\nType=Application\nName=Canary\nExec=touch {markers[0]}\n"
    )
    with running_server(
        tmp_path, "--allow-app", "firefox-esr", "--allow-app", "mousepad"
    ) as srv:
        async def walk() -> tuple[list[str], list[str]]:
            started: list[str] = []
            async with connect(srv.url) as client:
                listed = [json.loads(block.text)["exec"]
                          for block in (await client.call_tool("app_list", {})).content]
                async def key(keys: str) -> None:
                    ok_text(await client.call_tool("key_press", {"keys": keys}))

                async def menu_picture() -> bytes:
                    result = await client.call_tool(
                        "screen_shot", {"format": "png", "region": MENU_REGION})
                    assert not result.is_error
                    return result.content[0].data

                first = None
                for i in range(12):
                    await key("Escape")
                    await key("Escape")
                    await key("ctrl+Escape")  # IceWM's start menu, first item selected
                    for _ in range(i):
                        await key("Down")
                    picture = await menu_picture()
                    if first is None:
                        first = picture
                    elif picture == first:
                        break  # wrapped around: every item was tried
                    before = tree(srv)
                    await key("Return")
                    await asyncio.sleep(2.5)
                    new = started_since(srv, before)
                    started.append(",".join(sorted({p.comm for p in new})) or "nothing")
                    end_processes(new)
                    await asyncio.sleep(0.5)
                # Every other way IceWM has to start a program.
                before = tree(srv)
                for keys in ["ctrl+alt+t", "ctrl+alt+b", "ctrl+alt+s", "super+p", "alt+F2",
                             "XF86Calculator", "XF86HomePage", "XF86Search"]:
                    await key(keys)
                    await asyncio.sleep(0.3)
                    await key("Escape")
                await key("ctrl+alt+space")
                await asyncio.sleep(0.3)
                ok_text(await client.call_tool("key_type", {"text": f"touch {markers[1]}"}))
                await key("Return")
                for x, y, clicks in [(1251, 787, 1), (1251, 787, 2)]:  # the clock
                    tool = "mouse_click" if clicks == 1 else "mouse_double_click"
                    ok_text(await client.call_tool(tool, {"x": x, "y": y}))
                    await asyncio.sleep(0.3)
                await key("Escape")
                await asyncio.sleep(2)
                others = started_since(srv, before)
                started.append(",".join(sorted({p.comm for p in others})) or "nothing")
                end_processes(others)
            return listed, started

        listed, started = asyncio.run(walk())
        # The menu is app_list, item by item (Mousepad's settings entry runs mousepad too).
        assert set(listed) == {"firefox-esr", "mousepad"}, listed
        assert len(started) == len(listed) + 1, (listed, started)
        for exec_name, seen in zip(listed, started):
            # The program itself, and what it started (Firefox's helpers).
            programs = set(seen.split(","))
            assert exec_name[:15] in programs, (listed, started)
            assert programs <= {exec_name[:15]} | FIREFOX_HELPERS, (listed, started)
        assert started[-1] == "nothing", started
        for marker in markers:
            assert not marker.exists(), marker


def processes_named(*names: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            p = read_proc(int(entry))
            if p is not None and p.comm in names and p.state not in "ZX":
                found.append(p.pid)
    return found


def test_the_session_bus_starts_no_service_an_app_could_have_written(tmp_path):
    """A .service file saved into the runtime directory's or the home's dbus-1/services (an
    allowed editor can) names any program; asking the bus for that name (Firefox asks for the
    desktop portal at every start) must not run it."""
    marker = tmp_path / "bus-started-it"
    with running_server(tmp_path, "--allow-app", "firefox-esr,mousepad") as srv:
        env = desktop_env(srv)
        home = Path(env["HOME"])
        for services in [Path(env["XDG_RUNTIME_DIR"]) / "dbus-1/services",
                         home / ".local/share/dbus-1/services"]:
            services.mkdir(parents=True, exist_ok=True)
            (services / "org.freedesktop.portal.Desktop.service").write_text(
                "[D-BUS Service]\nName=org.freedesktop.portal.Desktop\n"
                f"Exec=/bin/sh -c 'touch {marker}'\n")
        asked = subprocess.run(
            ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.portal.Desktop",
             "/org/freedesktop/portal/desktop", "org.freedesktop.DBus.Peer.Ping"],
            env=env, capture_output=True, text=True, timeout=30)
        assert asked.returncode != 0, asked.stdout
        assert "ServiceUnknown" in asked.stderr, asked.stderr
        time.sleep(0.5)
        assert not marker.exists()
        # What the bus does start: the system's own services (the accessibility bus).
        a11y = subprocess.run(
            ["dbus-send", "--session", "--print-reply", "--dest=org.a11y.Bus", "/org/a11y/bus",
             "org.a11y.Bus.GetAddress"], env=env, capture_output=True, text=True, timeout=30)
        assert a11y.returncode == 0, a11y.stderr


def test_apps_own_launchers_start_nothing_the_policy_withholds(tmp_path):
    """xdg-open, as a browser opening a download would run it: a C file would open in vim
    inside xterm (a terminal app, and a denied terminal), and an entry the agent saved into its
    home's applications with a default of its own would run anything. Neither may start."""
    marker = tmp_path / "home-entry-ran"
    with running_server(tmp_path, "--deny-app", "xterm,uxterm") as srv:
        env = desktop_env(srv)
        home = Path(env["HOME"])
        mine = home / ".local/share/applications"
        mine.mkdir(parents=True, exist_ok=True)
        (mine / "pwn.desktop").write_text(
            "[Desktop Entry]\nType=Application\nName=Pwn\nMimeType=text/x-csrc;\n"
            f"Exec=/bin/sh -c 'touch {marker}' %f\n")
        (home / ".config").mkdir(exist_ok=True)
        (home / ".config/mimeapps.list").write_text(
            "[Default Applications]\ntext/x-csrc=pwn.desktop\n")
        source = home / "hello.c"
        source.write_text("int main(void) { return 0; }\n")
        data_home = Path(env["XDG_DATA_HOME"])
        assert stat.S_IMODE(data_home.stat().st_mode) == 0o500
        assert (data_home / "applications" / "debian-xterm.desktop").read_text().count(
            "Hidden=true") == 1
        assert (data_home / "applications" / "vim.desktop").exists()
        opened = subprocess.Popen(["xdg-open", str(source)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            opened.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass  # it opened something that runs on: what, is checked below
        time.sleep(2)
        try:
            assert not marker.exists()
            assert processes_named("xterm", "uxterm", "vim", "vim.basic", "lxterm") == []
        finally:
            opened.kill()
            for pid in processes_named("xterm", "vim", "vim.basic", "mousepad"):
                os.kill(pid, signal.SIGKILL)


def conf_dir(srv: Server) -> Path:
    """What agentdesk writes for the desktop's processes (read-only in its sandbox)."""
    return Path(f"{runtime_dir(srv)}.conf")


def test_a_menu_file_put_in_the_window_managers_place_is_never_read(tmp_path):
    """Its directory is read-only to the desktop's apps (and, without the sandbox, its files'
    modes stop an editor from saving over them, not a file chooser from renaming the directory
    and making another): in any case the menu must already be loaded. The swap here is made
    from outside, by the test."""
    with running_server(tmp_path, "--allow-app", "galculator") as srv:
        marker = desktop_home(srv) / "planted-menu-ran"
        # The agent's first input waits until agentdesk has loaded the menu (no app could have
        # planted anything before: planting takes input). Then, the swap.
        assert not mcp_result(srv, "key_press", {"keys": "shift"}).get("isError")
        config = conf_dir(srv) / "icewm"
        config.rename(config.with_name("icewm.moved"))
        config.mkdir()
        (config / "menu").write_text(f"prog 'Planted' - /bin/sh -c 'touch {marker}'\n")

        async def open_first_item():
            async with connect(srv.url) as client:
                for keys in ["Escape", "ctrl+Escape", "Return"]:
                    ok_text(await client.call_tool("key_press", {"keys": keys}))
                await poll(lambda: asyncio.sleep(0, result=bool(processes_named("galculator"))),
                           timeout=15, what="galculator, the menu's only item, to start")

        asyncio.run(open_first_item())
        time.sleep(0.5)
        assert not marker.exists()


def test_the_window_managers_files_are_read_only(tmp_path):
    with running_server(tmp_path, "--allow-app", "mousepad") as srv:
        config = conf_dir(srv) / "icewm"
        assert stat.S_IMODE(config.stat().st_mode) == 0o500
        names = sorted(p.name for p in config.iterdir())
        assert names == ["keys", "menu", "preferences", "prefoverride", "programs", "toolbar",
                         "winoptions"]
        for path in config.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o400, path
        assert "prog '_Mousepad'" in (config / "menu").read_text()


# ----------------------------------------------------------------------------- 2. arguments


def test_under_a_policy_arguments_are_values_of_the_exec_field_code(tmp_path):
    marker = tmp_path / "shell-ran"
    with running_server(
        tmp_path, "--deny-app", "xterm,uxterm", "--allow-app-args", "galculator"
    ) as srv, httpx2.Client(timeout=30) as http:
        for command in [
            f"chromium --no-sandbox --headless=new "
            f"--renderer-cmd-prefix=\"/bin/sh -c 'id > {marker}'\" about:blank",
            f"vim -E -s -c \"!id > {marker}\" -c qa!",
            "firefox-esr --new-instance --profile /tmp about:blank",
        ]:
            result = result_of(post(http, srv.url, tool_call("app_launch", {"command": command})))
            message = text(result)
            assert result["isError"] is True, message
            assert "--allow-app-args" in message, message
            assert "never options" in message, message
        # Values the field code takes pass; an option the operator allowed passes too.
        result = result_of(post(http, srv.url, tool_call(
            "app_launch", {"command": "mousepad notes.txt"})))
        assert not result.get("isError"), text(result)
        result = result_of(post(http, srv.url, tool_call(
            "app_launch", {"command": "galculator --version"})))
        assert not result.get("isError"), text(result)
        time.sleep(1.0)
        assert not marker.exists()
        running = {p.comm for p in descendants(srv.process.pid)}
        assert not running & {"chromium", "vim", "sh"}, running


def test_without_a_policy_arguments_are_ghostdesks(server):
    with httpx2.Client(timeout=30) as http:
        result = result_of(post(http, server.url, tool_call(
            "app_launch", {"command": "galculator --version"})))
    assert not result.get("isError"), text(result)


# ----------------------------------------------------------------------------- 3. audit flood


def test_a_flood_of_refused_calls_cannot_wash_an_accepted_call_out_of_the_audit_log(tmp_path):
    with running_server(tmp_path, "--rate-limit", "1") as srv, httpx2.Client(timeout=30) as http:
        launched = result_of(post(http, srv.url, tool_call(
            "app_launch", {"command": "galculator"})))
        assert not launched.get("isError"), text(launched)
        # 1,400 calls with ~50 KB of arguments each, as fast as the server answers: a burst
        # passes, the rest are refused by the rate limit (and some rejected).
        padding = "x" * 50_000
        answers = {"ok": 0, "rate_limited": 0, "other": 0}
        for i in range(1400):
            arguments = {"text": padding, "Secret": True} if i % 2 else {"text": padding}
            result = result_of(post(http, srv.url, tool_call("key_type", arguments, id=i)))
            if text(result).startswith("rate limited"):
                answers["rate_limited"] += 1
            elif result.get("isError"):
                answers["other"] += 1
            else:
                answers["ok"] += 1
        assert answers["rate_limited"] >= 1350, answers
        # The last second's count is written once that second is over.
        refused_total = answers["rate_limited"] + answers["other"]
        deadline = time.monotonic() + 5
        while sum(line["count"] for line in refused_lines(srv)) < refused_total:
            assert time.monotonic() < deadline, refused_lines(srv)
            time.sleep(0.1)
        audit_dir = srv.data_dir / "desktops" / "default"
        accepted = audit_lines(srv)
        assert accepted[0]["tool"] == "app_launch", accepted[0]
        assert accepted[0]["arguments"] == {"command": "galculator"}
        assert not (audit_dir / "audit.jsonl.1").exists()
        # Refusals: one line per second at most, counting every call, with no arguments kept.
        refused = refused_lines(srv)
        assert sum(line["count"] for line in refused) == refused_total
        assert len(refused) <= 60, len(refused)
        size = (audit_dir / "audit-refused.jsonl").stat().st_size
        assert size < 100_000, size
        assert padding[:100] not in (audit_dir / "audit-refused.jsonl").read_text()
        # The session keeps working once the caller slows down.
        time.sleep(2)
        assert not result_of(post(http, srv.url, tool_call("app_list", {}))).get("isError")


def test_the_live_views_actions_cannot_flood_the_audit_log(tmp_path):
    """Take control and help answers write the audit log: what changed nothing (releasing
    control one does not hold, answering a request that is gone) is only counted, and the
    actions count against the caller's rate like tool calls."""
    with running_server(tmp_path, "--rate-limit", "5") as srv, httpx2.Client(timeout=30) as http:
        base = f"{srv.base}/desktops/default"
        statuses, limited = [], None
        for i in range(60):
            if i % 2:
                r = http.post(f"{base}/control", params={"viewer": "v", "action": "release"})
            else:
                r = http.post(f"{base}/help", params={"viewer": "v", "request": 999},
                              json={"reply": "r" * 2000})
            statuses.append(r.status_code)
            limited = r if r.status_code == 429 else limited
        assert statuses.count(429) >= 40, statuses
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.text.startswith("rate limited: retry in ")
        deadline = time.monotonic() + 5
        while sum(line["count"] for line in refused_lines(srv)) < 60:
            assert time.monotonic() < deadline, refused_lines(srv)
            time.sleep(0.1)
        # Nothing was accepted: nothing is in audit.jsonl (not even the file).
        assert not (srv.data_dir / "desktops" / "default" / "audit.jsonl").exists()


def test_a_foreign_page_cannot_use_up_the_local_agents_rate(tmp_path):
    """On an open loopback listener every caller shares one rate: a web page's requests
    (which rmcp refuses for their Origin) must be refused before they are counted."""
    with running_server(tmp_path, "--rate-limit", "2") as srv, httpx2.Client(timeout=30) as http:
        body = json.dumps(tool_call("app_list", {}))
        for _ in range(50):
            r = http.post(srv.url, content=body, headers={
                **MCP_HEADERS, "Content-Type": "text/plain", "Origin": "https://evil.example"})
            assert r.status_code == 403, (r.status_code, r.text[:200])
        result = result_of(post(http, srv.url, tool_call("app_list", {})))
        assert not result.get("isError"), text(result)


def test_one_token_cannot_take_every_viewers_place_nor_block_a_persons_control(tmp_path):
    """An agent's token opens at most 16 viewers (logging in on the page does not get it more),
    so a person with a token of their own can always watch; and an agent calling tools as fast
    as it may never uses up the rate a person's Take control needs."""
    agent, person = "tok-agent-0123456789abcdef01", "tok-person-0123456789abcdef0"
    tokens = tmp_path / "tokens"
    tokens.write_text(f"agent: {agent}\nperson: {person}\n")
    with running_server(tmp_path, "--token-file", str(tokens), "--rate-limit", "2") as srv:
        url = rfb_url(srv)
        opened = []

        def viewer(headers):
            ws = ws_connect(url, subprotocols=["binary"], open_timeout=10,
                            additional_headers=headers)
            Viewer(ws).handshake()
            return ws

        try:
            for _ in range(16):
                opened.append(viewer([("Authorization", f"Bearer {agent}")]))
            with httpx2.Client(timeout=10, follow_redirects=False) as http:
                login = http.post(f"{srv.base}/login", data={"token": agent, "next": "/"},
                                  headers={"Origin": srv.base})
                cookie = login.headers["set-cookie"].split(";", 1)[0]
            for headers in ([("Authorization", f"Bearer {agent}")], [("Cookie", cookie)]):
                with pytest.raises(Exception, match="503"):
                    viewer(headers)
            opened.append(viewer([("Authorization", f"Bearer {person}")]))
        finally:
            for ws in opened:
                ws.close()
        with httpx2.Client(timeout=30) as http:
            agent_headers = {**MCP_HEADERS, "Authorization": f"Bearer {agent}"}
            for _ in range(40):  # far over the agent's rate
                http.post(srv.url, content=json.dumps(tool_call("app_list", {})),
                          headers=agent_headers)
            for token in (person, agent):
                taken = http.post(f"{srv.base}/desktops/default/control",
                                  params={"viewer": "v1", "action": "take"},
                                  headers={"Authorization": f"Bearer {token}"})
                assert taken.status_code in (200, 409), (taken.status_code, taken.text)
                http.post(f"{srv.base}/desktops/default/control",
                          params={"viewer": "v1", "action": "release"},
                          headers={"Authorization": f"Bearer {token}"})


def test_stdio_counts_the_calls_it_refuses(tmp_path):
    data = tmp_path / "data"
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "mouse_move", "arguments": {"x": list(range(2000)), "y": 1}}})
    init = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}})
    server = subprocess.Popen(
        [os.environ["AGENTDESK_BIN"], "serve", "--stdio", "--data-dir", str(data)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        server.stdin.write(init + "\n" + body + "\n")
        server.stdin.flush()
        answers = [json.loads(server.stdout.readline()) for _ in range(2)]
        refused = next(a for a in answers if a.get("id") == 1)
        assert refused["result"]["isError"] is True
        assert "more than 1000 values" in refused["result"]["content"][0]["text"]
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    lines = [json.loads(line) for line in
             (data / "desktops/default/audit-refused.jsonl").read_text().splitlines()]
    assert [(l["token"], l["tools"]) for l in lines] == [("stdio", {"mouse_move": 1})]


# ----------------------------------------------------------------------------- 9. secrets


def test_a_rejected_calls_text_is_written_nowhere(tmp_path):
    secret = "n0t-Really-Secret-But-Close-4f2a"
    with running_server(tmp_path) as srv, httpx2.Client(timeout=30) as http:
        for tool in ("key_type", "clipboard_set"):
            for arguments in [
                {"text": secret, "Secret": True},
                {"text": secret, "secret": True, "extra": 1},
                {"text": secret + "\u0000", "secret": "certainly"},
            ]:
                result = result_of(post(http, srv.url, tool_call(tool, arguments)))
                assert result["isError"] is True, text(result)
                assert secret not in json.dumps(result)
        deadline = time.monotonic() + 5
        while sum(line["count"] for line in refused_lines(srv)) < 6:
            assert time.monotonic() < deadline, refused_lines(srv)
            time.sleep(0.1)
        files = [p for p in srv.data_dir.rglob("*") if p.is_file()]
        assert [p for p in files if secret.encode() in p.read_bytes()] == []
        assert secret not in srv.log.read_text(errors="replace")
        refused = refused_lines(srv)
        assert sum(line["count"] for line in refused) == 6
        assert any(
            line["first"]["arguments"]["text"] == f"[{len(secret)} characters]"
            for line in refused
        ), refused


# ----------------------------------------------------------------------------- 10. clients

CLIENTS = Path(__file__).parent / "clients"
CLIENT_TOKEN = "tok-ratelimit-0123456789abcdef0123"


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory) -> Server:
    """A server with a token and a low rate limit (2 calls/s, bursts of 10)."""
    root = tmp_path_factory.mktemp("limited")
    with running_server(root, "--rate-limit", "2",
                        env={"AGENTDESK_AUTH_TOKEN": CLIENT_TOKEN}) as srv:
        yield srv


def client_command(client: str, url: str) -> list[str]:
    """How to run tests/e2e/clients/rate_limit_check.* under one official client."""
    common = [url, "--token", CLIENT_TOKEN, "--calls", "40", "--timeout", "120"]
    if client.startswith("python-2"):
        mode = client.rsplit("-", 1)[1]
        return [os.sys.executable, str(CLIENTS / "rate_limit_check.py"), *common, "--mode", mode]
    if client == "python-1":
        python = os.environ.get("AGENTDESK_MCP1_PYTHON")
        if not python:
            pytest.fail("set AGENTDESK_MCP1_PYTHON to a python with mcp 1.x (scripts/test.sh "
                        "installs one into target/e2e-venv-mcp1)")
        return [python, str(CLIENTS / "rate_limit_check.py"), *common]
    if not (CLIENTS / "node_modules").is_dir():
        pytest.fail("the TypeScript clients are not installed: npm ci in tests/e2e/clients "
                    "(scripts/test.sh does it)")
    sdk, *mode = client.removeprefix("typescript-").split("-")
    extra = ["--mode", mode[0]] if mode else []
    return ["node", str(CLIENTS / "rate_limit_check.mjs"), *common, "--sdk", sdk, *extra]


@pytest.mark.parametrize("client", [
    "python-2-auto", "python-2-legacy", "python-1",
    "typescript-1", "typescript-2-auto", "typescript-2-legacy",
])
def test_a_rate_limited_burst_leaves_every_official_clients_session_working(
    limited_server, client
):
    """A burst over the rate limit: each refused call comes back as a tool error saying how
    long to wait, none raises, the session survives, and a call after the wait succeeds."""
    done = subprocess.run(client_command(client, limited_server.url), cwd=CLIENTS,
                          capture_output=True, text=True, timeout=180)
    summary = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    assert done.returncode == 0, (summary, done.stderr[-2000:])
    assert summary["rate_limited"] >= 1 and summary["raised"] == 0, summary
    assert summary["final_call"] == "ok", summary
    expected = "2026-07-28" if client.endswith("auto") else "2025-11-25"
    assert summary["protocol"] == expected, summary


# ----------------------------------------------------------------------------- 6. modes


def test_what_agentdesk_and_the_desktops_apps_write_is_private(tmp_path):
    def permissive_umask() -> None:
        os.umask(0o022)

    with running_server(tmp_path, preexec=permissive_umask) as srv:
        launched = run_in_a_new_terminal(srv, "echo written > agent-file.txt")
        home = srv.data_dir / "desktops" / "default" / "home"
        asyncio.run(wait_for_file(home / "agent-file.txt", "written"))
        for path, mode in [
            (srv.data_dir, 0o700),
            (srv.data_dir / "desktops" / "default", 0o700),
            (home, 0o700),
            (Path(launched["log_file"]).parent, 0o700),
            (Path(launched["log_file"]), 0o600),
            (srv.data_dir / "desktops" / "default" / "audit.jsonl", 0o600),
            (home / "agent-file.txt", 0o600),
        ]:
            assert stat.S_IMODE(path.stat().st_mode) == mode, (path, oct(path.stat().st_mode))


# ----------------------------------------------------------------------------- 7. environ


def test_the_x_server_gets_none_of_agentdesks_environment(tmp_path):
    token = "tok-0123456789abcdef0123456789abcdef"
    with running_server(tmp_path, env={"AGENTDESK_AUTH_TOKEN": token,
                                       "SOME_SECRET": "hunter2"}) as srv:
        for proc in descendants(srv.process.pid):
            environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
            assert token.encode() not in environ, proc.comm
            assert b"hunter2" not in environ, proc.comm
        xvnc = next(p for p in descendants(srv.process.pid) if p.comm == "Xvnc")
        names = [v.split(b"=")[0] for v in
                 Path(f"/proc/{xvnc.pid}/environ").read_bytes().split(b"\0") if v]
        # XDG_RUNTIME_DIR is no secret: the desktop's runtime directory, by which agentdesk finds
        # every process of a desktop to pause or sweep it.
        assert sorted(names) == [b"LANG", b"PATH", b"XDG_RUNTIME_DIR"], names


# ----------------------------------------------------------------------------- 4. live view


def xvnc_tcp_listeners(pid: int) -> list[str]:
    """The TCP sockets a process listens on (from /proc/net/tcp{,6} and its descriptors)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # state LISTEN
                listening.append(fields[1])
    return listening


def raw_rfb(path: Path, behaviour: str) -> None:
    """A hostile client of the RFB socket: connects and misbehaves."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(str(path))
        if behaviour == "garbage":
            s.sendall(os.urandom(64))
        elif behaviour == "bad-version":
            s.recv(12)
            s.sendall(b"RFB 009.999\n")
        time.sleep(0.5)
    except OSError:
        pass
    finally:
        s.close()


def test_another_local_user_cannot_reach_or_lock_out_the_live_view(tmp_path):
    with running_server(tmp_path) as srv:
        xvnc = next(p for p in descendants(srv.process.pid) if p.comm == "Xvnc")
        assert xvnc_tcp_listeners(xvnc.pid) == []
        rfb = runtime_dir(srv) / "rfb.sock"
        assert stat.S_ISSOCK(rfb.stat().st_mode)
        assert stat.S_IMODE(rfb.stat().st_mode) == 0o600
        assert stat.S_IMODE(rfb.parent.stat().st_mode) == 0o700
        # Another user of the machine cannot even reach the socket.
        other = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c",
             f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({str(rfb)!r})"],
            capture_output=True, text=True, timeout=30,
        )
        assert other.returncode != 0 and "PermissionError" in other.stderr, other.stderr
        # 200 misbehaving connections at once (what locked Xvnc's blacklist before), then
        # a viewer through the bridge is served at once.
        threads = [threading.Thread(target=raw_rfb, args=(rfb, b))
                   for b in ["silent", "garbage", "bad-version", "close"] * 50]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with ws_connect(rfb_url(srv), subprotocols=["binary"], open_timeout=10) as ws:
            viewer = Viewer(ws)
            assert viewer.handshake() == (1280, 800)
            viewer.request_update()
            assert viewer.read(1) == b"\0"


def test_a_crowd_of_viewers_is_bounded_and_the_next_viewer_is_served(tmp_path):
    """150 viewers at once, from five tokens: 16 per token and 64 in all are served, the rest
    refused with 503, and once they leave the next viewer is served at once."""
    names = [f"t{i}" for i in range(5)]
    tokens = {name: f"tok-{name}-0123456789abcdef0123456" for name in names}
    token_file = tmp_path / "tokens"
    token_file.write_text("".join(f"{n}: {t}\n" for n, t in tokens.items()))
    with running_server(tmp_path, "--token-file", str(token_file)) as srv:
        served, refused, errors = [], [], []
        leave = threading.Event()

        def one_viewer(token: str) -> None:
            try:
                with ws_connect(rfb_url(srv), subprotocols=["binary"], open_timeout=30,
                                additional_headers=[("Authorization", f"Bearer {token}")]) as ws:
                    viewer = Viewer(ws)
                    served.append((token, viewer.handshake()))
                    leave.wait(30)
            except Exception as e:  # noqa: BLE001 - counted below
                (refused if "503" in str(e) else errors).append(repr(e))

        threads = [threading.Thread(target=one_viewer, args=(tokens[names[i % 5]],))
                   for i in range(150)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(served) + len(refused) + len(errors) < 150 and time.monotonic() < deadline:
            time.sleep(0.1)
        leave.set()
        for t in threads:
            t.join()
        assert errors == [], errors[:3]
        assert len(served) == 64 and len(refused) == 86, (len(served), len(refused))
        assert max(sum(1 for t, _ in served if t == tok) for tok in tokens.values()) <= 16
        with ws_connect(rfb_url(srv), subprotocols=["binary"], open_timeout=10,
                        additional_headers=[("Authorization", f"Bearer {tokens['t0']}")]) as ws:
            assert Viewer(ws).handshake() == (1280, 800)


# ----------------------------------------------------------------------------- 8. leftovers


def test_a_killed_servers_leftovers_are_cleaned_at_the_next_start(tmp_path):
    """Without the sandbox (whose PID namespace ends everything at once: test_fleet.py), what
    a SIGKILLed server's desktops detached lives on until the next start cleans it up."""
    marker = "4093"  # sleep 4093: recognisable among the machine's processes

    def sleepers() -> list[int]:
        return processes_with_cmdline("sleep", marker)

    with running_server(tmp_path / "first", "--no-sandbox") as srv:
        run_in_a_new_terminal(srv, f"setsid -f sleep {marker}")
        asyncio.run(poll(lambda: asyncio.sleep(0, result=bool(sleepers())),
                         timeout=10, what="the detached sleep"))
        dead_runtime = runtime_dir(srv).parent
        srv.kill()  # SIGKILL: nothing of agentdesk runs to clean up
        time.sleep(0.5)
        assert dead_runtime.exists(), "the runtime directory stays after SIGKILL"
        assert sleepers(), "the detached process outlives a SIGKILLed server"
    # Another user squats the dead server's beacon name, to keep its leftovers alive.
    beacon = "agentdesk-runtime-" + dead_runtime.name.removeprefix("agentdesk-")
    squatter = subprocess.Popen(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3",
         "-c", "import socket, sys, time; s = socket.socket(socket.AF_UNIX); "
               f"s.bind('\\0{beacon}'); s.listen(); print('bound', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout.readline().strip() == "bound"
        with running_server(tmp_path / "second") as second:
            assert not dead_runtime.exists()
            assert sleepers() == []
            assert "cleaned up after an agentdesk that did not stop cleanly" in second.log.read_text()
    finally:
        squatter.kill()
        squatter.wait()


def test_a_detached_process_ends_with_a_clean_stop_too(tmp_path):
    with running_server(tmp_path) as srv:
        run_in_a_new_terminal(srv, "setsid -f sleep 4094")
        asyncio.run(poll(lambda: asyncio.sleep(0, result=bool(processes_with_cmdline(
            "sleep", "4094"))), timeout=10, what="the detached sleep"))
    # running_server checked that nothing it recorded survived; the detached sleep is not a
    # descendant of the server any more, so look for it by its command line.
    assert processes_with_cmdline("sleep", "4094") == []


def test_exited_apps_are_reaped_at_once(server):
    with httpx2.Client(timeout=30) as http:
        pids = []
        for _ in range(3):
            launched = json.loads(text(result_of(post(http, server.url, tool_call(
                "app_launch", {"command": "galculator --version"})))))
            pids.append(launched["pid"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            states = [read_proc(pid) for pid in pids]
            if all(p is None for p in states):
                break
            time.sleep(0.1)
        assert all(read_proc(pid) is None for pid in pids), [read_proc(p) for p in pids]
        for pid in pids:
            status = json.loads(text(result_of(post(http, server.url, tool_call(
                "app_status", {"pid": pid})))))
            assert status["running"] is False, status


# ----------------------------------------------------------------------------- 5. memory


def status_bytes(pid: int, key: str) -> int:
    """A size from /proc/PID/status (VmRSS, VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key}")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@pytest.mark.parametrize(
    "body_kind",
    ["zeros", "meta-zeros", "notification-zeros", "deep", "many-keys", "clipboard", "long-id",
     "four-at-once"],
)
def test_a_request_costs_at_most_four_times_its_body(tmp_path, body_kind):
    mib = 1024 * 1024
    zeros = '{"a":[' + "0," * (2 * mib - 100) + "0]}"
    bodies = {
        "zeros": '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":'
                 '{"name":"mouse_move","arguments":' + zeros + "}}",
        "meta-zeros": '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":'
                      '{"_meta":' + zeros + "}}",
        "notification-zeros": '{"jsonrpc":"2.0","method":"notifications/x","params":'
                              + zeros + "}",
        "deep": '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":'
                '{"name":"mouse_move","arguments":{"a":' + "[" * 100_000 + "]" * 100_000 + "}}}",
        "many-keys": '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":'
                     '{"name":"mouse_move","arguments":{'
                     + ",".join(f'"k{i}":0' for i in range(300_000)) + "}}}",
        "clipboard": json.dumps(tool_call("clipboard_set", {"text": "é" * (mib - 16)}),
                                ensure_ascii=False),
        "long-id": '{"jsonrpc":"2.0","id":"' + "i" * (4 * mib - 200) + '","method":"tools/list"}',
    }
    body = bodies.get(body_kind, bodies["zeros"]).encode()
    assert len(body) <= 4 * mib, len(body)
    with running_server(tmp_path) as srv, httpx2.Client(timeout=60) as http:
        # Warm up: the allocator's steady state after ordinary work.
        for _ in range(3):
            result_of(post(http, srv.url, tool_call("screen_shot", {"format": "png"})))
        time.sleep(0.5)
        reset_peak(srv.process.pid)
        before = status_bytes(srv.process.pid, "VmRSS")
        if body_kind == "four-at-once":
            threads = [threading.Thread(target=lambda: post(httpx2.Client(timeout=60), srv.url, body))
                       for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            budget = 4 * 4 * len(body) + 64 * mib
        else:
            response = post(http, srv.url, body)
            assert response.status_code in (200, 400), response.status_code
            budget = 4 * len(body) + 64 * mib
        grew = status_bytes(srv.process.pid, "VmHWM") - before
        print(f"{body_kind}: body {len(body) / mib:.1f} MiB, RSS {before / mib:.0f} MiB, "
              f"peak +{grew / mib:.1f} MiB (budget {budget / mib:.0f} MiB)")
        assert grew <= budget, (grew / mib, budget / mib)
        # Still serving.
        assert not result_of(post(http, srv.url, tool_call("app_list", {}))).get("isError")


# ----------------------------------------------------------------------------- 11. clean starts


def client_titles(srv: Server) -> list[str]:
    """The titles of the apps' top-level windows (the window manager's client list), read with
    xprop through the desktop's own cookie."""
    health = httpx2.get(f"{srv.base}/healthz", timeout=10).json()
    env = {**os.environ, "DISPLAY": health["display"], "XAUTHORITY": health["xauthority"]}

    def xprop(*args: str) -> str:
        return subprocess.run(["xprop", *args], env=env, capture_output=True, text=True,
                              timeout=10).stdout

    listed = xprop("-root", "_NET_CLIENT_LIST").split("#", 1)[-1]
    titles = []
    for window in [w.strip() for w in listed.split(",") if w.strip().startswith("0x")]:
        name = xprop("-id", window, "_NET_WM_NAME")
        titles.append(name.split("=", 1)[1].strip().strip('"') if "=" in name else "")
    return sorted(titles)


async def launch_and_wait(client, srv: Server, command: str, title: str) -> None:
    ok_text(await client.call_tool("app_launch", {"command": command}))

    async def shown():
        return title in client_titles(srv)

    await poll(shown, timeout=30, what=f"a window titled {title!r}",
               seen=lambda: repr(client_titles(srv)))


CLEAN = ["Mozilla Firefox", "Untitled 1 - Mousepad"]
"""One blank Firefox window and one empty Mousepad, nothing else: no welcome page, no
"restore the previous session?", no crash or troubleshooting dialog."""


def test_apps_start_clean_after_a_kill_and_after_a_stop(tmp_path):
    """Three servers in turn on one data directory (one home)."""

    async def open_both(srv: Server, type_first: bool) -> list[str]:
        async with connect(srv.url) as client:
            await launch_and_wait(client, srv, "mousepad", "Untitled 1 - Mousepad")
            if type_first:
                # Unsaved text that Mousepad would autosave after 30 s and offer to restore.
                ok_text(await client.call_tool("key_type", {"text": "unsaved words"}))
            await launch_and_wait(client, srv, "firefox-esr", "Mozilla Firefox")
            if type_first:
                await asyncio.sleep(35)
            await asyncio.sleep(3)  # time for a late dialog to show
        return client_titles(srv)

    with running_server(tmp_path) as srv:
        assert asyncio.run(open_both(srv, type_first=True)) == sorted(
            CLEAN[:1] + ["*Untitled 1 - Mousepad"])
        srv.kill()  # the worst stop there is
    with running_server(tmp_path) as srv:
        assert asyncio.run(open_both(srv, type_first=False)) == sorted(CLEAN)
        # A clean stop asks each window to close; nothing is left to restore.
    with running_server(tmp_path) as srv:
        assert asyncio.run(open_both(srv, type_first=False)) == sorted(CLEAN)

