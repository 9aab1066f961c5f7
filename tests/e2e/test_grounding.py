"""Grounding end to end, on a desktop of its own, through the official Python SDK: text found
by OCR and clicked in Firefox (also in a model space), a window brought to the front by name and
typed into, a long page scrolled until a token shows and the token selected, a label too small
for a screenshot read through screen_zoom, and the budgets on hostile input (thousands of
matches, a window that is gone). No coordinate is written into a test: every one comes from the
tools."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import connect, error_text, ok_text, only_text

DESKTOP = "grounding"

PAGES = {
    "/links": """<title>links</title><body style="font: 16px sans-serif; margin: 40px">
        <p>Reports of the year</p>
        <p><a href="/q1">Monthly summary March</a></p>
        <p><a href="/report">Quarterly report 2026</a></p>
        <p><a href="/q3">Annual overview</a></p></body>""",
    "/long": """<title>long page</title><body style="font: 16px sans-serif; margin: 40px">"""
    + "".join(f"<p>Filler paragraph number {i} of the long page.</p>" for i in range(120))
    + """<p>The code is <b>ZEBRA4217</b> here.</p></body>""",
    "/tiny": """<title>tiny</title><body style="margin: 40px; font-family: sans-serif">
        <p style="font-size: 20px">Big heading above</p>
        <p style="font-size: 6px">MINUTE LABEL 7731</p></body>""",
    "/many": """<title>many</title><body style="font: 12px monospace; margin: 4px">"""
    + " ".join(["ok"] * 4000) + "</body>",
    "/form": """<title>sign up</title><body style="font: 16px sans-serif; margin: 30px">
        <h1>Sign up</h1>
        <form action="/done"><p><label>Full name <input name="name"></label></p>
        <p><label>Email address <input name="email"></label></p>
        <p><label><input type="checkbox" name="news"> Newsletter</label></p>
        <p><button type="submit">Send form</button></p></form></body>""",
    "/bank": """<title>Bank</title><body><h1>The real bank</h1><a href="/pay">Pay</a></body>""",
    "/evil": """<title>Evil Bank</title><body><h1>Not the bank</h1><a href="/steal">Pay</a></body>""",
    "/exact": """<title>exact</title><body style="font: 13px sans-serif; margin: 40px">
        <div style="position: fixed; top: 0; left: 0; right: 0; height: 90px; z-index: 10;
                    background: #dde; font-size: 20px">Sticky header text</div>
        <p style="position: absolute; top: 30px; left: 60px">HIDDEN UNDER HEADER 4471</p>
        <p style="margin-top: 120px">Serial number 4471-B and <a href="/inline">the inline link</a>
        after it.</p></body>""",
    "/tricks": """<title>tricks</title><body style="font: 16px sans-serif; margin: 40px">
        <div style="position: relative; height: 30px"><span>GOLFUNDER</span>
          <div style="position: absolute; left: 0; top: 0; width: 400px; height: 30px;
                      background: #fff"></div></div>
        <p style="opacity: 0">ALPHAHIDDEN</p>
        <p>Visible <span style="font-size: 0">JULIETZERO</span> words</p>
        <div style="position: relative; height: 40px"><canvas id="c" width="300" height="40">
          </canvas><div style="position: absolute; left: 0; top: 0; color: transparent;
                               font-size: 28px">Cancel payment</div></div>
        <script>const g = document.getElementById("c").getContext("2d");
          g.font = "28px sans-serif"; g.fillText("SEND MONEY", 0, 30);</script></body>""",
    "/thief": """<title>thief</title><body><form action="/stolen"><input id="f" name="q">
        </form><script>setInterval(() => document.getElementById("f").focus(), 10);</script>
        </body>""",
    "/blurprompt": """<title>blurprompt</title><body><input autofocus><script>
        window.addEventListener("blur", () => {
          const v = prompt("Search");
          fetch("/leak?v=" + encodeURIComponent(v));
        });</script></body>""",
    "/buttons": """<title>buttons</title><body style="font: 10px sans-serif">"""
    + "".join(f"<button>b{i}</button>" for i in range(3000)) + "</body>",
}


class Site:
    """A local site the desktop's Firefox visits; every path asked for is recorded."""

    def __init__(self) -> None:
        self.visits: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                site.visits.append(self.path)
                body = PAGES.get(self.path, f"<title>{self.path}</title><h1>page {self.path}</h1>")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                # Every navigation reaches the site (tests wait for the visit).
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def site():
    s = Site()
    yield s
    s.server.shutdown()


