"""A scripted model server for tests without a network: it speaks Anthropic's Messages API,
OpenAI's Responses and Chat Completions APIs, and Gemini's generateContent, on 127.0.0.1.

Every request is checked against the vendor SDK's own type of it (`anthropic`, `openai`):
fields it does not know, or values of the wrong shape, are recorded in `errors` and answered
400, so a test that ends with `errors == []` shows the requests were the real thing. Every
reply is built from the SDK's own response model (validated before it is sent), so what the
server under test reads is the real shape too.

A test scripts, per model name, the replies the model gives, in order: each a dict, or a
function of the request's body returning one (to look at what the model was sent).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from pydantic import BaseModel, TypeAdapter

import anthropic.types as A
from anthropic.types import message_create_params
from google.genai import types as G
from openai.types.chat import ChatCompletion, completion_create_params
from openai.types.responses import Response, response_create_params

@dataclass
class Error:
    """A turn answered with an HTTP error and the provider's `{"error": {"message"}}`."""
    status: int
    message: str


Turn = dict | Error | Callable[[dict], dict]

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):04d}"


# ------------------------------------------------------------------- strict request checks

def _drain(value: Any) -> Any:
    """A validated value with its lazy parts (pydantic validates `Iterable` fields only as they
    are read) read, so every nested value is checked."""
    if isinstance(value, dict):
        return {k: _drain(v) for k, v in value.items()}
    if isinstance(value, BaseModel):
        return _drain(value.model_dump(exclude_unset=True))
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ValidatorIterator":
        return [_drain(v) for v in value]
    return value


def _extras(sent: Any, kept: Any, path: str = "") -> list[str]:
    """Keys in `sent` that validation dropped: fields the type does not have."""
    found = []
    if isinstance(sent, dict) and isinstance(kept, dict):
        for key, value in sent.items():
            if key not in kept:
                found.append(f"{path}.{key}")
            else:
                found += _extras(value, kept[key], f"{path}.{key}")
    elif isinstance(sent, list) and isinstance(kept, list):
        for i, (a, b) in enumerate(zip(sent, kept)):
            found += _extras(a, b, f"{path}[{i}]")
    return found


def check(adapter: TypeAdapter, body: dict) -> None:
    """Raises if `body` is not of the type, or has fields the type does not."""
    kept = _drain(adapter.validate_python(body))
    extra = _extras(body, kept)
    if extra:
        raise ValueError(f"fields the SDK's type does not have: {extra}")


MESSAGES = TypeAdapter(message_create_params.MessageCreateParamsNonStreaming)
RESPONSES = TypeAdapter(response_create_params.ResponseCreateParamsNonStreaming)
CHAT = TypeAdapter(completion_create_params.CompletionCreateParamsNonStreaming)


# ------------------------------------------------------------------------ reply builders

