"""End-to-end fixtures: one agentdesk server (a real desktop) for the whole session, and MCP
clients from the official Python SDK connected to it.

The binary under test comes from $AGENTDESK_BIN; nothing here builds it.

Helpers that tests import (`from conftest import ...`) live here too; `running_server` starts
extra servers in other postures (test_security.py). The hostile-input suite's own machinery is
in hostile.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from PIL import Image

SCREEN = (1280, 800)
"""The default screen size; the server is started without --screen."""

TOOL_NAMES = [
    "screen_shot",
    "mouse_move",
    "mouse_click",
    "mouse_double_click",
    "mouse_drag",
    "mouse_scroll",
    "key_type",
    "key_press",
    "app_list",
    "app_launch",
    "app_status",
    "clipboard_get",
    "clipboard_set",
    "help_request",
    "help_status",
    "screen_find_text",
    "screen_read_text",
    "screen_zoom",
    "window_list",
    "window_action",
    "ui_tree",
    "ui_find",
    "ui_action",
    "browser_page_map",
    "browser_navigate",
    "batch",
]

FLEET_TOOL_NAMES = [
    "desktop_create",
    "desktop_list",
    "desktop_status",
    "desktop_destroy",
    "desktop_pause",
    "desktop_resume",
    "desktop_acquire",
    "desktop_release",
    "desktop_heartbeat",
    "snapshot_save",
    "snapshot_list",
    "snapshot_restore",
    "snapshot_delete",
    "snapshot_verify",
    "file_upload",
    "file_download",
    "file_list",
]
"""On /mcp only, after the desktop tools (which there also take an optional `desktop`)."""

LEGACY_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"
MODES = {"legacy": LEGACY_VERSION, "auto": MODERN_VERSION}
"""Client(mode=...) -> the protocol version it must end up speaking with agentdesk."""

DESKTOP_PROCESSES = {"Xvnc", "icewm", "dbus-daemon"}
"""What `agentdesk serve` runs as its children: X server, window manager, session bus."""

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
READY_LINE = re.compile(r"^agentdesk: serving MCP at (https?://\S+/mcp)\s*$", re.MULTILINE)


# ----------------------------------------------------------------------------- /proc


@dataclass(frozen=True)
class Proc:
    """A process as /proc saw it; (pid, start time) identifies it even if the pid is reused."""

    pid: int
    ppid: int
    comm: str
    state: str
    start: int


def read_proc(pid: int) -> Proc | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces and parentheses: it ends at the last ')'.
    lpar, rpar = data.index("("), data.rindex(")")
    fields = data[rpar + 2 :].split()
    return Proc(
        pid=pid,
        ppid=int(fields[1]),
        comm=data[lpar + 1 : rpar],
        state=fields[0],
        start=int(fields[19]),
    )


def all_procs() -> list[Proc]:
    procs = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            p = read_proc(int(entry))
            if p is not None:
                procs.append(p)
    return procs


def descendants(pid: int) -> list[Proc]:
    """Every live process below `pid` (children, grandchildren ...)."""
    by_parent: dict[int, list[Proc]] = {}
    for p in all_procs():
        by_parent.setdefault(p.ppid, []).append(p)
    found, todo = [], [pid]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            if child.state not in "ZX":
                found.append(child)
                todo.append(child.pid)
    return found


def is_alive(p: Proc) -> bool:
    """Whether this very process (not a later one with the same pid) still runs."""
    now = read_proc(p.pid)
    return now is not None and now.start == p.start and now.state not in "ZX"


def wait_gone(procs: list[Proc], timeout: float) -> list[Proc]:
    """Polls until none of `procs` is alive or `timeout` passes; returns the survivors."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if is_alive(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def kill_survivors(procs: list[Proc]) -> None:
    """SIGKILLs, by pid, processes this suite started that outlived their parent."""
    for p in procs:
        if is_alive(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- server


@dataclass
class Server:
    url: str
    """The MCP endpoint, http://127.0.0.1:PORT/mcp."""
    base: str
    """http://127.0.0.1:PORT"""
    host: str
    port: int
    process: subprocess.Popen
    data_dir: Path
    log: Path
    children: list[Proc] = field(default_factory=list)
    """The desktop's processes as seen right after startup."""
    killed: bool = False
    """Set by a test that SIGKILLs the server on purpose: its stop is then not checked."""

    def kill(self) -> None:
        """SIGKILL, as an OOM killer or an impatient operator would."""
        self.killed = True
        self.process.kill()
        self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def agentdesk_bin() -> str:
    path = os.environ.get("AGENTDESK_BIN")
    if not path:
        pytest.exit("set AGENTDESK_BIN to the agentdesk binary (cargo build --bin agentdesk)", 2)
    if not os.access(path, os.X_OK):
        pytest.exit(f"AGENTDESK_BIN={path} is not an executable file", 2)
    return path


def stop_process_tree(process: subprocess.Popen, recorded: list[Proc], what: str) -> list[str]:
    """SIGTERM `process`, wait (SIGKILL after STOP_TIMEOUT), and check that it and every
    process in `recorded` are gone. Returns the problems found (empty if none); survivors are
    killed so that nothing is left behind either way."""
    problems = []
    unique: dict[tuple[int, int], Proc] = {}
    for p in recorded + descendants(process.pid):
        unique.setdefault((p.pid, p.start), p)
    recorded = list(unique.values())
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            rc = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            rc = process.wait()
            problems.append(f"{what} ignored SIGTERM for {STOP_TIMEOUT:.0f} s and was SIGKILLed")
        if rc != 0 and not problems:
            problems.append(f"{what} exited with status {rc} after SIGTERM (expected 0)")
    else:
        problems.append(f"{what} had already exited with status {process.returncode}")
    # Children of a stopped server are reparented; give them a moment to finish dying.
    survivors = wait_gone(recorded, timeout=5.0)
    if survivors:
        problems.append(
            f"processes of {what} outlived it: "
            + ", ".join(f"{p.comm}[{p.pid}]" for p in survivors)
        )
        kill_survivors(survivors)
    return problems


def wait_for_desktop_processes(pid: int, timeout: float) -> list[Proc]:
    deadline = time.monotonic() + timeout
    while True:
        procs = descendants(pid)
        if DESKTOP_PROCESSES <= {p.comm for p in procs} or time.monotonic() > deadline:
            return procs
        time.sleep(0.05)


@contextlib.contextmanager
def running_server(
    root: Path,
    *args: str,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
    expect_desktop: bool = True,
) -> Iterator[Server]:
    """`agentdesk serve` on a port the OS picks (--listen 127.0.0.1:0 unless `args` name
    another), with a private data directory under `root` and `args` added; stopped afterwards,
    checking that it stops cleanly and leaves no process behind. `preexec` runs in the child
    before agentdesk starts (to set its umask, say)."""
    binary = agentdesk_bin()
    root.mkdir(parents=True, exist_ok=True)
    data_dir = root / "data"
    log = root / "server.log"
    listen = [] if "--listen" in args else ["--listen", "127.0.0.1:0"]
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [binary, "serve", *listen, "--data-dir", str(data_dir), *args],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            env={**os.environ, "NO_COLOR": "1", **(env or {})},
            preexec_fn=preexec,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        url = None
        while url is None:
            match = READY_LINE.search(log.read_text(errors="replace"))
            if match:
                url = match.group(1)
            elif process.poll() is not None:
                pytest.fail(
                    f"agentdesk exited with status {process.returncode} before serving:\n"
                    + log.read_text(errors="replace")
                )
            elif time.monotonic() > deadline:
                pytest.fail(f"agentdesk did not serve within {STARTUP_TIMEOUT:.0f} s")
            else:
                time.sleep(0.05)
        base = url.removesuffix("/mcp")
        host, port = base.split("://", 1)[1].rsplit(":", 1)
        srv = Server(
            url=url,
            base=base,
            host=host,
            port=int(port),
            process=process,
            data_dir=data_dir,
            log=log,
        )
        if expect_desktop:
            srv.children = wait_for_desktop_processes(process.pid, timeout=10.0)
            missing = DESKTOP_PROCESSES - {p.comm for p in srv.children}
            assert not missing, f"agentdesk started no {missing}; its children: {srv.children}"
    except BaseException:
        stop_process_tree(process, descendants(process.pid), "agentdesk")
        raise

    try:
        yield srv
    except BaseException:
        # The test failed inside the `with`: stop the server all the same, and let the
        # test's own failure be the one reported.
        stop_process_tree(process, srv.children + descendants(process.pid), "agentdesk")
        raise

    if srv.killed:
        # The test killed it: what it ran dies with its X server; make sure, then stop here.
        kill_survivors(wait_gone(srv.children, timeout=5.0))
        return
    # Everything the server runs, now (xterms and their shells included), plus what it ran at
    # startup (in case the supervisor restarted something since).
    recorded = srv.children + descendants(process.pid)
    problems = stop_process_tree(process, recorded, "agentdesk")
    assert not problems, "\n".join(problems) + "\n--- server log ---\n" + srv.log_tail()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `agentdesk serve` for the whole session, in the default posture (loopback, no
    token). Its rate limits are raised: the suite calls tools and starts tasks far faster than
    an agent does, and the limits themselves are tested on servers of their own
    (test_security.py, test_tasks.py)."""
    root = tmp_path_factory.mktemp("agentdesk")
    with running_server(root, "--rate-limit", "1000", "--tasks-per-minute", "1000") as srv:
        yield srv


def desktop_home(srv: Server, desktop: str = "default") -> Path:
    """A desktop's home on the host. Its apps run in a sandbox with a /tmp of their own, so a
    file a test wants to see from an app goes here (the one directory both see)."""
    return srv.data_dir / "desktops" / desktop / "home"


@pytest.fixture
def desk_tmp(server: Server, request: pytest.FixtureRequest) -> Path:
    """Like tmp_path, but inside the session desktop's home: what its apps write there, the
    test reads."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:60]
    path = desktop_home(server) / "e2e" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def audit_lines(srv: Server) -> list[dict[str, Any]]:
    """The default desktop's audit log, parsed."""
    path = srv.data_dir / "desktops" / "default" / "audit.jsonl"
    # Split on "\n" only: arguments may hold U+2028 or U+0085, which JSON leaves unescaped and
    # str.splitlines() would take for line ends.
    return [json.loads(line) for line in path.read_text().split("\n") if line]


# ----------------------------------------------------------------------------- clients


@contextlib.asynccontextmanager
async def connect(
    url: str,
    *,
    mode: str = "auto",
    headers: dict[str, str] | None = None,
    verify: Any = True,
) -> AsyncIterator[Client]:
    """An SDK client over Streamable HTTP; `mode` is Client's: "legacy" or "auto". Checks that
    the expected protocol version was negotiated. `verify` is httpx's (an SSLContext for a
    test certificate).

    Clients are opened inside tests, not in async fixtures: pytest-asyncio runs a fixture's
    setup and teardown in different tasks, which anyio's cancel scopes do not allow."""
    timeout = httpx2.Timeout(30.0, read=60.0)
    try:
        async with httpx2.AsyncClient(
            headers=headers or {}, timeout=timeout, verify=verify
        ) as http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport, mode=mode, read_timeout_seconds=60.0) as client:
                assert client.protocol_version == MODES[mode]
                yield client
    except BaseExceptionGroup as group:
        raise_leaf(group)