@pytest.fixture(scope="module")
def desk(server, site):
    """A desktop of this module's own (its windows would get in other tests' way), with
    Firefox open; destroyed afterwards."""
    import asyncio

    async def create():
        async with connect(server.url) as mcp:
            made = await mcp.call_tool("desktop_create", {"id": DESKTOP})
            assert not made.is_error, made.content
        async with connect(endpoint(server)) as mcp:
            launched = await mcp.call_tool("app_launch",
                                           {"command": f"firefox-esr {site.url}/links"})
            ok_text(launched)

    async def destroy():
        async with connect(server.url) as mcp:
            await mcp.call_tool("desktop_destroy", {"id": DESKTOP})

    asyncio.run(create())
    deadline = time.monotonic() + 90
    while "/links" not in site.visits:
        assert time.monotonic() < deadline, "Firefox did not open the page"
        time.sleep(0.2)
    yield DESKTOP
    asyncio.run(destroy())


def endpoint(server, query: str = "") -> str:
    return f"{server.base}/desktops/{DESKTOP}/mcp{query}"


async def call(mcp, name: str, args: dict) -> dict:
    return json.loads(ok_text(await mcp.call_tool(name, args)))


async def find(mcp, text: str, timeout: float = 30.0, **args) -> dict:
    """screen_find_text until `text` is found; the answer with its matches."""
    deadline = time.monotonic() + timeout
    while True:
        found = await call(mcp, "screen_find_text", {"text": text, **args})
        if found["matches"]:
            return found
        assert time.monotonic() < deadline, f"{text!r} never found on screen: {found}"
        await _sleep(0.5)


async def _sleep(s: float) -> None:
    import asyncio

    await asyncio.sleep(s)


async def navigate(mcp, site, path: str) -> None:
    """Firefox to `path` (browser_navigate: the address bar, as an agent would type it), and
    the site's record of the visit."""
    seen = len(site.visits)
    page = await call(mcp, "browser_navigate", {"url": f"{site.url}{path}"})
    assert page["url"] == f"{site.url}{path}", page
    deadline = time.monotonic() + 30
    # A new visit: the page may have been visited before, and still be another.
    while path not in site.visits[seen:]:
        assert time.monotonic() < deadline, f"Firefox did not load {path}"
        await _sleep(0.1)


async def test_a_link_found_by_its_text_is_clicked_in_firefox(server, site, desk):
    async with connect(endpoint(server)) as mcp:
        await navigate(mcp, site, "/links")
        found = await find(mcp, "quarterly report 2026", source="ocr")
        assert found["coordinates"] == "screen pixels (1280x800)", found
        best = found["matches"][0]
        assert best["source"] == "ocr" and best["confidence"] > 50, best
        assert best["x"] <= best["center_x"] < best["x"] + best["width"], best
        clicked = await call(mcp, "mouse_click", {"x": best["center_x"], "y": best["center_y"]})
        assert clicked["screen_changed"], clicked
    deadline = time.monotonic() + 20
    while "/report" not in site.visits:
        assert time.monotonic() < deadline, f"the click did not follow the link: {site.visits}"
        time.sleep(0.1)


