"""Snapshots and files end to end, on real desktops in their sandboxes: the Screenbox flow
(log Firefox into a site, snapshot, destroy, clone, still logged in), a byte-identical restore
of a running desktop (frozen for the save, with an app writing all the while), progress over
MCP and the CLI, a server SIGKILLed in the middle of a restore (the old home stays whole), and
files the agent's own apps turned into links.

The site is served by the test itself on loopback; the desktops' network is on, so Firefox in
the sandbox reaches it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx2

from conftest import Server, agentdesk_bin, connect, desktop_home, running_server
from test_fleet import api, call, result, run_in, text, wait_for, window_names


def snapshots_cli(srv: Server, *args: str) -> subprocess.CompletedProcess:
    """`agentdesk snapshots ARGS` (or `desktops ARGS` when the first is "desktops")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTDESK_")}
    env["AGENTDESK_SERVER"] = srv.base
    command = list(args) if args[0] == "desktops" else ["snapshots", *args]
    return subprocess.run([agentdesk_bin(), *command], env=env, capture_output=True, text=True,
                          timeout=120)


# What the desktop's own start writes into the home (agentdesk's Firefox preferences, app
# settings) and the probes of run_in: compared apart from the files under test.
STARTED = ("busy.log", ".probe", ".mozilla", ".config", ".cache", ".local", ".icewm")


