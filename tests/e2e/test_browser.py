"""The live view page in a real browser: Debian's Chromium, headless, driven by Playwright.

The page loads noVNC from agentdesk itself and connects through agentdesk's WebSocket bridge;
its canvas must show what an MCP screenshot shows. A viewer's input is dropped by the server
even when the page is made to send it; after Take control, clicks and keys in the page reach
the desktop while the agent's input is refused; a help request shows on the page and the
human's answer reaches the agent; hand-back restores the agent. With a token configured, the
page sits behind a login that sets an HttpOnly, SameSite=Strict session cookie."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import (
    Server,
    desktop_home,
    mcp_call,
    pointer_position,
    running_server,
    text_of,
)

CHROMIUM = "/usr/bin/chromium"
# As root in a sandbox without a GPU or a network beyond loopback: no sandbox, no GPU, and
# none of Chromium's background traffic (which the closed network would refuse, many times).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ALICE = "alice-browser-0123456789abcdef"
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.environ.get("AGENTDESK_NOVNC_DIR"):
        pytest.fail("AGENTDESK_NOVNC_DIR is not set: run scripts/test.sh, which installs noVNC")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test.sh, which installs chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors  # type: ignore[attr-defined]
    return page


def connected(page: Page) -> None:
    expect(page.locator("#connection")).to_have_text("connected", timeout=WAIT_MS)
    assert not page.errors, page.errors  # type: ignore[attr-defined]


def canvas_image(page: Page) -> Image.Image:
    url = page.evaluate("document.querySelector('#screen canvas').toDataURL('image/png')")
    data = base64.b64decode(url.split(",", 1)[1])
    return Image.open(io.BytesIO(data)).convert("RGB")


def mcp_screenshot(srv: Server) -> Image.Image:
    result = mcp_call(srv, "screen_shot", {"format": "png"})
    assert not result.get("isError"), result
    return Image.open(io.BytesIO(base64.b64decode(result["content"][0]["data"]))).convert("RGB")


def differing_share(a: Image.Image, b: Image.Image) -> float:
    """The share of pixels that differ by more than 24 in some channel."""
    assert a.size == b.size, (a.size, b.size)
    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > 24 else 0)
    return sum(1 for v in diff.getdata() if v) / (a.width * a.height)


def page_point(page: Page, x: int, y: int) -> tuple[float, float]:
    """Where in the page the desktop's pixel (x, y) is shown (noVNC scales to fit)."""
    box = page.evaluate(
        """() => { const c = document.querySelector('#screen canvas');
                   const r = c.getBoundingClientRect();
                   return [r.left, r.top, r.width / c.width, r.height / c.height]; }"""
    )
    left, top, sx, sy = box
    return left + (x + 0.5) * sx, top + (y + 0.5) * sy


def xterm_geometry(srv: Server) -> tuple[int, int, int, int]:
    """x, y, width, height of the one xterm on the desktop, from xdotool with the cookie."""
    health = httpx2.get(f"{srv.base}/healthz", timeout=10).json()
    env = {**os.environ, "DISPLAY": health["display"], "XAUTHORITY": health["xauthority"]}
    deadline = time.monotonic() + 15
    while True:
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--class", "xterm"],
                               env=env, capture_output=True, text=True)
        if found.stdout.split():
            break
        assert time.monotonic() < deadline, "the xterm window did not appear"
        time.sleep(0.1)
    window = found.stdout.split()[0]
    out = subprocess.run(["xdotool", "getwindowgeometry", "--shell", window], env=env,
                         capture_output=True, text=True, check=True).stdout
    v = dict(line.split("=", 1) for line in out.split())
    return int(v["X"]), int(v["Y"]), int(v["WIDTH"]), int(v["HEIGHT"])


