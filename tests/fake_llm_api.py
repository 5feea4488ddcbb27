"""A stand-in OpenAI-compatible chat server for end-to-end tests of generated answers.

It listens on 127.0.0.1 (ephemeral port) in a thread and answers ``POST /v1/chat/completions``,
streamed (server-sent events) or not, in one of these scenarios, chosen by the request's model
name when it names one, else by ``scenario`` (``scenario_for`` picks one by the question):

- ``good``: a reply citing [1], streamed word by word (``hold``, when set, pauses it after the
  first words until the test sets the event);
- ``slow``: waits ``slow_s`` seconds before answering;
- ``error500``: HTTP 500, its message echoing the Authorization header (as some servers do);
- ``badcite``: a reply citing [9]; ``nocite``: a reply citing nothing.

Every request is recorded (``requests``), so a test can assert how many the model got.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SCENARIOS = ("good", "slow", "error500", "badcite", "nocite")
REPLIES = {
    "good": "The security forces said more than 3,800 people have been arrested so far [1].",
    "slow": "Too late to matter [1].",
    "badcite": "More than 3,800 people were arrested [9].",
    "nocite": "More than 3,800 people were arrested.",
}


class FakeLlmApi:
    """The server; ``base_url`` is what QABOT_LLM_BASE_URL should be set to."""

    def __init__(self, scenario: str = "good", slow_s: float = 20.0,
                 chunk_delay_s: float = 0.05) -> None:
        self.scenario = scenario
        self.slow_s = slow_s
        self.chunk_delay_s = chunk_delay_s
        self.hold: threading.Event | None = None
        self.scenario_for: dict[str, str] = {}  # text in the prompt (a question) → scenario
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeLlmApi:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (a slow reply in flight is abandoned)."""
        if self.hold is not None:
            self.hold.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def count(self) -> int:
        """Chat requests received so far."""
        with self._lock:
            return len(self.requests)

    def prompt_text(self, index: int = -1) -> str:
        """The messages of one request, joined: what the model was told."""
        with self._lock:
            return "\n".join(str(m.get("content")) for m in self.requests[index]["messages"])

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output quiet

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": "not found"}})
                    return
                with api._lock:
                    api.requests.append(body)
                    api.headers.append({k.lower(): v for k, v in self.headers.items()})
                model = str(body.get("model", ""))
                told = "\n".join(str(m.get("content")) for m in body.get("messages", []))
                scenario = next((s for key, s in api.scenario_for.items() if key in told),
                                model if model in SCENARIOS else api.scenario)
                try:
                    self._answer(scenario, model, bool(body.get("stream")))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): nothing more to send

            def _answer(self, scenario: str, model: str, stream: bool) -> None:
                if scenario == "error500":
                    self._json(500, {"error": {
                        "message": f"internal failure for {self.headers.get('Authorization')}",
                        "type": "server_error"}})
                    return
                if scenario == "slow":
                    time.sleep(api.slow_s)
                text = REPLIES[scenario]
                if not stream:
                    self._json(200, {"id": "chatcmpl-1", "object": "chat.completion",
                                     "created": int(time.time()), "model": model,
                                     "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant",
                                                              "content": text}}],
                                     "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                               "total_tokens": 2}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                words = text.split(" ")
                for n, word in enumerate(words):
                    self._event(model, {"role": "assistant", "content":
                                        word if n == 0 else " " + word}, None)
                    if n == 1 and api.hold is not None:
                        api.hold.wait(60)
                    time.sleep(api.chunk_delay_s)
                self._event(model, {}, "stop")
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _event(self, model: str, delta: dict[str, Any], finish: str | None) -> None:
                chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                         "created": int(time.time()), "model": model,
                         "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