async def test_page_text_comes_in_the_pages_own_words_where_the_pixels_agree(server, site, desk):
    async with connect(endpoint(server)) as mcp:
        await navigate(mcp, site, "/exact")
        await find(mcp, "Sticky header text")
        read = await call(mcp, "screen_read_text", {})
        tree = [line for line in read["lines"] if line["source"] == "accessibility"]
        # In the page's own words (where OCR read nearly the same), the link's words in their
        # place in the line.
        assert any(line["text"] == "Serial number 4471-B and the inline link after it."
                   and line["confidence"] == 100 for line in tree), [
                       (x["source"], x["text"]) for x in read["lines"]]
        # The page's header is drawn over this paragraph: its text is not on screen.
        assert not any("HIDDEN" in line["text"] for line in read["lines"]), read["lines"]
        assert any(line["text"] == "Sticky header text" for line in tree), tree
        # The trees alone: what the apps say, the browser's icon buttons' names included.
        only_tree = await call(mcp, "screen_read_text", {"source": "accessibility"})
        assert all(line["source"] == "accessibility" for line in only_tree["lines"])
        assert any(line["text"] == "Reload" for line in only_tree["lines"]), only_tree
        link = (await find(mcp, "the inline link"))["matches"][0]
        assert link["source"] == "accessibility", link
        await mcp.call_tool("mouse_click", {"x": link["center_x"], "y": link["center_y"]})
    deadline = time.monotonic() + 20
    while "/inline" not in site.visits:
        assert time.monotonic() < deadline, f"the click missed the inline link: {site.visits}"
        time.sleep(0.1)


async def test_a_page_cannot_show_words_it_does_not_draw_nor_hide_words_it_does(server, site, desk):
    async with connect(endpoint(server)) as mcp:
        await navigate(mcp, site, "/tricks")
        await find(mcp, "SEND MONEY")
        read = await call(mcp, "screen_read_text", {})
        texts = " ".join(line["text"] for line in read["lines"])
        for hidden in ["GOLFUNDER", "ALPHAHIDDEN", "JULIETZERO", "Cancel payment"]:
            assert hidden not in texts, (hidden, texts)
        assert "SEND MONEY" in texts and "Visible words" in texts, texts
        for hidden in ["GOLFUNDER", "ALPHAHIDDEN", "Cancel payment"]:
            found = await call(mcp, "screen_find_text", {"text": hidden, "exact": True})
            assert not found["matches"], found


async def test_a_terminal_over_the_browser_is_read_from_its_font_and_hides_the_page(
        server, site, desk):
    line = "lrwxrwxrwx Il1|O0 rn-m x86_64-linux-gnu"
    async with connect(endpoint(server)) as mcp:
        await navigate(mcp, site, "/links")
        await find(mcp, "Annual overview")
        ok_text(await mcp.call_tool("app_launch", {
            "command": f"xterm -geometry 60x6+100+120 -e sh -c 'echo \"{line}\"; exec cat'"}))
        read = {}
        deadline = time.monotonic() + 30
        while not any(x["text"] == line for x in read.get("lines", [])):
            assert time.monotonic() < deadline, f"the terminal's line was not read: {read}"
            await _sleep(0.3)
            read = await call(mcp, "screen_read_text", {})
        exact = next(x for x in read["lines"] if x["text"] == line)
        assert exact["source"] == "font" and exact["confidence"] == 100, exact
        # Firefox is partly covered: none of its text is taken from its tree.
        assert not any(x["source"] == "accessibility" for x in read["lines"]), read["lines"]
        await call(mcp, "window_action", {"app": "xterm", "action": "close"})
        deadline = time.monotonic() + 15
        while (await call(mcp, "window_list", {"app": "xterm"}))["windows"]:
            assert time.monotonic() < deadline, "the terminal did not close"
            await _sleep(0.2)


async def test_coordinates_go_both_ways_through_the_model_space(server, site, desk):
    async with connect(endpoint(server, "?model_space=1000")) as mcp:
        await navigate(mcp, site, "/links")
        found = await find(mcp, "Annual overview")
        assert found["coordinates"].startswith("model space 0-1000"), found
        m = found["matches"][0]
        assert 0 <= m["center_x"] <= 1000 and 0 <= m["center_y"] <= 1000, m
        await mcp.call_tool("mouse_click", {"x": m["center_x"], "y": m["center_y"]})
        # Read back in the same space: a region given in it finds the same text again.
        region = {"x": max(m["x"] - 5, 0), "y": max(m["y"] - 5, 0),
                  "width": m["width"] + 10, "height": m["height"] + 10}
    deadline = time.monotonic() + 20
    while "/q3" not in site.visits:
        assert time.monotonic() < deadline, f"the model-space click missed: {site.visits}"
        time.sleep(0.1)
    async with connect(endpoint(server, "?model_space=1000")) as mcp:
        await navigate(mcp, site, "/links")
        again = await find(mcp, "annual", region=region)
        assert again["matches"], again