def raise_leaf(group: BaseExceptionGroup) -> None:
    """The SDK's task groups wrap a failing assertion of the test in exception groups; raise
    the single exception inside instead, so that pytest shows the assertion itself."""
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
        leaf = leaf.exceptions[0]
    if isinstance(leaf, BaseExceptionGroup):
        raise group
    raise leaf from None


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol eras: "legacy" (initialize handshake) and "auto" (negotiates 2026-07-28)."""
    return request.param


# ----------------------------------------------------------------------------- results


def texts(result) -> list[str]:
    return [block.text for block in result.content if block.type == "text"]


def only_text(result) -> str:
    assert len(result.content) == 1, result.content
    block = result.content[0]
    assert block.type == "text", block
    return block.text


def ok_text(result) -> str:
    assert not result.is_error, only_text(result)
    return only_text(result)


def error_text(result) -> str:
    """The message of a tool error (isError true, one text block)."""
    text = only_text(result)
    assert result.is_error is True, f"expected a tool error, got: {text}"
    return text


def feedback(result) -> dict[str, Any]:
    """The JSON feedback of an input tool: {action, screen_changed, reaction_time_ms}."""
    body = json.loads(ok_text(result))
    assert set(body) == {"action", "screen_changed", "reaction_time_ms"}, body
    assert isinstance(body["action"], str)
    assert isinstance(body["screen_changed"], bool)
    assert isinstance(body["reaction_time_ms"], int) and body["reaction_time_ms"] >= 0
    return body


def image(result, mime: str = "image/webp") -> Image.Image:
    """Decodes the single image block of a screen_shot result."""
    assert not result.is_error, texts(result)
    assert len(result.content) == 1, result.content
    block = result.content[0]
    assert block.type == "image", block.type
    assert block.mime_type == mime
    img = Image.open(io.BytesIO(base64.b64decode(block.data, validate=True)))
    img.load()
    expected_format = {"image/webp": "WEBP", "image/png": "PNG", "image/jpeg": "JPEG"}[mime]
    assert img.format == expected_format
    return img


async def shot(client: Client, **args) -> Image.Image:
    """A lossless screenshot (PNG) as an RGB image."""
    args.setdefault("format", "png")
    result = await client.call_tool("screen_shot", args)
    return image(result, "image/png").convert("RGB")


async def poll(
    check: Callable[[], Awaitable[Any]],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    seen: Callable[[], str] | None = None,
) -> Any:
    """Calls `check` until it returns something truthy; fails after `timeout` seconds, saying
    what was last seen (`seen()`, or the last value of `check`)."""
    deadline = time.monotonic() + timeout
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            last_seen = seen() if seen else repr(last)
            pytest.fail(
                f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last_seen}"
            )
        await asyncio.sleep(interval)


def avoid_minute_boundary() -> None:
    """The taskbar clock (HH:MM) redraws at each minute; an action checked for having *no*
    visible effect must not straddle that. Waits (< 1 s) if a minute is about to turn."""
    into_minute = time.time() % 60
    if into_minute > 58.5:
        time.sleep(60.2 - into_minute)


# ----------------------------------------------------------------------------- the terminal

TERMINAL_POINT = (200, 150)
"""Inside the xterm: IceWM opens the first window at the top-left (about 490x340 on screen)."""
TERMINAL_PROBE = {"x": 150, "y": 100, "width": 100, "height": 100}
"""A region around TERMINAL_POINT, wholly inside the xterm once it is open."""


@dataclass
class Terminal:
    launched: dict[str, Any]
    """app_launch's answer: {pid, log_file, action}."""
    pid: int