def wait_for(check, what: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_the_page_shows_the_desktop_and_a_human_takes_over(tmp_path, browser):
    with running_server(tmp_path / "server") as srv:
        # In the desktop's home: its apps run in a sandbox with a /tmp of its own.
        marker = desktop_home(srv) / "typed-in-the-browser"
        launched = mcp_call(srv, "app_launch", {"command": "xterm"})
        assert not launched.get("isError"), launched
        wx, wy, ww, wh = xterm_geometry(srv)
        page = new_page(browser)
        page.goto(f"{srv.base}/")
        assert page.url == f"{srv.base}/desktops/default/view"
        connected(page)

        # The canvas shows the desktop: what an MCP screenshot shows (the clock may tick).
        def same_as_mcp() -> bool:
            return differing_share(canvas_image(page), mcp_screenshot(srv)) < 0.01

        wait_for(same_as_mcp, "the page's canvas to match an MCP screenshot")

        # Watching: even a page made to send input (a hostile or buggy one) moves nothing and
        # types nothing (the agent focused the xterm, so typed keys would run a command).
        dropped = desktop_home(srv) / "typed-while-watching"
        focus = mcp_call(srv, "mouse_click", {"x": wx + ww // 2, "y": wy + wh // 2})
        assert not focus.get("isError"), focus
        assert not mcp_call(srv, "mouse_move", {"x": 900, "y": 500}).get("isError")
        page.evaluate("window.agentdesk.rfb.viewOnly = false")
        page.mouse.click(*page_point(page, 300, 600))
        page.keyboard.type(f"echo dropped > {dropped}\n")
        time.sleep(0.5)
        assert pointer_position(srv) == (900, 500)
        page.evaluate("window.agentdesk.rfb.viewOnly = true")

        # Take control: the agent is refused, the page's clicks and keys reach the desktop.
        page.click("#control")
        expect(page.locator("#state")).to_have_text(re.compile("You have control"))
        refused = mcp_call(srv, "mouse_click", {"x": 10, "y": 10})
        assert refused.get("isError") and "a human has taken control" in text_of(refused)
        cx, cy = wx + ww // 2, wy + wh // 2
        page.mouse.click(*page_point(page, cx, cy))
        px, py = wait_for(lambda: pointer_position(srv) != (900, 500) and pointer_position(srv),
                          "the page's click to move the pointer")
        assert abs(px - cx) <= 1 and abs(py - cy) <= 1, ((px, py), (cx, cy))
        page.keyboard.type(f"echo typed-in-the-browser > {marker}\n")
        wait_for(lambda: marker.exists() and marker.read_text().strip() == "typed-in-the-browser",
                 "the command typed in the page to run in the xterm")

        # A help request shows on the page; the human answers it and hands back in one click.
        asked = mcp_call(srv, "help_request", {"message": "please <i>solve</i> the captcha"})
        assert not asked.get("isError"), asked
        expect(page.locator("#help")).to_be_visible(timeout=WAIT_MS)
        # Shown as text, not markup.
        expect(page.locator("#help-message")).to_have_text("please <i>solve</i> the captcha")
        page.fill("#help-reply", "solved it, over to you")
        page.click("#help-done")
        expect(page.locator("#state")).to_have_text(re.compile("The agent is driving"))
        expect(page.locator("#help")).to_be_hidden()
        assert not dropped.exists(), "keys typed while only watching reached the xterm"
        result = mcp_call(srv, "help_status", {})
        status = json.loads(result["content"][0]["text"])
        assert status["state"] == "answered" and status["reply"] == "solved it, over to you"
        assert "handed it back" in text_of(result), result  # the agent's next result says so
        after = mcp_call(srv, "mouse_move", {"x": 640, "y": 400})
        assert not after.get("isError"), after
        assert not page.errors, page.errors  # type: ignore[attr-defined]
        page.context.close()
        # The bridge counted what it dropped while the page only watched.
        log = wait_for(lambda: "viewer left" in srv.log.read_text() and srv.log.read_text(),
                       "the bridge to log the viewer's departure")
        dropped = [int(n) for n in re.findall(r"dropped_input=(\d+)", log)]
        assert dropped and max(dropped) > 0, log


def test_the_page_follows_a_task_and_its_question(tmp_path, browser):
    """A task of the agent loop shows beside the desktop: its goal, each step as it comes
    (narration as text, the actions, the screen after it), its question for a person, which
    the page's help box answers, and its end."""
    import fake_models as F

    with F.FakeModels() as fake, running_server(tmp_path / "server") as srv:
        fake.script("claude-page", [
            F.claude(F.claude_text("Looking at <b>the</b> screen."), F.claude_use("screenshot")),
            F.claude(F.claude_tool("request_help", question="Which <i>file</i> name?")),
            F.claude(F.claude_text("Saved it."))])
        page = new_page(browser)
        page.goto(f"{srv.base}/desktops/default/view")
        connected(page)
        made = httpx2.post(f"{srv.base}/api/tasks", timeout=30, json={
            "goal": "Save a <file>.", "model": "anthropic:claude-page", "api_key": "k",
            "base_url": fake.url})
        assert made.status_code == 201, made.text
        expect(page.locator("#task")).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#task-goal")).to_have_text("Save a <file>.")
        expect(page.locator("#task-state")).to_have_text(
            "waiting for you: Which <i>file</i> name?", timeout=WAIT_MS)
        first = page.locator("#steps li").first
        expect(first).to_contain_text("Looking at <b>the</b> screen.")
        expect(first).to_contain_text("→ screenshot")
        wait_for(lambda: page.evaluate(
            "(() => { const i = document.querySelector('#steps img');"
            " return i && i.complete && i.naturalWidth > 0; })()"), "the step's thumbnail")
        # The question is the desktop's help request: the page's help box answers it.
        expect(page.locator("#help-message")).to_have_text("Which <i>file</i> name?")
        page.fill("#help-reply", "notes.txt")
        page.click("#help-done")
        expect(page.locator("#task-state")).to_have_text("completed: Saved it.",
                                                         timeout=WAIT_MS)
        expect(page.locator("#steps li")).to_have_count(3)
        expect(page.locator("#steps li").nth(1)).to_contain_text("notes.txt")
        answered = fake.requests("claude-page")[2].body["messages"][-1]["content"][0]
        assert "A person answered: notes.txt" in answered["content"][0]["text"]
        assert not page.errors, page.errors  # type: ignore[attr-defined]
        page.context.close()
        assert fake.errors == [], fake.errors


def test_a_token_login_sets_a_strict_http_only_cookie(tmp_path, browser):
    tokens = tmp_path / "tokens"
    tokens.write_text(f"alice: {ALICE}\n")
    tokens.chmod(0o600)
    with running_server(tmp_path / "server", "--token-file", str(tokens)) as srv:
        page = new_page(browser)
        page.goto(f"{srv.base}/")
        expect(page).to_have_url(re.compile(r"/login\?next="))
        page.fill("#token", "not-the-token-0123456789")
        page.click("button[type=submit]")
        expect(page.locator(".error")).to_contain_text("not valid")
        page.fill("#token", ALICE)
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{srv.base}/desktops/default/view")
        connected(page)  # the WebSocket passed the gate with the cookie alone
        assert ALICE not in page.url
        (cookie,) = page.context.cookies()
        assert cookie["name"] == f"agentdesk_session_{srv.port}" and ALICE not in cookie["value"]
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict", cookie
        assert page.evaluate("document.cookie") == ""  # out of reach of page script
        expect(page.locator("#logout")).to_be_visible()
        # Arriving from another site's link, the Strict cookie stays home: the login page
        # finds the session itself and goes on, without asking for the token again.
        other_site = page.context.new_page()
        other_site.route("http://elsewhere.example.com/", lambda route: route.fulfill(
            content_type="text/html",
            body=f'<a id="go" href="{srv.base}/desktops/default/view">watch the agent</a>'))
        other_site.goto("http://elsewhere.example.com/")
        other_site.click("#go")
        expect(other_site).to_have_url(f"{srv.base}/desktops/default/view", timeout=WAIT_MS)
        expect(other_site.locator("#connection")).to_have_text("connected", timeout=WAIT_MS)
        other_site.close()

        # The cookie opens the live view only: not MCP, and not from another site's page.
        jar = {"Cookie": f"{cookie['name']}={cookie['value']}"}
        control = f"{srv.base}/desktops/default/control"
        assert httpx2.get(control, timeout=10).status_code == 401
        assert httpx2.get(control, headers=jar, timeout=10).status_code == 200
        foreign = {**jar, "Origin": "http://evil.example.com"}
        take = httpx2.post(control, params={"viewer": "v", "action": "take"}, headers=foreign,
                           timeout=10)
        assert take.status_code == 403
        listed = httpx2.post(srv.url, headers={**jar, "Accept": "application/json"},
                             json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=10)
        assert listed.status_code == 401
        # A junk value set beside it (from another port of this host, say) locks nobody out.
        junk = {"Cookie": f"{cookie['name']}=junk; {cookie['name']}={cookie['value']}"}
        assert httpx2.get(control, headers=junk, timeout=10).status_code == 200
        # Login and logout refuse another site's page (login CSRF, forced logout).
        for path, data in (("/login", {"token": ALICE}), ("/logout", {})):
            forged = httpx2.post(f"{srv.base}{path}", data=data, headers={**jar, **foreign},
                                 timeout=10)
            assert forged.status_code == 403, path
        assert httpx2.get(control, headers=jar, timeout=10).status_code == 200
        # And a token in a login link is refused, not used.
        linked = httpx2.get(f"{srv.base}/login", params={"token": ALICE}, timeout=10)
        assert linked.status_code == 400 and "never accepted in URLs" in linked.text

        # Revoking the token ends its browser sessions: the page goes back to the login.
        tokens.write_text("bob: bob-browser-0123456789abcdef\n")
        expect(page).to_have_url(re.compile(r"/login\?next="), timeout=WAIT_MS)
        assert httpx2.get(control, headers=jar, timeout=10).status_code == 401

        # Logging out ends the session.
        tokens.write_text(f"alice: {ALICE}\n")
        page.fill("#token", ALICE)
        page.click("button[type=submit]")
        connected(page)
        page.click("#logout button")
        expect(page).to_have_url(re.compile(r"/login"))
        assert page.context.cookies() == []
        page.context.close()


def test_pages_refuse_framing_and_foreign_scripts(tmp_path):
    with running_server(tmp_path) as srv:
        view = httpx2.get(f"{srv.base}/desktops/default/view", timeout=10)
        assert view.status_code == 200
        csp = view.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert view.headers["x-frame-options"] == "DENY"
        assert httpx2.get(f"{srv.base}/desktops/nope/view", timeout=10).status_code == 404
        novnc = httpx2.get(f"{srv.base}/novnc/core/rfb.js", timeout=10)
        assert novnc.status_code == 200 and "javascript" in novnc.headers["content-type"]
        # Escapes that survive URL normalisation (httpx2 would resolve a plain "../").
        for path in ("/novnc/..%2F..%2F..%2Fcrates%2Fagentdesk-server%2Fassets%2Fview.js",
                     "/novnc/core%2F..%2F..%2F..%2F..%2Fweb%2Fpackage.json.js",
                     "/novnc/%2Fetc%2Fpasswd.js", "/novnc/package.json", "/assets/login.html",
                     "/assets/..%2F..%2FCargo.toml"):
            assert httpx2.get(f"{srv.base}{path}", timeout=10).status_code == 404, path


def test_without_novnc_the_page_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.delenv("AGENTDESK_NOVNC_DIR", raising=False)
    with running_server(tmp_path) as srv:
        view = httpx2.get(f"{srv.base}/desktops/default/view", timeout=10)
        if Path("/usr/share/novnc/core/rfb.js").exists():
            assert view.status_code == 200  # Debian's noVNC is used instead
        else:
            assert view.status_code == 503 and "scripts/setup.sh" in view.text