async def test_a_window_brought_to_the_front_by_name_takes_the_typing(server, desk):
    async with connect(endpoint(server)) as mcp:
        ok_text(await mcp.call_tool("app_launch", {"command": "mousepad"}))
        deadline = time.monotonic() + 30
        while not (await call(mcp, "window_list", {"app": "mousepad"}))["windows"]:
            assert time.monotonic() < deadline, "Mousepad's window did not appear"
            await _sleep(0.2)
        # Firefox on top again, then Mousepad brought forward by name, not by coordinates.
        await call(mcp, "window_action", {"app": "firefox-esr", "action": "focus"})
        done = await call(mcp, "window_action", {"app": "mousepad", "action": "focus"})
        assert done["window"]["focused"] and done["window"]["app"] == "Mousepad", done
        listed = await call(mcp, "window_list", {})
        assert listed["windows"][0]["app"] == "Mousepad", listed  # topmost first
        assert listed["windows"][0]["pid"] is None or listed["windows"][0]["pid"] > 1
        await mcp.call_tool("key_type", {"text": "typed after focus by name\n"})
        found = await find(mcp, "typed after focus by name")
        m = found["matches"][0]
        w = done["window"]
        assert w["x"] <= m["center_x"] < w["x"] + w["width"], (m, w)

        # Move and resize, then the state afterwards says so.
        moved = await call(mcp, "window_action",
                           {"window": w["id"], "action": "move", "x": 300, "y": 200})
        assert (moved["window"]["x"], moved["window"]["y"]) == (300, 200), moved
        maxed = await call(mcp, "window_action", {"window": w["id"], "action": "maximize"})
        assert maxed["window"]["maximized"], maxed
        back = await call(mcp, "window_action", {"window": w["id"], "action": "restore"})
        assert not back["window"]["maximized"], back
        small = await call(mcp, "window_action", {"window": w["id"], "action": "minimize"})
        assert small["window"]["minimized"], small

        # Closed (Mousepad asks whether to save: say no), then its id is a clear error.
        await call(mcp, "window_action", {"window": w["id"], "action": "close"})
        dont = await find(mcp, "Don't Save", timeout=15, exact=True)
        m = dont["matches"][0]
        await mcp.call_tool("mouse_click", {"x": m["center_x"], "y": m["center_y"]})
        deadline = time.monotonic() + 15
        while any(x["id"] == w["id"] for x in (await call(mcp, "window_list", {}))["windows"]):
            assert time.monotonic() < deadline, "Mousepad's window did not close"
            await _sleep(0.2)
        gone = error_text(await mcp.call_tool("window_action",
                                              {"window": w["id"], "action": "focus"}))
        assert f"no window {w['id']}" in gone and "window_list" in gone, gone
        nothing = error_text(await mcp.call_tool("window_action",
                                                 {"title": "no such title", "action": "focus"}))
        assert "no window matches" in nothing and "Firefox" in nothing, nothing


async def test_a_long_page_is_scrolled_until_the_token_shows_and_it_is_selected(server, site, desk):
    async with connect(endpoint(server)) as mcp:
        await navigate(mcp, site, "/long")
        await find(mcp, "Filler paragraph number 0")
        for _ in range(60):
            found = await call(mcp, "screen_find_text", {"text": "ZEBRA4217"})
            if found["matches"]:
                break
            page = await call(mcp, "screen_find_text", {"text": "Filler paragraph"})
            anchor = page["matches"][0]
            await mcp.call_tool("mouse_scroll", {"x": anchor["center_x"], "y": anchor["center_y"],
                                                 "direction": "down", "amount": 5})
        else:
            pytest.fail("the token never came into view")
        m = found["matches"][0]
        await mcp.call_tool("mouse_double_click", {"x": m["center_x"], "y": m["center_y"]})
        await mcp.call_tool("key_press", {"keys": "ctrl+c"})
        copied = await mcp.call_tool("clipboard_get", {})
        assert ok_text(copied).strip().strip('"') == "ZEBRA4217", copied


