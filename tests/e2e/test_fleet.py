"""Many desktops in one server, each in its own sandbox, surviving restarts: created from the
CLI and over REST and MCP, each with its own MCP endpoint and view; what an app inside one
sandbox can and cannot reach; ownership between tokens on every surface; pause, idle pause,
leases and the desktop limit; and what a SIGKILL leaves (nothing) and brings back (every
desktop, with its files).

Apps are driven as an agent would: app_launch starts an xterm running a shell script whose
output lands in the desktop's home, the one directory both the test and the sandbox see."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from conftest import (
    FLEET_TOOL_NAMES,
    TOOL_NAMES,
    Server,
    agentdesk_bin,
    all_procs,
    connect,
    descendants,
    desktop_home,
    desktop_processes,
    desktop_x_env,
    image,
    running_server,
)

ALICE = "alice-fleet-0123456789abcdef"
BOB = "bob-fleet-0123456789abcdef000"
OPS = "ops-fleet-0123456789abcdef000"

MCP_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}


def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text(f"alice: {ALICE}\nbob: {BOB}\nops: {OPS} admin\n")
    path.chmod(0o600)
    return path


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def api(srv: Server, method: str, path: str, token: str | None = None,
        body: Any = None) -> httpx2.Response:
    return httpx2.request(method, f"{srv.base}{path}", headers=auth(token), json=body, timeout=60)


def cli(srv: Server, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
    """`agentdesk desktops ARGS` against `srv`, as a user would type it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTDESK_")}
    env["AGENTDESK_SERVER"] = srv.base
    if token:
        env["AGENTDESK_TOKEN"] = token
    return subprocess.run([agentdesk_bin(), "desktops", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def call(srv: Server, name: str, arguments: dict, *, desktop: str | None = None,
         token: str | None = None) -> httpx2.Response:
    """A bare tools/call on /mcp, or on a desktop's own endpoint."""
    url = f"{srv.base}/desktops/{desktop}/mcp" if desktop else srv.url
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}
    return httpx2.post(url, json=body, headers={**MCP_HEADERS, **auth(token)}, timeout=60)


def result(response: httpx2.Response) -> dict[str, Any]:
    assert response.status_code == 200, (response.status_code, response.text[:300])
    return response.json()["result"]


def text(res: dict[str, Any]) -> str:
    return " ".join(c["text"] for c in res["content"] if c["type"] == "text")


def run_in(srv: Server, desktop: str, script: str, *, token: str | None = None,
           timeout: float = 20) -> str:
    """Runs `script` (sh) in an app of `desktop`, as an agent can (an xterm it launches), and
    returns what it printed."""
    name = f".probe-{time.monotonic_ns()}"
    command = f'xterm -e sh -c "({script}) > ~/{name}.tmp 2>&1; mv ~/{name}.tmp ~/{name}"'
    launched = result(call(srv, "app_launch", {"command": command}, desktop=desktop, token=token))
    assert not launched.get("isError"), text(launched)
    out = desktop_home(srv, desktop) / name
    deadline = time.monotonic() + timeout
    while not out.exists():
        assert time.monotonic() < deadline, f"the script did not finish in {desktop}: {script}"
        time.sleep(0.1)
    return out.read_text()


def processes_running(*argv: str) -> list[int]:
    wanted = "".join(f"{a}\0" for a in argv).encode()
    found = []
    for p in all_procs():
        try:
            if Path(f"/proc/{p.pid}/cmdline").read_bytes() == wanted:
                found.append(p.pid)
        except OSError:
            continue
    return found


def running(pid: int) -> bool:
    """Whether `pid` is a process that still runs (a zombie waiting for its reaper is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


# ----------------------------------------------------------------------------- the newcomer


def test_three_desktops_from_the_cli_each_with_its_endpoint_and_files_across_a_restart(tmp_path):
    """The README's walk-through: three desktops from the CLI, an MCP client on each endpoint,
    a view of each, a restart, and all three back with their files."""
    root = tmp_path / "server"
    with running_server(root) as srv:
        made = cli(srv, "create", "d-one")
        assert made.returncode == 0, made.stderr
        assert f"MCP endpoint: {srv.base}/desktops/d-one/mcp" in made.stdout
        assert cli(srv, "create", "d-two", "--screen", "800x600").returncode == 0
        generated = json.loads(cli(srv, "--json", "create").stdout)["id"]
        assert generated.startswith("desk-") and len(generated) == 15
        ids = ["d-one", "d-two", generated]

        async def each_endpoint():
            for desktop in ids:
                async with connect(f"{srv.base}/desktops/{desktop}/mcp") as mcp:
                    tools = (await mcp.list_tools()).tools
                    assert [t.name for t in tools] == TOOL_NAMES
                    shot = image(await mcp.call_tool("screen_shot", {"format": "png"}),
                                 "image/png")
                    expected = (800, 600) if desktop == "d-two" else (1280, 800)
                    assert shot.size == expected, desktop
        import asyncio
        asyncio.run(each_endpoint())

        # An app in d-one writes a file in d-one's home, and nowhere else.
        assert run_in(srv, "d-one", "echo one > ~/note.txt; echo done") == "done\n"
        assert (desktop_home(srv, "d-one") / "note.txt").read_text() == "one\n"
        assert not (desktop_home(srv, "d-two") / "note.txt").exists()

        listed = cli(srv, "list")
        assert listed.returncode == 0, listed.stderr
        for desktop in ids + ["default"]:
            assert desktop in listed.stdout
        page = httpx2.get(f"{srv.base}/", headers={"Accept": "text/html"}, timeout=10)
        for desktop in ids:
            assert f'href="/desktops/{desktop}/view"' in page.text
            view = httpx2.get(f"{srv.base}/desktops/{desktop}/view", timeout=10)
            assert view.status_code in (200, 503), view.status_code  # 503: noVNC not installed
    with running_server(root) as srv:
        listed = json.loads(cli(srv, "--json", "list").stdout)["desktops"]
        states = {d["id"]: d["state"] for d in listed}
        assert set(states) == {"default", *ids}
        assert states["d-one"] == "stopped", "desktops come back; each starts on first use"
        # First use starts it, with its home as it was.
        assert run_in(srv, "d-one", "cat ~/note.txt") == "one\n"
        assert json.loads(cli(srv, "--json", "status", "d-one").stdout)["state"] == "running"
        shot = result(call(srv, "screen_shot", {"format": "png"}, desktop="d-two"))
        assert not shot.get("isError"), text(shot)


# ----------------------------------------------------------------------------- the sandbox


def test_an_app_reaches_no_other_home_nor_the_data_dir_the_token_file_or_the_operators_home(
        tmp_path):
    operator_home = tmp_path / "operator"
    operator_home.mkdir()
    (operator_home / "secret").write_text("operator-secret\n")
    tokens = token_file(tmp_path)
    with running_server(tmp_path / "server", "--token-file", str(tokens),
                        env={"HOME": str(operator_home)}) as srv:
        for desktop in ("d-a", "d-b"):
            assert api(srv, "POST", "/api/desktops", OPS, {"id": desktop}).status_code == 201
        other = desktop_home(srv, "d-b")
        (other / "secret").write_text("other-desktop-secret\n")
        data = srv.data_dir
        # `test -s`: the file is there and not empty (a file hidden behind /dev/null is empty).
        probes = {
            "another desktop home": f"test -s {other}/secret",
            "the store": f"test -s {data}/fleet.redb",
            "another desktop audit log": f"test -s {data}/desktops/default/audit.jsonl",
            "the token file": f"test -s {tokens}",
            "the operator home": f"test -s {operator_home}/secret",
            "writing /usr": "touch /usr/local/agentdesk-probe",
            "writing /etc": "touch /etc/agentdesk-probe",
        }
        script = "; ".join(
            f"if {cmd} 2>/dev/null; then echo 'open: {label}'; else echo 'closed: {label}'; fi"
            for label, cmd in probes.items()
        )
        out = run_in(srv, "d-a", f"{script}; touch {data}/planted; ls -A {data}/desktops; "
                                 "echo mine > ~/own && cat ~/own", token=OPS)
        for label in probes:
            assert f"closed: {label}" in out, out
        lines = out.split("\n")
        assert lines[len(probes)] == "d-a", f"only its own desktop's directory: {out}"
        assert lines[len(probes) + 1] == "mine", "its home is writable: " + out
        assert not (data / "planted").exists(), "the data dir it sees is not the server's"
        assert not Path("/usr/local/agentdesk-probe").exists()


def test_with_the_network_off_an_app_cannot_reach_a_loopback_listener_of_the_host(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    accepted = []

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    probe = (f"python3 -c \\\"import socket; socket.create_connection(('127.0.0.1', {port}), 3); "
             f"print('reached')\\\" || echo unreachable")
    try:
        with running_server(tmp_path / "server") as srv:
            assert cli(srv, "create", "net-off", "--network", "off").returncode == 0
            assert cli(srv, "create", "net-on").returncode == 0
            assert "reached" in run_in(srv, "net-on", probe)
            assert "unreachable" in run_in(srv, "net-off", probe)
            status = json.loads(cli(srv, "--json", "status", "net-off").stdout)
            assert status["network"] == "off"
    finally:
        listener.close()
    assert len(accepted) == 1, "only the desktop with the network on got through"


# ----------------------------------------------------------------------------- ownership


def test_another_tokens_desktop_does_not_exist_for_it_on_any_surface(tmp_path):
    with running_server(tmp_path / "server", "--token-file", str(token_file(tmp_path))) as srv:
        made = cli(srv, "--json", "create", "alices-desk", token=ALICE)
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout)["owner"] == "alice"

        def surfaces(desktop: str) -> list[tuple[str, int, str]]:
            answers = []
            for method, path in [("GET", f"/api/desktops/{desktop}"),
                                 ("DELETE", f"/api/desktops/{desktop}"),
                                 ("POST", f"/api/desktops/{desktop}/pause"),
                                 ("POST", f"/api/desktops/{desktop}/heartbeat"),
                                 ("GET", f"/desktops/{desktop}/view"),
                                 ("GET", f"/desktops/{desktop}/control"),
                                 ("POST", f"/desktops/{desktop}/mcp")]:
                r = api(srv, method, path, BOB, {} if method == "POST" else None)
                answers.append((path.replace(desktop, "ID"), r.status_code,
                                r.text.replace(desktop, "ID")))
            r = api(srv, "POST", "/api/desktops/acquire", BOB, {"id": desktop})
            answers.append(("acquire", r.status_code, r.text.replace(desktop, "ID")))
            for tool, args in [("screen_shot", {"desktop": desktop}),
                               ("desktop_status", {"id": desktop}),
                               ("desktop_destroy", {"id": desktop})]:
                res = result(call(srv, tool, args, token=BOB))
                assert res["isError"] is True
                answers.append((tool, 200, text(res).replace(desktop, "ID")))
            ws = srv.base.replace("http://", "ws://") + f"/desktops/{desktop}/rfb"
            with pytest.raises(InvalidStatus) as refused:
                ws_connect(ws, additional_headers=auth(BOB), open_timeout=10)
            answers.append(("rfb", refused.value.response.status_code, ""))
            return answers

        guessed = surfaces("alices-desk")
        missing = surfaces("nobodys-desk")
        assert guessed == missing, "a guessed id must answer exactly as a missing one"
        assert all(status in (404, 200) for _, status, _ in guessed), guessed
        listed = json.loads(cli(srv, "--json", "list", token=BOB).stdout)["desktops"]
        assert "alices-desk" not in [d["id"] for d in listed]
        # Its owner and the admin see it, and it still works.
        assert api(srv, "GET", "/api/desktops/alices-desk", ALICE).status_code == 200
        assert api(srv, "GET", "/api/desktops/alices-desk", OPS).status_code == 200
        res = result(call(srv, "screen_shot", {"format": "png"}, desktop="alices-desk",
                          token=ALICE))
        assert not res.get("isError"), text(res)
        # Audit lines name the desktop they are about.
        audit = srv.data_dir / "desktops" / "alices-desk" / "audit.jsonl"
        lines = [json.loads(line) for line in audit.read_text().splitlines() if line]
        assert lines and all(line["desktop"] == "alices-desk" for line in lines)
        # Bob cannot destroy the shared default desktop either (only an admin can).
        refused = api(srv, "DELETE", "/api/desktops/default", BOB)
        assert refused.status_code == 403 and "admin" in refused.json()["error"]


# ----------------------------------------------------------------------------- lifecycle


def test_a_paused_desktop_uses_no_cpu_and_a_destroyed_one_leaves_no_process(tmp_path):
    with running_server(tmp_path / "server") as srv:
        assert cli(srv, "create", "busy").returncode == 0
        launched = result(call(srv, "app_launch",
                               {"command": "xterm -e sh -c \"while :; do :; done\""},
                               desktop="busy"))
        assert not launched.get("isError"), text(launched)
        def with_the_loop():
            pids = desktop_processes(srv, "busy")
            comms = {Path(f"/proc/{p}/comm").read_text().strip() for p in pids if running(p)}
            return pids if "sh" in comms else None

        pids = wait_for(with_the_loop, 10, "the busy desktop's loop")
        before = cpu_ticks(pids)
        time.sleep(1)
        assert cpu_ticks(pids) - before > 20, "the loop burns CPU while running"
        paused = json.loads(cli(srv, "--json", "pause", "busy").stdout)
        assert paused["state"] == "paused"
        time.sleep(0.3)
        before = cpu_ticks(pids)
        time.sleep(1.5)
        assert cpu_ticks(pids) - before == 0, "a paused desktop uses no CPU"
        # The next call resumes it, transparently.
        shot = result(call(srv, "screen_shot", {"format": "png"}, desktop="busy"))
        assert not shot.get("isError"), text(shot)
        assert json.loads(cli(srv, "--json", "status", "busy").stdout)["state"] == "running"

        home = desktop_home(srv, "busy")
        destroyed = cli(srv, "destroy", "busy")
        assert destroyed.returncode == 0, destroyed.stderr
        assert desktop_processes(srv, "busy") == []
        assert not any(running(pid) for pid in pids)
        assert not home.exists()
        cgroups = list(Path("/sys/fs/cgroup").glob("*/agentdesk/*/busy"))
        assert cgroups == [], cgroups
        assert cli(srv, "status", "busy").returncode != 0


def test_idle_desktops_pause_and_the_next_call_finds_them_as_they_were(tmp_path):
    with running_server(tmp_path / "server", "--idle-pause", "2") as srv:
        assert cli(srv, "create", "idle").returncode == 0
        wait_for(lambda: json.loads(cli(srv, "--json", "status", "idle").stdout)["state"]
                 == "paused", 15, "the idle desktop to pause")
        shot = result(call(srv, "screen_shot", {"format": "png"}, desktop="idle"))
        assert not shot.get("isError"), text(shot)


def test_leases_lapse_unless_renewed_and_a_lapse_frees_the_desktop(tmp_path):
    with running_server(tmp_path / "server", "--token-file", str(token_file(tmp_path))) as srv:
        leased = api(srv, "POST", "/api/desktops/acquire", ALICE, {"lease_seconds": 6})
        assert leased.status_code == 200, leased.text
        desktop = leased.json()["id"]
        assert desktop != "default", "acquire without an id never hands out the default desktop"
        assert leased.json()["lease"]["holder"] == "alice"
        assert leased.json()["state"] == "running"
        # Alice's own: Bob does not see it at all; an admin sees the lease.
        assert api(srv, "POST", "/api/desktops/acquire", BOB,
                   {"id": desktop}).status_code == 404
        taken = api(srv, "POST", "/api/desktops/acquire", OPS, {"id": desktop})
        assert taken.status_code == 409 and "leased by" in taken.json()["error"]
        time.sleep(2)
        renewed = api(srv, "POST", f"/api/desktops/{desktop}/heartbeat", ALICE)
        assert renewed.status_code == 200, renewed.text
        assert renewed.json()["lease"]["expires_in_seconds"] >= 5, "renewed for its length"
        # Without a heartbeat it lapses: the desktop stays, free.
        wait_for(lambda: api(srv, "GET", f"/api/desktops/{desktop}", ALICE).json()["lease"]
                 is None, 15, "the lease to lapse")
        assert api(srv, "POST", f"/api/desktops/{desktop}/heartbeat", ALICE).status_code == 409
        again = api(srv, "POST", "/api/desktops/acquire", ALICE, {})
        assert again.json()["id"] == desktop, "a free desktop is handed out before a new one"
        released = api(srv, "POST", f"/api/desktops/{desktop}/release", ALICE)
        assert released.status_code == 200 and released.json()["lease"] is None


def test_creating_beyond_the_limit_is_a_clear_error(tmp_path):
    with running_server(tmp_path / "server", "--max-desktops", "2") as srv:
        assert cli(srv, "create", "one-more").returncode == 0
        refused = cli(srv, "create", "too-many")
        assert refused.returncode != 0
        assert "at most 2 desktops" in refused.stderr and "--max-desktops" in refused.stderr
        res = result(call(srv, "desktop_create", {}))
        assert res["isError"] is True and "limit of 2 desktops" in text(res)


# ----------------------------------------------------------------------------- crashes


def test_a_sigkilled_server_leaves_nothing_running_and_comes_back_with_its_desktops(tmp_path):
    root = tmp_path / "server"
    marker = "4095"
    with running_server(root) as srv:
        assert cli(srv, "create", "survivor").returncode == 0
        run_in(srv, "survivor", f"setsid -f sleep {marker}; echo started")
        (desktop_home(srv, "survivor") / "kept.txt").write_text("kept\n")
        sleepers = processes_running("sleep", marker)
        assert sleepers, "the detached sleep runs"
        everything = desktop_processes(srv, "survivor") + desktop_processes(srv, "default")
        srv.kill()
        # The PID namespaces end with their init: even what left its session dies, at once.
        wait_for(lambda: not any(running(pid) for pid in sleepers + everything),
                 5, "every process of the killed server's desktops to be gone")
    with running_server(root) as srv:
        listed = json.loads(cli(srv, "--json", "list").stdout)["desktops"]
        assert {d["id"] for d in listed} == {"default", "survivor"}
        assert run_in(srv, "survivor", "cat ~/kept.txt") == "kept\n"


def test_a_server_killed_while_creating_desktops_comes_back_consistent(tmp_path):
    root = tmp_path / "server"
    ids = [f"racer-{n}" for n in range(6)]
    with running_server(root) as srv:
        def create(desktop: str) -> None:
            try:
                api(srv, "POST", "/api/desktops", None, {"id": desktop})
            except httpx2.HTTPError:
                pass  # the server was killed under it: what matters is what it comes back with

        threads = [threading.Thread(target=create, args=(d,), daemon=True) for d in ids]
        for t in threads:
            t.start()
        time.sleep(0.15)
        srv.kill()
    with running_server(root) as srv:
        listed = {d["id"] for d in json.loads(cli(srv, "--json", "list").stdout)["desktops"]}
        assert "default" in listed and listed <= {"default", *ids}
        for desktop in listed - {"default"}:
            shot = result(call(srv, "screen_shot", {"format": "png"}, desktop=desktop))
            assert not shot.get("isError"), (desktop, text(shot))
        # A desktop that was not recorded got no directory either (or lost it).
        on_disk = {p.name for p in (srv.data_dir / "desktops").iterdir()}
        assert on_disk <= listed | {"default"}, on_disk - listed


# ----------------------------------------------------------------------------- hostile input


HOSTILE_IDS = ["", " ", "DEFAULT", "../default", "default/../x", "default\0", "a" * 41,
               "a" * 100_000, "é", "default ", "%64efault", "-", 5, 1.5, True, None, [], {},
               ["default"], {"id": "default"}]


def test_hostile_fleet_arguments_are_tool_errors_and_create_nothing(tmp_path):
    with running_server(tmp_path / "server") as srv:
        cases = []
        for bad in HOSTILE_IDS:
            for tool in ["desktop_status", "desktop_pause", "desktop_resume", "desktop_destroy",
                         "desktop_release", "desktop_heartbeat", "desktop_acquire"]:
                if bad is None and tool == "desktop_acquire":
                    continue  # no id: any free desktop, which is legitimate
                cases.append((tool, {"id": bad}))
            if bad is not None:
                cases.append(("screen_shot", {"desktop": bad, "format": "png"}))
                cases.append(("desktop_create", {"id": bad}))
        for bad in ["", "0x0", "64x64x64", "99999x99999", "1280", "-1x-1", 5, [], {}]:
            cases.append(("desktop_create", {"screen": bad}))
        for bad in ["maybe", "OFF", "", 0, True, None]:
            if bad is not None:
                cases.append(("desktop_create", {"network": bad}))
        for bad in [0, -1, 86_401, "soon", 1e300, True]:
            cases.append(("desktop_acquire", {"id": "default", "lease_seconds": bad}))
        for bad in ["xterm", ["x" * 300], [""], [5], ["xterm"] * 65]:
            cases.append(("desktop_create", {"apps": bad}))
        cases += [("desktop_create", {"colour": "red"}), ("desktop_list", {"x": 1}),
                  ("desktop_destroy", {"id": "default", "keep_home": "perhaps"})]
        for tool, args in cases:
            res = result(call(srv, tool, args))
            assert res.get("isError") is True, (tool, args, text(res)[:200])
        listed = json.loads(cli(srv, "--json", "list").stdout)["desktops"]
        assert [d["id"] for d in listed] == ["default"], listed
        assert srv.process.poll() is None
        names = [t["name"] for t in httpx2.post(
            srv.url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers=MCP_HEADERS, timeout=10).json()["result"]["tools"]]
        assert names == TOOL_NAMES + FLEET_TOOL_NAMES


# ----------------------------------------------------------------------------- a hostile review


def restart_x_server(srv: Server, desktop: str) -> None:
    """Kills the desktop's X server (as its apps could) and waits until the supervisor has
    started a new session."""
    before = desktop_processes(srv, desktop)
    for pid in before:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue  # exited since it was listed (the probe's shell, say)
        if comm == "Xvnc":
            os.kill(pid, 9)

    def restarted():
        now = set(desktop_processes(srv, desktop))
        fresh = now - set(before)
        res = result(call(srv, "screen_shot", {"format": "png"}, desktop=desktop))
        return fresh and not res.get("isError")

    wait_for(restarted, 30, "the desktop's new session")


def test_links_an_app_leaves_in_its_runtime_dir_reach_nothing_after_a_restart(tmp_path):
    """The runtime directory is the sandbox's to write: links planted there (for the X socket
    directory bwrap binds, the files agentdesk writes at the next start) must lead nowhere."""
    victim = tmp_path / "victim"
    (victim / "applications").mkdir(parents=True)
    (victim / "applications" / "important.txt").write_text("keep me\n")
    (victim / "secret").write_text("host-secret\n")
    victim.chmod(0o755)
    with running_server(tmp_path / "server", "--allow-app", "xterm",
                        "--allow-app-args", "xterm") as srv:
        assert cli(srv, "create", "planter").returncode == 0
        plant = "; ".join(
            f"rm -rf $XDG_RUNTIME_DIR/{name}; ln -s {victim} $XDG_RUNTIME_DIR/{name}"
            for name in [".X11-unix", "policy-data", "icewm", "bus.d"]
        ) + f"; rm -f $XDG_RUNTIME_DIR/Xauthority; ln -s {victim}/secret $XDG_RUNTIME_DIR/Xauthority"
        run_in(srv, "planter", f"{plant}; echo planted")
        restart_x_server(srv, "planter")
        seen = run_in(srv, "planter", "cat /tmp/.X11-unix/secret 2>&1; ls $XDG_RUNTIME_DIR")
        assert "host-secret" not in seen, seen
    assert (victim / "secret").read_text() == "host-secret\n"
    assert (victim / "applications" / "important.txt").read_text() == "keep me\n"
    assert victim.stat().st_mode & 0o777 == 0o755


def test_the_kernels_knobs_and_the_sandboxs_init_are_out_of_an_apps_reach(tmp_path):
    with running_server(tmp_path / "server") as srv:
        (desktop_home(srv) / "probe.py").write_text(
            "import os, ctypes, errno\n"
            "try:\n"
            "    os.open('/proc/sys/kernel/core_pattern', os.O_WRONLY); print('sysctl: open')\n"
            "except OSError as e:\n"
            "    print('sysctl:', errno.errorcode[e.errno])\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "r = libc.ptrace(16, 2, 0, 0)\n"
            "print('ptrace:', 'attached' if r == 0 else errno.errorcode[ctypes.get_errno()])\n"
            "fd = libc.syscall(434, 2, 0)\n"
            "r = libc.syscall(438, fd, 3, 0) if fd >= 0 else -1\n"
            "print('getfd:', 'taken' if r >= 0 else errno.errorcode[ctypes.get_errno()])\n"
        )
        probe = "python3 ~/probe.py"
        out = run_in(srv, "default", probe)
        assert "sysctl: EROFS" in out or "sysctl: EACCES" in out, out
        assert "ptrace: EPERM" in out, out
        assert "getfd: EPERM" in out, out


def test_a_replaced_rfb_socket_shows_no_other_desktop(tmp_path):
    with running_server(tmp_path / "server") as srv:
        for desktop in ("thief", "victim"):
            assert cli(srv, "create", desktop).returncode == 0
        run_in(srv, "thief", "cd $XDG_RUNTIME_DIR; rm rfb.sock; ln -s ../victim/rfb.sock "
                             "rfb.sock; echo done")
        ws = srv.base.replace("http://", "ws://") + "/desktops/thief/rfb"
        from test_live import Viewer
        with ws_connect(ws, open_timeout=10) as conn:
            viewer = Viewer(conn)
            try:
                viewer.handshake()
                name = viewer.buffer
            except Exception:  # noqa: BLE001 — the bridge refuses by closing
                name = b""
            assert b"victim" not in name, name
        assert "its socket has been replaced" in srv.log.read_text() or \
            "not this desktop's Xvnc" in srv.log.read_text()


def test_a_destroyed_desktops_home_never_passes_to_the_next_desktop_of_its_id(tmp_path):
    with running_server(tmp_path / "server", "--token-file", str(token_file(tmp_path))) as srv:
        for round in range(2):
            assert api(srv, "POST", "/api/desktops", ALICE, {"id": "reused"}).status_code == 201
            (desktop_home(srv, "reused") / f"alice-{round}.txt").write_text("alice's\n")
            kept = api(srv, "DELETE", "/api/desktops/reused?keep_home=true", ALICE)
            assert kept.status_code == 200, kept.text  # twice within a second: both kept
        kept_dirs = sorted((srv.data_dir / "kept").iterdir())
        assert len(kept_dirs) == 2
        # A create racing a destroy waits for the id, and starts with an empty home.
        assert api(srv, "POST", "/api/desktops", ALICE, {"id": "raced"}).status_code == 201
        (desktop_home(srv, "raced") / "old.txt").write_text("old\n")
        destroyer = threading.Thread(
            target=lambda: api(srv, "DELETE", "/api/desktops/raced", ALICE), daemon=True)
        destroyer.start()
        created = None
        deadline = time.monotonic() + 30
        while created is None and time.monotonic() < deadline:
            r = api(srv, "POST", "/api/desktops", BOB, {"id": "raced"})
            if r.status_code == 201:
                created = r
        destroyer.join(30)
        assert created is not None
        assert not (desktop_home(srv, "raced") / "old.txt").exists()
        assert api(srv, "GET", "/api/desktops/raced", BOB).status_code == 200
        assert api(srv, "GET", "/api/desktops/raced", ALICE).status_code == 404


def test_a_lease_keeps_other_tokens_off_a_shared_desktop_and_sizes_are_bounded(tmp_path):
    with running_server(tmp_path / "server", "--token-file", str(token_file(tmp_path)),
                        "--max-desktops-per-token", "1") as srv:
        assert api(srv, "POST", "/api/desktops", OPS, {"id": "shared-one"}).status_code == 201
        leased = api(srv, "POST", "/api/desktops/acquire", ALICE,
                     {"id": "shared-one", "lease_seconds": 60})
        assert leased.status_code == 200, leased.text
        refused = result(call(srv, "screen_shot", {}, desktop="shared-one", token=BOB))
        assert refused["isError"] is True and "leased by \"alice\"" in text(refused)
        assert api(srv, "POST", "/api/desktops/shared-one/pause", BOB).status_code == 409
        fine = result(call(srv, "screen_shot", {}, desktop="shared-one", token=ALICE))
        assert not fine.get("isError"), text(fine)
        big = api(srv, "POST", "/api/desktops", BOB, {"screen": "8192x8192"})
        assert big.status_code == 400 and "pixels" in big.json()["error"]
        assert api(srv, "POST", "/api/desktops", BOB, {}).status_code == 201
        second = api(srv, "POST", "/api/desktops", BOB, {})
        assert second.status_code == 403 and "--max-desktops-per-token" in second.json()["error"]


def window_names(srv: Server, desktop: str) -> list[str]:
    """The titles of the apps' windows (the window manager's client list)."""
    env = desktop_x_env(srv, desktop)
    listed = subprocess.run(["xprop", "-root", "_NET_CLIENT_LIST"], env=env,
                            capture_output=True, text=True, timeout=10).stdout
    names = []
    for window in listed.split("#", 1)[-1].replace(",", " ").split():
        if not window.startswith("0x"):
            continue
        title = subprocess.run(["xprop", "-id", window, "_NET_WM_NAME", "WM_NAME"], env=env,
                               capture_output=True, text=True, timeout=10).stdout
        names.append(title.strip())
    return names


def test_no_dialog_greets_the_agent_after_the_server_was_killed(tmp_path):
    """Firefox killed with its server leaves a lock in its profile; in the next sandbox its pid
    can name a live process, and Firefox would say it is already running."""
    root = tmp_path / "server"

    def firefox_window(srv: Server) -> list[str]:
        names = window_names(srv, "browser")
        return names if any("Firefox" in n for n in names) else []

    with running_server(root) as srv:
        assert cli(srv, "create", "browser").returncode == 0
        res = result(call(srv, "app_launch", {"command": "firefox-esr"}, desktop="browser"))
        assert not res.get("isError"), text(res)
        wait_for(lambda: firefox_window(srv), 60, "Firefox's window")
        srv.kill()
    with running_server(root) as srv:
        # Another app first: it takes the pid Firefox had last time (the sandbox's pids start
        # over), so the stale lock names a live process.
        res = result(call(srv, "app_launch", {"command": "xterm"}, desktop="browser"))
        assert not res.get("isError"), text(res)
        res = result(call(srv, "app_launch", {"command": "firefox-esr"}, desktop="browser"))
        assert not res.get("isError"), text(res)
        names = wait_for(lambda: firefox_window(srv), 60, "Firefox's window after the restart")
        time.sleep(2)  # a dialog would come up beside the window, or instead of it
        names = window_names(srv, "browser")
        assert not any(word in " ".join(names).lower()
                       for word in ("already running", "close firefox", "restore", "crash")), names
        assert len(names) == 2, names  # the xterm and Firefox


def test_an_agent_creates_a_desktop_over_mcp_and_drives_it_with_the_desktop_argument(tmp_path):
    """The fleet tools on /mcp, then the desktop tools there with `desktop`: no new client
    entry needed. `apps` narrows what the new desktop offers."""
    with running_server(tmp_path / "server") as srv:
        made = result(call(srv, "desktop_create", {"id": "narrow", "apps": ["xterm"],
                                                   "screen": "1024x768"}))
        assert not made.get("isError"), text(made)
        assert made["structuredContent"]["mcp_path"] == "/desktops/narrow/mcp"
        listed = result(call(srv, "app_list", {"desktop": "narrow"}))
        execs = [entry["exec"] for entry in listed["structuredContent"]["result"]]
        assert execs == ["xterm"], execs
        everything = result(call(srv, "app_list", {}))
        assert len(everything["structuredContent"]["result"]) > 1, "the default desktop is whole"
        refused = result(call(srv, "app_launch", {"command": "mousepad", "desktop": "narrow"}))
        assert refused["isError"] is True
        shot = result(call(srv, "screen_shot", {"format": "png", "desktop": "narrow"}))
        assert shot["content"][0]["type"] == "image"
        statuses = json.loads(text(result(call(srv, "desktop_list", {}))))["desktops"]
        assert {d["id"]: d["screen"]["width"] for d in statuses}["narrow"] == 1024
        gone = result(call(srv, "desktop_destroy", {"id": "narrow"}))
        assert json.loads(text(gone))["destroyed"] == "narrow"
        after = result(call(srv, "screen_shot", {"desktop": "narrow"}))
        assert after["isError"] is True and "no desktop named" in text(after)


def test_the_cli_speaks_https_with_the_servers_certificate_and_says_what_is_wrong(tmp_path):
    from test_security import make_certificate
    cert, key = make_certificate(tmp_path)
    with running_server(tmp_path / "server", "--tls-cert", str(cert), "--tls-key", str(key),
                        env={"AGENTDESK_AUTH_TOKEN": ALICE}) as srv:
        assert srv.base.startswith("https://")
        made = cli(srv, "create", "over-tls", "--ca-cert", str(cert), token=ALICE)
        assert made.returncode == 0, made.stderr
        assert f"MCP endpoint: {srv.base}/desktops/over-tls/mcp" in made.stdout
        untrusted = cli(srv, "list", token=ALICE)  # the system's CAs do not know this one
        assert untrusted.returncode != 0 and "TLS" in untrusted.stderr, untrusted.stderr
        no_token = cli(srv, "list", "--ca-cert", str(cert))
        assert no_token.returncode != 0 and "401" in no_token.stderr, no_token.stderr
        gone = cli(srv, "status", "nope", "--ca-cert", str(cert), token=ALICE)
        assert gone.returncode != 0 and 'no desktop named "nope"' in gone.stderr
    unreachable = subprocess.run([agentdesk_bin(), "desktops", "list", "--server",
                                  "http://127.0.0.1:9"], capture_output=True, text=True,
                                 timeout=30, env={"PATH": os.environ["PATH"]})
    assert unreachable.returncode != 0 and "agentdesk serve" in unreachable.stderr


def test_without_the_sandbox_the_server_says_so_and_refuses_what_needs_it(tmp_path):
    with running_server(tmp_path / "server", "--no-sandbox") as srv:
        log = srv.log.read_text()
        assert "--no-sandbox: desktops run without the sandbox" in log, log
        refused = cli(srv, "create", "offline", "--network", "off")
        assert refused.returncode != 0 and "sandbox" in refused.stderr, refused.stderr
        assert cli(srv, "create", "online").returncode == 0
        assert not any(p.comm == "bwrap" for p in descendants(srv.process.pid))


def test_what_agentdesk_writes_for_a_desktop_is_read_only_to_it_and_hosts_run_is_empty(tmp_path):
    """The bus's and window manager's configuration are rewritten while a desktop runs (when
    either is restarted): their directory must be out of its apps' reach. And the host's
    service sockets in /run (the system bus, systemd's, a container engine's) stay outside."""
    victim = tmp_path / "victim"
    victim.mkdir()
    victim.chmod(0o755)
    socket_path = Path(f"/run/agentdesk-e2e-{os.getpid()}.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(socket_path))
    listener.listen(1)
    try:
        with running_server(tmp_path / "server") as srv:
            out = run_in(srv, "default", (
                "conf=$XDG_RUNTIME_DIR.conf; "
                "mv $conf/icewm $conf/moved 2>/dev/null && echo moved || echo kept; "
                f"ln -s {victim} $conf/planted 2>/dev/null && echo planted || echo refused; "
                f"python3 -c \\\"import socket; s = socket.socket(socket.AF_UNIX); "
                f"s.connect('{socket_path}'); print('reached')\\\" 2>/dev/null || echo unreachable; "
                "ls -A /run | grep -v -e '^systemd$' | wc -l"))
            assert out.split() == ["kept", "refused", "unreachable", "0"], out
            # The window manager restarted (its configuration rewritten) changes nothing.
            icewm = [p for p in desktop_processes(srv, "default")
                     if Path(f"/proc/{p}/comm").read_text().strip() == "icewm"]
            os.kill(icewm[0], 9)
            wait_for(lambda: any(Path(f"/proc/{p}/comm").read_text().strip() == "icewm"
                                 for p in desktop_processes(srv, "default") if running(p)),
                     30, "the window manager to be restarted")
    finally:
        listener.close()
        socket_path.unlink(missing_ok=True)
    assert victim.stat().st_mode & 0o777 == 0o755 and list(victim.iterdir()) == []