def dominant_share(img: Image.Image, color: tuple[int, int, int]) -> float:
    colors = img.getcolors(img.width * img.height) or []
    return sum(n for n, c in colors if c == color) / (img.width * img.height)


def dominant_color(img: Image.Image) -> tuple[int, int, int]:
    colors = img.getcolors(img.width * img.height) or []
    return max(colors)[1]


@pytest.fixture(scope="session")
def session_state() -> dict[str, Any]:
    return {}


@pytest.fixture
async def terminal(server: Server, session_state: dict[str, Any]) -> Terminal:
    """The session's one xterm, launched with app_launch the first time it is needed and shown
    to cover TERMINAL_POINT. One window only, so clicks at TERMINAL_POINT always land in it."""
    if "terminal" in session_state:
        return session_state["terminal"]
    if "terminal_error" in session_state:
        pytest.fail(f"the terminal could not be opened: {session_state['terminal_error']}")
    try:
        async with connect(server.url) as client:
            bare = await shot(client, region=TERMINAL_PROBE)
            background = dominant_color(bare)
            result = await client.call_tool("app_launch", {"command": "xterm"})
            launched = json.loads(ok_text(result))

            async def window_covers_probe():
                region = await shot(client, region=TERMINAL_PROBE)
                return dominant_share(region, background) < 0.1

            await poll(window_covers_probe, timeout=15.0, what="the xterm window to appear")
    except BaseException as e:
        # Fail fast in the other tests that need it, rather than waiting again each time.
        session_state["terminal_error"] = repr(e)
        raise
    session_state["terminal"] = Terminal(launched=launched, pid=launched["pid"])
    return session_state["terminal"]