def tree(root: Path, skip: tuple[str, ...] = STARTED) -> dict[str, str]:
    """Every entry under `root`: kind, permission bits, and contents' hash or link target."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if rel.startswith(skip):
            continue
        st = path.lstat()
        if path.is_symlink():
            found[rel] = f"link {os.readlink(path)}"
        elif path.is_dir():
            found[rel] = f"dir {st.st_mode & 0o7777:o}"
        elif path.is_file():
            found[rel] = (f"file {st.st_mode & 0o7777:o} {st.st_mtime_ns} "
                          f"{hashlib.sha256(path.read_bytes()).hexdigest()}")
    return found


class Site:
    """A local site: /login sets a persistent session cookie, every visit is recorded with the
    cookies it carried."""

    def __init__(self) -> None:
        self.session = secrets.token_hex(12)
        self.visits: list[tuple[str, str]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                site.visits.append((self.path, self.headers.get("Cookie", "")))
                self.send_response(200)
                if self.path == "/login":
                    self.send_header("Set-Cookie",
                                     f"session={site.session}; Max-Age=86400; Path=/")
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<title>agentdesk test site</title><h1>hello</h1>")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def visited_with_session(self, path: str) -> bool:
        return any(p == path and f"session={self.session}" in c for p, c in self.visits)


def test_the_screenbox_flow_log_in_snapshot_destroy_clone_and_still_logged_in(tmp_path):
    site = Site()
    try:
        with running_server(tmp_path / "server") as srv:
            assert snapshots_cli(srv, "desktops", "create", "template").returncode == 0
            launched = result(call(srv, "app_launch",
                                   {"command": f"firefox-esr {site.url}/login"},
                                   desktop="template"))
            assert not launched.get("isError"), text(launched)
            wait_for(lambda: any(p == "/login" for p, _ in site.visits), 60, "Firefox's visit")
            # Firefox writes cookies to its database shortly after they are set.
            profile = desktop_home(srv, "template") / ".mozilla/firefox/agentdesk"
            wait_for(lambda: any(site.session.encode() in f.read_bytes()
                                 for f in profile.glob("cookies.sqlite*") if f.is_file()),
                     30, "the cookie in Firefox's database")

            saved = snapshots_cli(srv, "save", "template", "--label", "logged-in", "--json")
            assert saved.returncode == 0, saved.stderr
            snapshot = json.loads(saved.stdout)
            assert snapshot["label"] == "logged-in" and snapshot["files"] > 10, snapshot
            # Firefox went on running through the save.
            assert any("Firefox" in n for n in window_names(srv, "template"))

            gone = snapshots_cli(srv, "desktops", "destroy", "template")
            assert gone.returncode == 0, gone.stderr
            clone = snapshots_cli(srv, "desktops", "create", "worker-1",
                                  "--from-snapshot", "logged-in")
            assert clone.returncode == 0, clone.stderr
            launched = result(call(srv, "app_launch",
                                   {"command": f"firefox-esr {site.url}/account"},
                                   desktop="worker-1"))
            assert not launched.get("isError"), text(launched)
            wait_for(lambda: site.visited_with_session("/account"), 60,
                     "the clone's Firefox visiting with the saved session cookie")
            time.sleep(2)  # a dialog would come up beside the window
            names = window_names(srv, "worker-1")
            assert not any(word in " ".join(names).lower()
                           for word in ("restore", "crash", "already running")), names
    finally:
        site.server.shutdown()


def test_a_running_desktop_saved_frozen_restores_byte_for_byte_with_progress(tmp_path):
    with running_server(tmp_path / "server") as srv:
        home = desktop_home(srv)
        (home / "docs").mkdir()
        (home / "docs/plan.txt").write_text("the plan\n" * 1000)
        (home / "docs/run.sh").write_text("#!/bin/sh\necho hi\n")
        (home / "docs/run.sh").chmod(0o750)
        (home / "data.bin").write_bytes(os.urandom(40_000_000))
        (home / "empty").write_bytes(b"")
        os.symlink("docs/plan.txt", home / "latest")
        os.symlink("/etc/passwd", home / "outside")
        # An app writing all the while: the save freezes it, then it goes on.
        run_in(srv, "default", "true")
        launched = result(call(srv, "app_launch", {
            "command": 'xterm -e sh -c "while true; do date +%N >> ~/busy.log; done"'}))
        assert not launched.get("isError"), text(launched)
        wait_for(lambda: (home / "busy.log").exists(), 20, "the busy app's log")
        before = tree(home)

        async def save_with_progress() -> tuple[dict, list[tuple[float, float | None]]]:
            seen: list[tuple[float, float | None]] = []

            async def progress(done: float, total: float | None, message: str | None) -> None:
                seen.append((done, total))

            async with connect(srv.url) as client:
                res = await client.call_tool("snapshot_save", {"label": "frozen"},
                                             progress_callback=progress)
                assert not res.is_error, res.content
                return res.structured_content, seen

        saved, seen = asyncio.run(save_with_progress())
        assert saved["files"] >= 5, saved
        assert seen and seen[-1][1] is not None and seen[-1][0] <= seen[-1][1], seen
        size_before = (home / "busy.log").stat().st_size
        wait_for(lambda: (home / "busy.log").stat().st_size > size_before, 10,
                 "the app going on after the save")

        # Change everything, then restore: what was saved comes back exactly.
        (home / "docs/plan.txt").write_text("changed")
        (home / "data.bin").unlink()
        (home / "new.txt").write_text("after the snapshot")
        restored = snapshots_cli(srv, "restore", "default", "frozen", "--json")
        assert restored.returncode == 0, restored.stderr
        after = tree(home)
        assert after == before
        assert not (home / "new.txt").exists()
        # The desktop runs again, without the app (a restore closes them).
        shot = result(call(srv, "screen_shot", {}))
        assert not shot.get("isError"), text(shot)
        verified = snapshots_cli(srv, "verify", "frozen")
        assert verified.returncode == 0 and "is whole" in verified.stdout, verified.stdout

        # A second snapshot after a 1 MB change stores about that much.
        (home / "data.bin").write_bytes((home / "data.bin").read_bytes()[:39_000_000]
                                        + os.urandom(1_000_000))
        second = json.loads(snapshots_cli(srv, "save", "default", "--json").stdout)
        assert second["added_bytes"] < 3_000_000, second


def test_a_server_killed_mid_restore_leaves_the_old_home_whole(tmp_path):
    root = tmp_path / "server"
    with running_server(root) as srv:
        home = desktop_home(srv)
        (home / "big.bin").write_bytes(os.urandom(300_000_000))
        saved = snapshots_cli(srv, "save", "default", "--label", "big", "--json")
        assert saved.returncode == 0, saved.stderr
        (home / "big.bin").unlink()
        (home / "after.txt").write_text("written after the snapshot")
        before = tree(home)

        restore = subprocess.Popen(
            [agentdesk_bin(), "snapshots", "restore", "default", "big"],
            env={**os.environ, "AGENTDESK_SERVER": srv.base},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        desktop_dir = home.parent
        deadline = time.monotonic() + 30
        while not any(p.name.startswith("home.restore-") for p in desktop_dir.iterdir()):
            assert time.monotonic() < deadline, "the restore never started"
            time.sleep(0.002)
        srv.kill()
        restore.communicate(timeout=30)
    with running_server(root) as srv:
        home = desktop_home(srv)
        assert tree(home) == before
        assert [p.name for p in home.parent.iterdir() if p.name.startswith("home.")] == []
        # And the snapshot is still whole: a restore now goes through.
        restored = snapshots_cli(srv, "restore", "default", "big")
        assert restored.returncode == 0, restored.stderr
        assert (home / "big.bin").stat().st_size == 300_000_000
        assert not (home / "after.txt").exists()


def test_links_the_agents_own_apps_plant_never_lead_the_file_tools_out(tmp_path):
    with running_server(tmp_path / "server") as srv:
        home = desktop_home(srv)
        secret = tmp_path / "secret"
        secret.write_text("the operator's")
        # The agent's app makes links to files and directories outside its home.
        run_in(srv, "default",
               f"ln -s {secret} ~/to-file; ln -s {tmp_path} ~/to-dir; ln -s / ~/root; "
               f"mkdir -p ~/sub && ln -s ../../.. ~/sub/up")
        for path in ["to-file", "to-dir/secret", "root/etc/passwd", "sub/up/etc/passwd",
                     "../secret", "/etc/passwd", "sub/../../secret"]:
            res = result(call(srv, "file_download", {"path": path}))
            assert res.get("isError"), (path, text(res))
            assert "operator" not in json.dumps(res), path
            got = httpx2.get(f"{srv.base}/api/desktops/default/files/{path}", timeout=30)
            # (httpx resolves .. itself: such a path reaches another route, or none.)
            assert 400 <= got.status_code < 500, (path, got.status_code)
            assert "operator" not in got.text, path
            res = result(call(srv, "file_upload", {"path": path, "text": "overwritten"}))
            if path != "to-file":
                assert res.get("isError"), (path, text(res))
        assert secret.read_text() == "the operator's"
        # Uploading onto a link replaced the link itself.
        assert not (home / "to-file").is_symlink()
        # A 50 MB file over REST, both ways, byte for byte.
        data = os.urandom(50_000_000)
        put = httpx2.put(f"{srv.base}/api/desktops/default/files/in/big.bin", content=data,
                         timeout=60)
        assert put.status_code == 201, put.text
        assert (home / "in/big.bin").read_bytes() == data
        got = httpx2.get(f"{srv.base}/api/desktops/default/files/in/big.bin", timeout=60)
        assert got.status_code == 200 and got.content == data
        listing = api(srv, "GET", "/api/desktops/default/files/in").json()
        assert [e["name"] for e in listing["entries"]] == ["big.bin"]


def test_an_evidence_trail_keeps_each_calls_line_and_the_screen_after_it(tmp_path):
    # Outside /tmp (every sandbox has its own): an app must not see it even where it could
    # see the host's files.
    evidence = Path(f"/var/tmp/agentdesk-evidence-{secrets.token_hex(4)}")
    try:
        with running_server(tmp_path / "server", "--evidence-dir", str(evidence),
                            "--record-screens") as srv:
            for name, args in [("mouse_move", {"x": 10, "y": 10}), ("screen_shot", {}),
                               ("key_type", {"text": "hunter2", "secret": True})]:
                res = result(call(srv, name, args))
                assert not res.get("isError"), text(res)
            assert api(srv, "GET", "/api/desktops").status_code == 200
            seen = run_in(srv, "default", f"ls {evidence} 2>&1; echo done")
            assert "done" in seen and "default" not in seen, seen
        lines = [json.loads(l) for l in (evidence / "default/calls.jsonl").read_text().splitlines()]
        tools = [l["tool"] for l in lines]
        assert tools[-3:] == ["mouse_move", "screen_shot", "key_type"] or \
            tools[-4:-1] == ["mouse_move", "screen_shot", "key_type"], tools
        typed = next(l for l in lines if l["tool"] == "key_type")
        assert "hunter2" not in json.dumps(typed), typed
        for line in lines:
            assert line["desktop"] == "default"
            screen = evidence / "default" / line["screen"]
            assert screen.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", screen
            assert screen.stat().st_mode & 0o777 == 0o600
        assert (evidence / "default").stat().st_mode & 0o777 == 0o700
        assert any(json.loads(l)["tool"] == "api.desktop_list"
                   for l in (evidence / "_server/calls.jsonl").read_text().splitlines())
    finally:
        subprocess.run(["rm", "-rf", str(evidence)], check=False)


def test_a_clone_that_runs_out_of_time_is_cancelled_and_leaves_nothing(tmp_path):
    """Over MCP a create from a snapshot is bounded by --call-timeout: one that runs out is
    asked to stop, removes what it made, and says so; no desktop is left half made."""
    with running_server(tmp_path / "server", "--call-timeout", "1") as srv:
        home = desktop_home(srv)
        for i in range(6):
            (home / f"big{i}.bin").write_bytes(os.urandom(100_000_000))
        saved = snapshots_cli(srv, "save", "default", "--label", "big", "--json")
        assert saved.returncode == 0, saved.stderr
        res = result(call(srv, "desktop_create", {"id": "late", "from_snapshot": "big"}))
        if res.get("isError"):
            message = text(res)
            assert "cancelled" in message and "nothing was changed" in message, message
            assert api(srv, "GET", "/api/desktops/late").status_code == 404
            desktops = srv.data_dir / "desktops"
            assert not (desktops / "late").exists(), list((desktops / "late").iterdir())
        else:
            # A machine fast enough to restore 600 MB in a second: then it is whole.
            assert (srv.data_dir / "desktops/late/home/big5.bin").stat().st_size == 100_000_000