def tesseract(png: bytes, tmp: Path) -> str:
    path = tmp / "image.png"
    path.write_bytes(png)
    return subprocess.run(["tesseract", str(path), "-", "--psm", "11"], capture_output=True,
                          text=True, timeout=60).stdout


async def test_zoom_reads_a_label_too_small_for_the_screenshot(server, site, desk, tmp_path):
    async with connect(endpoint(server)) as mcp:
        await navigate(mcp, site, "/tiny")
        heading = (await find(mcp, "Big heading above"))["matches"][0]
        # The label is below the heading: the region is found from the heading, not guessed.
        region = {"x": max(heading["x"] - 10, 0), "y": heading["y"] + heading["height"],
                  "width": 200, "height": 40}
        plain = await mcp.call_tool("screen_shot", {"region": region, "format": "png"})
        zoomed = await mcp.call_tool("screen_zoom", {"region": region, "scale": 4,
                                                     "format": "png"})
        assert not zoomed.is_error, zoomed.content
        image = next(b for b in zoomed.content if b.type == "image")
        note = next(b for b in zoomed.content if b.type == "text").text
        assert "enlarged 4 times to 800x160" in note, note
        small = base64.b64decode(plain.content[0].data)
        big = base64.b64decode(image.data)
    assert "7731" not in tesseract(small, tmp_path)
    assert "7731" in tesseract(big, tmp_path)


async def test_budgets_hold_on_thousands_of_matches_and_bad_input(server, site, desk):
    async with connect(endpoint(server)) as mcp:
        await navigate(mcp, site, "/many")
        await find(mcp, "ok ok ok")
        started = time.monotonic()
        many = await call(mcp, "screen_find_text", {"text": "ok", "limit": 100})
        assert len(many["matches"]) == 100 and many["total"] > 500, many["total"]
        lines = await call(mcp, "screen_read_text", {"max_lines": 3})
        assert len(lines["lines"]) == 3 and lines["more_lines"] > 10, lines["more_lines"]
        assert time.monotonic() - started < 60
        for args, expected in [
            ({"text": ""}, "1 to 200 characters"),
            ({"text": "x" * 201}, "1 to 200 characters"),
            ({"text": "ok", "limit": 0}, "limit must be 1 to 100"),
            ({"text": "ok", "region": {"x": 0, "y": 0, "width": 5000, "height": 10}},
             "does not fit the screen"),
        ]:
            message = error_text(await mcp.call_tool("screen_find_text", args))
            assert expected in message, (args, message)
        too_big = error_text(await mcp.call_tool(
            "screen_zoom", {"region": {"x": 0, "y": 0, "width": 1280, "height": 800},
                            "scale": 8}))
        assert "pass a region of at most" in too_big, too_big
        for args, expected in [
            ({"action": "focus"}, "name the window"),
            ({"action": "move", "app": "firefox-esr"}, "move needs `x`"),
            ({"action": "focus", "window": -5}, "no window -5"),
            ({"action": "focus", "window": 4294967295}, "no window 4294967295"),
        ]:
            message = error_text(await mcp.call_tool("window_action", args))
            assert expected in message, (args, message)


async def test_galculator_computes_7_times_6_through_the_accessibility_tree(server, desk):
    async with connect(endpoint(server)) as mcp:
        ok_text(await mcp.call_tool("app_launch", {"command": "galculator"}))
        deadline = time.monotonic() + 30
        while True:
            tree = only_text(await mcp.call_tool("ui_tree", {"app": "galculator"}))
            if 'push button "7"' in tree or 'toggle button "7"' in tree:
                break
            assert time.monotonic() < deadline, f"galculator's buttons never showed:\n{tree}"
            await _sleep(0.3)
        lines = tree.splitlines()
        assert lines[0] == "coordinates: screen pixels (1280x800)", lines[0]
        assert len(lines) <= 300, len(lines)
        for label in ["7", "*", "6", "="]:
            found = await call(mcp, "ui_find", {"name": label, "app": "galculator"})
            node = next(n for n in found["nodes"] if n["name"] == label and "button" in n["role"])
            done = await call(mcp, "ui_action", {"id": node["id"], "action": "click"})
            assert "accessibility action" in done["action"] or "pointer click" in done["action"]
        display = await call(mcp, "ui_find", {"role": "text", "app": "galculator"})
        assert display["nodes"][0]["name"] == "42", display
        # A node that is gone, and ids that never were, are clear errors.
        ok_text(await mcp.call_tool("window_action", {"app": "galculator", "action": "close"}))
        deadline = time.monotonic() + 15
        while (await call(mcp, "window_list", {"app": "galculator"}))["windows"]:
            assert time.monotonic() < deadline
            await _sleep(0.2)
        gone = error_text(await mcp.call_tool("ui_action", {"id": node["id"], "action": "click"}))
        assert "no node" in gone and "ui_tree" in gone, gone
        for bad in ["", "root", "1.2/../3", "x" * 500, "1.2/3/4"]:
            message = error_text(await mcp.call_tool("ui_action", {"id": bad, "action": "click"}))
            assert "not a node id" in message, (bad, message)