async def type_in_terminal(client: Client, command: str) -> dict[str, Any]:
    """Focuses the terminal, clears its command line and types `command` + Enter. Returns the
    key_type feedback."""
    x, y = TERMINAL_POINT
    feedback(await client.call_tool("mouse_click", {"x": x, "y": y}))
    # A stabilized screenshot lets the window manager finish moving the focus.
    await shot(client, region=TERMINAL_PROBE)
    # Whatever earlier tests may have left on the command line goes away with ^C.
    feedback(await client.call_tool("key_press", {"keys": "ctrl+c"}))
    await shot(client, region=TERMINAL_PROBE)  # the shell has drawn its new prompt
    return feedback(await client.call_tool("key_type", {"text": command + "\n"}))


async def wait_for_file(path: Path, expected: str, timeout: float = 15.0) -> str:
    """Polls until the file `path` holds `expected` (and a newline, maybe)."""
    text = None

    async def content():
        nonlocal text
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        return text if text.strip() == expected else None

    return await poll(
        content,
        timeout=timeout,
        what=f"{path} to contain {expected!r}",
        seen=lambda: "no such file" if text is None else repr(text[:200]),
    )


# ----------------------------------------------------------------------------- plain HTTP


def pointer_position(srv: Server, token: str | None = None) -> tuple[int, int]:
    """Where the X pointer is, asked of the X server by xdotool with the desktop's cookie
    (`token`: the server's, for /healthz to show the display)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    health = httpx2.get(f"{srv.base}/healthz", headers=headers, timeout=10).json()
    env = {**os.environ, "DISPLAY": health["display"], "XAUTHORITY": health["xauthority"]}
    out = subprocess.run(
        ["xdotool", "getmouselocation", "--shell"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    values = dict(line.split("=", 1) for line in out.split())
    return int(values["X"]), int(values["Y"])


def runtime_root(srv: Server) -> bytes:
    """The server's runtime directory (its desktops' are inside), from one of its processes."""
    for p in descendants(srv.process.pid):
        try:
            environ = Path(f"/proc/{p.pid}/environ").read_bytes()
        except OSError:
            continue
        for var in environ.split(b"\0"):
            if var.startswith(b"XDG_RUNTIME_DIR="):
                return var.removeprefix(b"XDG_RUNTIME_DIR=").rsplit(b"/", 1)[0]
    raise AssertionError("no process of the server carries its runtime directory")


def desktop_processes(srv: Server, desktop: str) -> list[int]:
    """The processes of one desktop of `srv`: those tagged with its runtime directory."""
    tag = b"XDG_RUNTIME_DIR=" + runtime_root(srv) + b"/" + desktop.encode()
    found = []
    for p in all_procs():
        try:
            environ = Path(f"/proc/{p.pid}/environ").read_bytes()
        except OSError:
            continue
        if tag in environ.split(b"\0"):
            found.append(p.pid)
    return found


def desktop_x_env(srv: Server, desktop: str) -> dict[str, str]:
    """DISPLAY and XAUTHORITY for a host X client (xdotool) to reach a desktop's X server
    (through its abstract socket: the network is on)."""
    for pid in desktop_processes(srv, desktop):
        if Path(f"/proc/{pid}/comm").read_text().strip() == "icewm":
            env = dict(var.split("=", 1) for var in
                       Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in var)
            return {**os.environ, "DISPLAY": env["DISPLAY"], "XAUTHORITY": env["XAUTHORITY"]}
    raise AssertionError(f"no window manager runs on {desktop}")


def mcp_call(srv: Server, name: str, arguments: dict) -> dict:
    """One tools/call as a bare JSON-RPC POST (no session; for tests about something else than
    the MCP client), returning its result."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}
    headers = {"Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}
    return httpx2.post(srv.url, json=body, headers=headers, timeout=30).json()["result"]


def text_of(result: dict) -> str:
    """The text blocks of a bare tools/call result, joined."""
    return " ".join(c["text"] for c in result["content"] if c["type"] == "text")