def claude(*blocks: dict, stop: str | None = None, usage: tuple[int, int] = (1000, 50),
           model: str = "claude-test") -> dict:
    """A Messages API response: `stop_reason` is `tool_use` if a block is one."""
    if stop is None:
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    reply = {"id": _id("msg"), "type": "message", "role": "assistant", "model": model,
             "content": list(blocks), "stop_reason": stop, "stop_sequence": None,
             "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}}
    return A.Message.model_validate(reply).model_dump(mode="json", exclude_none=True)


def claude_text(text: str) -> dict:
    return {"type": "text", "text": text}


def claude_use(name: str, **input: Any) -> dict:
    """A computer toolset member's call."""
    return {"type": "tool_use", "id": _id("toolu"), "name": name, "toolset_name": "computer",
            "input": input, "caller": {"type": "direct"}}


def claude_tool(name: str, **input: Any) -> dict:
    """A custom tool's call (`request_help`)."""
    return {"type": "tool_use", "id": _id("toolu"), "name": name, "input": input}


def responses(*items: dict, usage: tuple[int, int] = (1000, 50), model: str = "gpt-test",
              status: str = "completed") -> dict:
    """A Responses API response."""
    reply = {"id": _id("resp"), "object": "response", "created_at": int(time.time()),
             "model": model, "status": status, "output": list(items),
             "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
             "usage": {"input_tokens": usage[0], "output_tokens": usage[1],
                       "total_tokens": sum(usage),
                       "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                       "output_tokens_details": {"reasoning_tokens": 0}}}
    return Response.model_validate(reply).model_dump(mode="json", exclude_none=True)


def gpt_text(text: str) -> dict:
    return {"type": "message", "id": _id("msg"), "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def gpt_computer(*actions: dict, checks: list[dict] | None = None) -> dict:
    return {"type": "computer_call", "id": _id("cu"), "call_id": _id("call"),
            "actions": list(actions), "pending_safety_checks": checks or [],
            "status": "completed"}


def gpt_function(name: str, **arguments: Any) -> dict:
    return {"type": "function_call", "id": _id("fc"), "call_id": _id("call"), "name": name,
            "arguments": json.dumps(arguments), "status": "completed"}


def chat(content: str | None = None, calls: list[tuple[str, dict]] = (),
         usage: tuple[int, int] = (1000, 50), model: str = "qwen-test") -> dict:
    """A Chat Completions response: text, and function calls `(name, arguments)`."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": _id("call"), "type": "function",
             "function": {"name": name, "arguments": json.dumps(args)}}
            for name, args in calls]
    reply = {"id": _id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
             "model": model,
             "choices": [{"index": 0, "message": message,
                          "finish_reason": "tool_calls" if calls else "stop"}],
             "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                       "total_tokens": sum(usage)}}
    return ChatCompletion.model_validate(reply).model_dump(mode="json", exclude_none=True)


def gemini(*parts: dict) -> dict:
    """A generateContent response (REST: camelCase)."""
    reply = {"candidates": [{"content": {"role": "model", "parts": list(parts)},
                             "finishReason": "STOP"}],
             "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 50}}
    G.GenerateContentResponse.model_validate(reply)
    return reply


# ----------------------------------------------------------------------------- the server

@dataclass
class Seen:
    """A request the fake answered."""
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class FakeModels:
    """The server; `url` is its base (the SDKs' base URL is `url` for Anthropic and Gemini,
    `url + "/v1"` for OpenAI)."""
    url: str = ""
    scripts: dict[str, list[Turn]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    seen: dict[str, list[Seen]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, model: str, turns: list[Turn], delay: float = 0.0) -> None:
        """The replies of `model`, in order; each after `delay` seconds."""
        with self.lock:
            self.scripts[model] = list(turns)
            self.delays[model] = delay
            self.seen[model] = []

    def requests(self, model: str) -> list[Seen]:
        with self.lock:
            return list(self.seen.get(model, []))

    def answer(self, path: str, headers: dict[str, str], body: dict) -> tuple[int, dict]:
        if path == "/v1/messages":
            adapter, model = MESSAGES, body.get("model")
        elif path == "/v1/responses":
            adapter, model = RESPONSES, body.get("model")
        elif path == "/v1/chat/completions":
            adapter, model = CHAT, body.get("model")
        elif re.fullmatch(r"/v1(beta)?/models/[^/:]+:generateContent", path):
            adapter, model = None, path.rsplit("/", 1)[1].split(":")[0]
        else:
            return 404, {"error": {"message": f"no API at {path}"}}
        if adapter is not None:
            try:
                check(adapter, body)
            except Exception as e:  # noqa: BLE001 (any validation failure is the finding)
                with self.lock:
                    self.errors.append(f"{path}: {e}")
                return 400, {"error": {"type": "invalid_request_error", "message": str(e)}}
        with self.lock:
            turns = self.scripts.get(model)
            if turns is None:
                return 404, {"error": {"message": f"no script for model {model!r}"}}
            self.seen[model].append(Seen(path, headers, body))
            turn = turns.pop(0) if turns else None
            delay = self.delays.get(model, 0.0)
        if turn is None:
            return 500, {"error": {"message": f"the script of {model!r} has run out"}}
        time.sleep(delay)
        if isinstance(turn, Error):
            return turn.status, {"error": {"type": "error", "message": turn.message}}
        return 200, turn(body) if callable(turn) else turn

    def __enter__(self) -> FakeModels:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    status, reply = 400, {"error": {"message": "not JSON"}}
                else:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    status, reply = fake.answer(self.path.split("?")[0], headers, body)
                data = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a cancelled task)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