async def test_a_form_is_filled_through_the_page_map(server, site, desk):
    async with connect(endpoint(server, "?model_space=1000")) as mcp:
        page = await call(mcp, "browser_navigate", {"url": f"{site.url}/form"})
        assert page["url"] == f"{site.url}/form", page
        assert page["coordinates"].startswith("model space 0-1000"), page
        by_label = {e["label"]: e for e in page["elements"]}
        assert "Sign up" in by_label, page
        assert by_label["Sign up"]["role"] == "heading", page
        for label, value in [("Full name", "Ada Lovelace"), ("Email address", "ada@example.org")]:
            field = by_label[label]
            assert field["role"] == "entry", field
            done = await call(mcp, "ui_action", {"id": field["id"], "action": "set_text",
                                                 "text": value})
            assert "typed over" in done["action"], done
            # It returned once the field held the text (keys still queued for the page would
            # otherwise follow the next field's focus).
            assert "did not read back" not in done["action"], done
        box = by_label["Newsletter"]
        assert box["role"] == "check box", box
        await mcp.call_tool("mouse_click", {"x": box["center_x"], "y": box["center_y"]})
        again = await call(mcp, "browser_page_map", {})
        assert "checked" in {e["label"]: e for e in again["elements"]}["Newsletter"].get(
            "states", ""), again
        send = by_label["Send form"]
        await mcp.call_tool("mouse_click", {"x": send["center_x"], "y": send["center_y"]})
    deadline = time.monotonic() + 20
    while not any(v.startswith("/done?") for v in site.visits):
        assert time.monotonic() < deadline, f"the form was not sent: {site.visits}"
        time.sleep(0.1)
    sent = next(v for v in site.visits if v.startswith("/done?"))
    assert sent == "/done?name=Ada+Lovelace&email=ada%40example.org&news=on", sent


async def test_a_huge_tree_stays_within_its_budget(server, site, desk):
    async with connect(endpoint(server)) as mcp:
        page = await call(mcp, "browser_navigate", {"url": f"{site.url}/buttons"})
        assert page["url"].endswith("/buttons"), page
        started = time.monotonic()
        tree = only_text(await mcp.call_tool("ui_tree", {"max_nodes": 200}))
        assert len(tree.splitlines()) <= 202 and "cut short" in tree, tree[-300:]
        found = await call(mcp, "ui_find", {"role": "push button", "name": "b", "limit": 100})
        assert len(found["nodes"]) == 100 and found["total"] > 100, found["total"]
        mapped = await call(mcp, "browser_page_map", {})
        assert 0 < len(mapped["elements"]) <= 500, len(mapped["elements"])
        assert time.monotonic() - started < 60
        for args, expected in [({"max_nodes": 0}, "max_nodes must be 1 to 2000"),
                               ({"max_depth": 65}, "max_depth must be 1 to 64")]:
            assert expected in error_text(await mcp.call_tool("ui_tree", args))
        assert "give `role`, `name`" in error_text(await mcp.call_tool("ui_find", {}))


