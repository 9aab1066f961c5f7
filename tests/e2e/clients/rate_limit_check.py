#!/usr/bin/env python3
"""Rate limiting must not break an MCP client session (official Python SDK, 1.x or 2.x).

Connects to an MCP server over Streamable HTTP, fires a burst of concurrent `tools/call`s,
and checks that every call *returned*: the ones over the rate limit as a tool error
(`isError: true`, text starting with "rate limited"), none raised, and the session survived.
Then it waits as long as the refusals said and makes one more call, which must succeed.

    python rate_limit_check.py URL [--token TOKEN] [--calls 60] [--mode auto|legacy]
                               [--tool mouse_move] [--arguments '{"x": 1, "y": 1}']

Works with `mcp` 2.x (mcp.Client, httpx2; --mode picks the protocol era) and 1.x
(mcp.ClientSession, httpx; always the initialize handshake, --mode is ignored).
Prints one JSON line (the summary) on stdout; exits 0 on success, 1 on a failed check,
2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from importlib.metadata import version as dist_version
from typing import Any

RATE_LIMITED_PREFIX = "rate limited"
RETRY_MS = re.compile(r"retry in (\d+) ms")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", help="the MCP endpoint, e.g. http://127.0.0.1:3000/mcp")
    p.add_argument("--token", help="bearer token (sent as Authorization: Bearer ...)")
    p.add_argument("--calls", type=int, default=60, help="tool calls in the burst (default 60)")
    p.add_argument("--mode", choices=["auto", "legacy"], default="auto",
                   help="mcp 2.x only: 'auto' negotiates 2026-07-28 where offered, 'legacy' uses initialize")
    p.add_argument("--tool", default="mouse_move", help="a cheap tool to call (default mouse_move)")
    p.add_argument("--arguments", default='{"x": 1, "y": 1}', help="its arguments, as JSON")
    p.add_argument("--min-limited", type=int, default=1,
                   help="at least this many calls must come back rate limited (default 1)")
    p.add_argument("--timeout", type=float, default=180.0, help="overall time limit in seconds")
    args = p.parse_args()
    try:
        args.arguments = json.loads(args.arguments)
    except ValueError as e:
        p.error(f"--arguments is not JSON: {e}")
    if args.calls < 1:
        p.error("--calls must be at least 1")
    return args


def texts(result: Any) -> list[str]:
    return [block.text for block in result.content if getattr(block, "type", None) == "text"]


def is_error(result: Any) -> bool:
    # mcp 2.x names it is_error; 1.x isError.
    return bool(getattr(result, "is_error", getattr(result, "isError", False)))


def describe(e: BaseException) -> str:
    """The innermost exception(s) of a (possibly nested) exception group, as text."""
    if isinstance(e, BaseExceptionGroup):
        return "; ".join(dict.fromkeys(describe(x) for x in e.exceptions))  # distinct, in order
    return f"{type(e).__name__}: {e}".replace("\n", " ")[:400]


async def burst(call, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    """The burst, the wait and the final call on an open session; fills `summary`."""
    outcomes = await asyncio.gather(*(call() for _ in range(args.calls)), return_exceptions=True)
    retry_ms = 0
    samples: dict[str, str] = {}
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            summary["raised"] += 1
            samples.setdefault("raised", describe(outcome))
            continue
        text = " ".join(texts(outcome))
        if not is_error(outcome):
            summary["ok"] += 1
        elif text.startswith(RATE_LIMITED_PREFIX):
            summary["rate_limited"] += 1
            samples.setdefault("rate_limited", text)
            if m := RETRY_MS.search(text):
                retry_ms = max(retry_ms, int(m.group(1)))
        else:
            summary["other_tool_errors"] += 1
            samples.setdefault("other_tool_error", text[:400])
    summary["samples"] = samples
    # Wait as long as the refusals asked (plus a margin), at least 1 s and at most 60 s.
    wait = min(max(retry_ms / 1000 + 0.25, 1.0), 60.0)
    summary["waited_s"] = round(wait, 2)
    await asyncio.sleep(wait)
    try:
        final = await call()
    except Exception as e:  # noqa: BLE001 - reported, not swallowed
        summary["final_call"] = f"raised {describe(e)}"
        return
    summary["final_call"] = "ok" if not is_error(final) else f"tool error: {' '.join(texts(final))[:400]}"


async def run_v2(args: argparse.Namespace, headers: dict[str, str], summary: dict[str, Any]) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=120.0)) as http:
        transport = streamable_http_client(args.url, http_client=http)
        async with Client(transport, mode=args.mode, read_timeout_seconds=120.0) as client:
            summary["protocol"] = client.protocol_version
            await client.list_tools()  # lets the SDK learn the tool's schemas, as a real client would
            await burst(lambda: client.call_tool(args.tool, args.arguments), args, summary)


async def run_v1(args: argparse.Namespace, headers: dict[str, str], summary: dict[str, Any]) -> None:
    import httpx
    from mcp import ClientSession
    from mcp.client import streamable_http as sh

    async def session_for(streams) -> None:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            summary["protocol"] = init.protocolVersion
            await session.list_tools()
            await burst(lambda: session.call_tool(args.tool, args.arguments), args, summary)

    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30.0, read=120.0)) as http:
        async with sh.streamable_http_client(args.url, http_client=http) as streams:
            await session_for(streams)


def main() -> int:
    args = parse_args()
    sdk = dist_version("mcp")
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    summary: dict[str, Any] = {
        "sdk": f"python mcp {sdk}",
        "mode": args.mode if sdk.startswith("2.") else "legacy",
        "protocol": None,
        "calls": args.calls,
        "ok": 0,
        "rate_limited": 0,
        "other_tool_errors": 0,
        "raised": 0,
        "final_call": None,
        "session_error": None,
    }
    runner = run_v2 if not sdk.startswith("1.") else run_v1
    try:
        asyncio.run(asyncio.wait_for(runner(args, headers, summary), args.timeout))
    except (asyncio.TimeoutError, TimeoutError):
        summary["session_error"] = f"timed out after {args.timeout:g} s"
    except BaseException as e:  # noqa: BLE001 - the SDK's task groups raise exception groups
        if isinstance(e, KeyboardInterrupt):
            raise
        summary["session_error"] = describe(e)

    problems = []
    if summary["session_error"]:
        problems.append(f"the session died: {summary['session_error']}")
    if summary["raised"]:
        problems.append(f"{summary['raised']} call(s) raised instead of returning a tool result: "
                        f"{summary.get('samples', {}).get('raised')}")
    if summary["other_tool_errors"]:
        problems.append(f"{summary['other_tool_errors']} call(s) returned an unexpected tool error: "
                        f"{summary.get('samples', {}).get('other_tool_error')}")
    if not summary["session_error"] and not summary["raised"] and summary["rate_limited"] < args.min_limited:
        problems.append(f"only {summary['rate_limited']} call(s) were rate limited (wanted at least "
                        f"{args.min_limited}): send more --calls or lower the server's rate limit")
    if not summary["session_error"] and summary["final_call"] != "ok":
        problems.append(f"the call after waiting did not succeed: {summary['final_call']}")
    summary["passed"] = not problems
    print(json.dumps(summary, sort_keys=False), flush=True)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
