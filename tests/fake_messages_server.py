"""A scriptable, Messages-API-compatible HTTP server on 127.0.0.1 for tests of the real SDK.

It answers POST /v1/messages like the API does and counts every request it receives. Scripting:
`script` is a queue of actions consumed one per request (then `default`), and `per_category` maps a
category to its own queue (taking precedence). Actions:
  "good"                     valid JSON answer for the category in the prompt
  ("status", code, headers)  an API error, e.g. ("status", 429, {"retry-after": "0.05"}), 500, 529
  "malformed"                200 whose text is not JSON
  "wrong_shape"              200, JSON but too few queries
  "truncated"                200 cut off mid-JSON with stop_reason max_tokens
  ("delay", seconds)         wait, then a good answer
  ("text", text)             200 whose text is exactly `text` (e.g. another task's JSON)
  "reset"                    close the connection without answering
  "hang"                     hold the request until `release()` (used to freeze a run before a kill)
"""

from __future__ import annotations

import json
import zlib
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_CATEGORY = re.compile(r'^Category: (".*")$', re.M)
_N = re.compile(r"Write (\d+) EXPLICIT")


def good_queries(category: str, n: int) -> dict:
    return {
        "category": category,
        "explicit": [f"{category} option number {i}" for i in range(n)],
        "implicit": [f"a need of kind {zlib.crc32(category.encode()) % 997} variant {i}" for i in range(n)],
    }


class FakeMessagesServer:
    def __init__(self, script=(), per_category=None, default="good"):
        self.lock = threading.Lock()
        self.script = list(script)
        self.per_category = {k: list(v) for k, v in (per_category or {}).items()}
        self.default = default
        self.requests = 0                  # every POST received, retries included
        self.by_category: Counter = Counter()
        self.statuses: Counter = Counter()  # what was answered (int status, or "reset"/"hang")
        self.api_keys: set = set()          # credentials seen (x-api-key or Authorization)
        self.bodies: list = []              # request bodies, in arrival order
        self.inflight = 0
        self.max_inflight = 0
        self.good_answers = 0
        self._release = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    def release(self):
        self._release.set()

    def reset_counts(self):
        with self.lock:
            self.requests, self.good_answers = 0, 0
            self.bodies.clear()
            self.by_category.clear()
            self.statuses.clear()

    def _next_action(self, category):
        with self.lock:
            q = self.per_category.get(category)
            if q:
                return q.pop(0)
            if self.script:
                return self.script.pop(0)
            return self.default

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                first = body["messages"][0]["content"]
                first = first if isinstance(first, str) else first[0]["text"]
                m = _CATEGORY.search(first)
                category = json.loads(m.group(1)) if m else "?"
                n = int(_N.search(first).group(1)) if _N.search(first) else 3
                with server.lock:
                    server.requests += 1
                    server.by_category[category] += 1
                    server.api_keys.add(self.headers.get("x-api-key") or self.headers.get("authorization"))
                    server.bodies.append(body)
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                try:
                    self._answer(server._next_action(category), category, n, body)
                finally:
                    with server.lock:
                        server.inflight -= 1

            def _answer(self, action, category, n, body):
                if isinstance(action, tuple) and action[0] == "delay":
                    time.sleep(action[1])
                    action = "good"
                if action == "hang":
                    server.statuses["hang"] += 1
                    server._release.wait()
                    self.close_connection = True
                    return
                if action == "reset":
                    server.statuses["reset"] += 1
                    self.close_connection = True
                    self.connection.shutdown(2)  # peer sees the connection drop without a response
                    return
                if isinstance(action, tuple) and action[0] == "status":
                    _, code, headers = action
                    kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(code, "api_error")
                    return self._send(code, {"type": "error", "error": {"type": kind, "message": f"fake {code}"}},
                                      headers)
                stop = "end_turn"
                if isinstance(action, tuple) and action[0] == "text":
                    text = action[1]
                elif action == "good":
                    text = json.dumps(good_queries(category, n))
                    with server.lock:
                        server.good_answers += 1
                elif action == "malformed":
                    text = "Sure! Here are some queries: explicit: one, two"
                elif action == "wrong_shape":
                    text = json.dumps({"explicit": ["only one"], "implicit": []})
                elif action == "truncated":
                    text = json.dumps(good_queries(category, n))[:40]
                    stop = "max_tokens"
                else:
                    raise ValueError(f"unknown action {action!r}")
                self._send(200, {
                    "id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model", "?"),
                    "content": [{"type": "text", "text": text}], "stop_reason": stop, "stop_sequence": None,
                    "usage": {"input_tokens": 100, "output_tokens": 50},
                })

            def _send(self, code, obj, headers=None):
                data = json.dumps(obj).encode()
                server.statuses[code] += 1
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        return Handler