async def test_a_window_that_vanishes_mid_call_is_an_answer_not_a_hang(server, desk):
    import asyncio

    async with connect(endpoint(server)) as mcp:
        ok_text(await mcp.call_tool("app_launch", {"command": "xterm"}))
        deadline = time.monotonic() + 20
        while not (xterms := (await call(mcp, "window_list", {"app": "xterm"}))["windows"]):
            assert time.monotonic() < deadline
            await _sleep(0.2)
        wid = xterms[0]["id"]
        results = await asyncio.gather(
            mcp.call_tool("window_action", {"window": wid, "action": "close"}),
            mcp.call_tool("window_action", {"window": wid, "action": "maximize"}),
            mcp.call_tool("window_action", {"window": wid, "action": "move", "x": 10, "y": 10}),
        )
        for r in results:
            text = only_text(r)
            assert not r.is_error or f"no window {wid}" in text, text


async def test_the_page_map_describes_the_window_on_top_not_one_whose_title_contains_its(
        server, site, desk):
    async with connect(endpoint(server)) as mcp:
        await navigate(mcp, site, "/evil")
        ok_text(await mcp.call_tool("app_launch",
                                    {"command": f"firefox-esr --new-window {site.url}/bank"}))
        deadline = time.monotonic() + 30
        while True:
            windows = (await call(mcp, "window_list", {"app": "firefox-esr"}))["windows"]
            bank = [w for w in windows if w["title"].startswith("Bank")]
            if bank:
                break
            assert time.monotonic() < deadline, windows
            await _sleep(0.3)
        await call(mcp, "window_action", {"window": bank[0]["id"], "action": "focus"})
        deadline = time.monotonic() + 20
        while True:
            mapped = await call(mcp, "browser_page_map", {})
            if mapped["url"].endswith("/bank"):
                break
            assert time.monotonic() < deadline, f"the map is of another window: {mapped}"
            await _sleep(0.3)
        assert {e["label"] for e in mapped["elements"]} >= {"The real bank", "Pay"}, mapped
        ok_text(await mcp.call_tool("window_action", {"window": bank[0]["id"],
                                                      "action": "close"}))


async def test_set_text_that_cannot_be_typed_touches_nothing(server, site, desk):
    async with connect(endpoint(server)) as mcp:
        page = await call(mcp, "browser_navigate", {"url": f"{site.url}/form"})
        field = {e["label"]: e for e in page["elements"]}["Full name"]
        # A secret typed this way stays out of the audit log, like key_type's.
        await call(mcp, "ui_action", {"id": field["id"], "action": "set_text",
                                      "text": "Hunter2Secret", "secret": True})
        audit = server.data_dir / "desktops" / DESKTOP / "audit.jsonl"
        assert "ui_action" in audit.read_text() and "Hunter2Secret" not in audit.read_text()
        await call(mcp, "ui_action", {"id": field["id"], "action": "set_text", "text": "Keep me"})
        refused = error_text(await mcp.call_tool(
            "ui_action", {"id": field["id"], "action": "set_text", "text": "bad\u0001char"}))
        assert "control character" in refused, refused
        # Typing now adds to the field: its text was not left selected.
        await mcp.call_tool("key_type", {"text": "!"})
        found = await find(mcp, "Keep me")
        assert found["matches"], found


async def test_zoom_speaks_the_callers_coordinates(server, desk):
    async with connect(endpoint(server, "?model_space=1000")) as mcp:
        too_big = error_text(await mcp.call_tool(
            "screen_zoom", {"region": {"x": 0, "y": 0, "width": 500, "height": 500}, "scale": 8}))
        assert "at most 250x250 (in your coordinates)" in too_big, too_big
        done = await mcp.call_tool("screen_zoom",
                                   {"region": {"x": 0, "y": 0, "width": 250, "height": 250},
                                    "scale": 8})
        note = next(b for b in done.content if b.type == "text").text
        assert "250x250 in your coordinates (320x200 screen pixels)" in note, note


HOSTILE_BUS = r"""
import os, socket, sys, time
rt = os.environ["XDG_RUNTIME_DIR"]
os.rename(rt + "/bus", rt + "/bus.real")
if sys.argv[1] == "link":
    os.symlink(sys.argv[2], rt + "/bus")
else:
    s = socket.socket(socket.AF_UNIX); s.bind(rt + "/bus"); s.listen(0)
    held = []
    while True:
        c = socket.socket(socket.AF_UNIX); c.setblocking(False)
        try:
            c.connect(rt + "/bus"); held.append(c)
        except (BlockingIOError, OSError):
            break
open(os.environ["HOME"] + "/hostile-ready", "w").close()
time.sleep(600)
"""


def test_an_app_that_replaces_the_session_bus_gets_an_error_not_a_hang(server, tmp_path):
    """An app in the sandbox puts a socket that never accepts (a full listen queue) in the
    session bus's place, or a link to a socket of the host's: the accessibility tools say the
    bus is not available, within their time, the host's socket is never connected to, and the
    server goes on serving."""
    import socket as sock

    from test_fleet import call as bare_call, result, text

    host = tmp_path / "host.sock"
    listener = sock.socket(sock.AF_UNIX)
    listener.bind(str(host))
    listener.listen(8)
    listener.setblocking(False)
    for case, argument in [("queue", ""), ("link", str(host))]:
        desktop = f"hostile-bus-{case}"
        made = result(bare_call(server, "desktop_create", {"id": desktop}))
        assert not made.get("isError"), text(made)
        try:
            home = server.data_dir / "desktops" / desktop / "home"
            (home / "hostile.py").write_text(HOSTILE_BUS)
            launched = result(bare_call(server, "app_launch", {
                "command": f"xterm -e python3 {home}/hostile.py {case} {argument}".strip()},
                desktop=desktop))
            assert not launched.get("isError"), text(launched)
            deadline = time.monotonic() + 30
            while not (home / "hostile-ready").exists():
                assert time.monotonic() < deadline, "the hostile app did not start"
                time.sleep(0.2)
            started = time.monotonic()
            answer = result(bare_call(server, "ui_tree", {}, desktop=desktop))
            assert answer.get("isError") is True, text(answer)
            assert "accessibility bus is not available" in text(answer), text(answer)
            assert "process" not in text(answer), text(answer)
            assert time.monotonic() - started < 10
            # The server still serves, this desktop and the others.
            assert not result(bare_call(server, "window_list", {}, desktop=desktop)).get("isError")
            assert not result(bare_call(server, "window_list", {})).get("isError")
            try:
                listener.accept()
                raise AssertionError("agentdesk connected to the host's socket")
            except BlockingIOError:
                pass
        finally:
            bare_call(server, "desktop_destroy", {"id": desktop})
    listener.close()


async def test_a_page_stealing_the_focus_never_gets_the_address(server, site, desk):
    """A page that keeps putting the focus in its own field (a script, every 10 ms): the
    address typed for the next page must not end up in that field and be submitted there.
    browser_navigate either opens the page or says the focus was taken; it never submits."""
    async with connect(endpoint(server)) as mcp:
        page = await call(mcp, "browser_navigate", {"url": f"{site.url}/thief"})
        assert page["url"] == f"{site.url}/thief", page
        for _ in range(3):
            reply = await mcp.call_tool("browser_navigate", {"url": f"{site.url}/after"})
            if reply.is_error:
                assert "focus" in error_text(reply), error_text(reply)
            else:
                assert json.loads(ok_text(reply))["url"] == f"{site.url}/after"
                break
    time.sleep(1)
    assert not [v for v in site.visits if v.startswith("/stolen")], site.visits


async def test_a_dialog_the_page_opens_never_gets_the_address(server, site, desk):
    """A page that opens prompt() the moment it loses the focus (which ctrl+l does): the
    dialog's field is the page's, not the address bar, so nothing is typed into it; and the
    agent is told the page did not change. (Last in the module: the dialog stays open.)"""
    async with connect(endpoint(server)) as mcp:
        page = await call(mcp, "browser_navigate", {"url": f"{site.url}/blurprompt"})
        assert page["url"] == f"{site.url}/blurprompt", page
        time.sleep(1)
        reply = await mcp.call_tool("browser_navigate", {"url": f"{site.url}/after?secret=S3"})
        assert reply.is_error, ok_text(reply)
        message = error_text(reply)
        assert "focus" in message or "still shows" in message, message
    time.sleep(1)
    assert not [v for v in site.visits if "S3" in v], site.visits
