"""A stand-in Telegram Bot API server for end-to-end tests of the bot.

It listens on 127.0.0.1 (ephemeral port) in a thread, serves queued updates through long-polled
``getUpdates``, records every request, and checks ``sendMessage`` and ``editMessageText`` the way
Telegram does: HTML parse mode is parsed strictly (unsupported tags, unbalanced tags or bare
``<``/``>``/``&`` are a 400 "can't parse entities" error), texts over 4096 characters are refused,
and so is an edit that changes nothing.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

BOT_ID = 4242
BOT_USERNAME = "qabot_test_bot"
_JSON_FIELDS = {"reply_markup", "reply_parameters", "link_preview_options", "commands",
                "entities", "allowed_updates", "scope"}
_ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
                 "tg-spoiler", "a", "tg-emoji", "code", "pre", "blockquote"}
_TOKEN = re.compile(r"<(/?)([A-Za-z][\w-]*)((?:\s+[^<>]*)?)>|&(#\d+|#x[0-9A-Fa-f]+|lt|gt|amp|quot);"
                    r"|[<>&]")


class EntityParseError(ValueError):
    """Telegram's "can't parse entities" error."""


def parse_html(text: str) -> str:
    """The plain text Telegram would show for ``text`` in HTML parse mode, or EntityParseError."""
    out: list[str] = []
    stack: list[str] = []
    at = 0
    for match in _TOKEN.finditer(text):
        out.append(text[at:match.start()])
        at = match.end()
        offset = len(text[:match.start()].encode("utf-8"))
        closing, name, _attrs, entity = match.groups()
        if entity is not None:
            out.append(html.unescape(match.group(0)))
        elif name is None:
            raise EntityParseError(f"Bad Request: can't parse entities: unexpected "
                                   f"{match.group(0)!r} at byte offset {offset}")
        elif name.lower() not in _ALLOWED_TAGS:
            raise EntityParseError(f"Bad Request: can't parse entities: Unsupported start tag "
                                   f"\"{name}\" at byte offset {offset}")
        elif closing:
            if not stack or stack[-1] != name.lower():
                raise EntityParseError(f"Bad Request: can't parse entities: Unmatched end tag at "
                                       f"byte offset {offset}, expected \"</{stack[-1] if stack else ''}>\"")
            stack.pop()
        else:
            stack.append(name.lower())
    out.append(text[at:])
    if stack:
        raise EntityParseError(f"Bad Request: can't parse entities: Can't find end tag "
                               f"corresponding to start tag \"{stack[-1]}\"")
    return "".join(out)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Call:
    """One request the bot made: the method, its decoded parameters, and what was answered."""

    method: str
    params: dict[str, Any]
    status: int = 200
    result: Any = None
    plain: str | None = None  # sendMessage: the text as a person would see it
    at: float = field(default_factory=time.monotonic)


class FakeBotApi:
    """The server; ``base_url`` is what QABOT_TELEGRAM_BASE_URL should be set to."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self._next_update = 1
        self._next_message = 1
        self._chat_types: dict[int, str] = {}
        self.sent: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, message id): as it is now
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/bot`` (python-telegram-bot appends the token)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    def start(self) -> FakeBotApi:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------ what the tests push

    def _push(self, update: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            update["update_id"] = self._next_update
            self._next_update += 1
            self.updates.append(update)
            self._cond.notify_all()
        return update

    def _new_message_id(self) -> int:
        with self._cond:
            self._next_message += 1
            return self._next_message

    def send_text(self, chat_id: int, user_id: int, text: str, chat_type: str = "private",
                  reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
        """Queue a text message from a user for getUpdates; returns the message."""
        message = self.text_message(chat_id, user_id, text, chat_type, reply_to)
        self._push({"message": message})
        return message

    def text_message(self, chat_id: int, user_id: int, text: str, chat_type: str = "private",
                     reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
        """A text message from a user; commands and @mentions get their entities."""
        self._chat_types[chat_id] = chat_type
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        chat.update({"first_name": f"user{user_id}"} if chat_type == "private"
                    else {"title": f"group {chat_id}"})
        entities = []
        command = re.match(r"/\w+(@\w+)?", text)
        if command:
            entities.append({"type": "bot_command", "offset": 0,
                             "length": _utf16_len(command.group(0))})
        for mention in re.finditer(r"@\w+", text):
            if command and mention.start() < command.end():
                continue
            entities.append({"type": "mention", "offset": _utf16_len(text[:mention.start()]),
                             "length": _utf16_len(mention.group(0))})
        message: dict[str, Any] = {
            "message_id": self._new_message_id(), "date": int(time.time()), "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
            "text": text}
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return message

    def press_button(self, user_id: int, message: dict[str, Any], data: str) -> dict[str, Any]:
        """Queue a callback query: ``user_id`` pressed a button of the bot's ``message``."""
        return self._push({"callback_query": {
            "id": f"cq{self._next_update}", "chat_instance": "ci",
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
            "message": message, "data": data}})

    # ------------------------------------------------------------ what the tests read

    def find(self, method: str, chat_id: int | None = None) -> list[Call]:
        """Recorded calls of ``method`` (to ``chat_id`` when given), oldest first."""
        with self._cond:
            return [c for c in self.calls if c.method == method and (
                chat_id is None or str(c.params.get("chat_id")) == str(chat_id))]

    def messages(self, chat_id: int) -> list[Call]:
        """Accepted sendMessage calls to ``chat_id``."""
        return [c for c in self.find("sendMessage", chat_id) if c.status == 200]

    def edits(self, chat_id: int) -> list[Call]:
        """Accepted editMessageText calls in ``chat_id``, oldest first."""
        return [c for c in self.find("editMessageText", chat_id) if c.status == 200]

    def text_now(self, chat_id: int, message_id: int) -> str:
        """What a message of the bot shows now, after every edit."""
        with self._cond:
            return str(self.sent[(chat_id, message_id)]["text"])

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 30.0,
                   what: str = "condition") -> Any:
        """Wait for ``predicate()`` to be truthy (re-checked on every request); return its value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                self._cond.release()
                try:
                    value = predicate()
                finally:
                    self._cond.acquire()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
                self._cond.wait(min(left, 0.5))

    def wait_messages(self, chat_id: int, count: int, timeout: float = 30.0) -> list[Call]:
        """Wait until ``chat_id`` has received at least ``count`` messages; return them."""
        return self.wait_until(lambda: (m := self.messages(chat_id)) and len(m) >= count and m,
                               timeout, f"{count} message(s) to chat {chat_id}")

    # ------------------------------------------------------------ the Bot API

    def _bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Qabot", "username": BOT_USERNAME,
                "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        hold = min(float(params.get("timeout") or 0), 1.0)
        deadline = time.monotonic() + hold
        with self._cond:
            while True:
                ready = [u for u in self.updates if u["update_id"] >= offset]
                left = deadline - time.monotonic()
                if ready or left <= 0:
                    return ready[:int(params.get("limit") or 100)]
                self._cond.wait(left)

    def _checked_text(self, params: dict[str, Any]) -> tuple[str | None, str]:
        """(the plain text, "") for a valid text parameter, else (None, Telegram's error)."""
        text = str(params.get("text") or "")
        if not text.strip():
            return None, "Bad Request: message text is empty"
        plain = text
        if str(params.get("parse_mode", "")).upper() == "HTML":
            try:
                plain = parse_html(text)
            except EntityParseError as exc:
                return None, str(exc)
        if _utf16_len(plain) > 4096:
            return None, "Bad Request: message is too long"
        return plain, ""

    def _edit_message_text(self, params: dict[str, Any]) -> tuple[int, Any, str | None]:
        plain, error = self._checked_text(params)
        if plain is None:
            return 400, error, None
        key = (int(params["chat_id"]), int(params["message_id"]))
        with self._cond:
            message = self.sent.get(key)
            if message is None:
                return 400, "Bad Request: message to edit not found", None
            markup = params.get("reply_markup")
            if message["text"] == plain and message.get("reply_markup") == markup:
                return 400, ("Bad Request: message is not modified: specified new message "
                             "content and reply markup are exactly the same"), None
            message["text"] = plain
            message.pop("reply_markup", None)
            if isinstance(markup, dict):
                message["reply_markup"] = markup
            message["edit_date"] = int(time.time())
            return 200, dict(message), plain

    def _send_message(self, params: dict[str, Any]) -> tuple[int, Any, str | None]:
        plain, error = self._checked_text(params)
        if plain is None:
            return 400, error, None
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": self._new_message_id(), "date": int(time.time()),
            "chat": {"id": chat_id, "type": self._chat_types.get(chat_id, "private")},
            "from": self._bot_user(), "text": plain}
        if isinstance(params.get("reply_markup"), dict):
            message["reply_markup"] = params["reply_markup"]
        with self._cond:
            self.sent[(chat_id, message["message_id"])] = dict(message)
        return 200, message, plain

    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, Any, str | None]:
        """Answer one Bot API call: (HTTP status, result or error description, plain text)."""
        if method == "getMe":
            return 200, self._bot_user(), None
        if method == "getUpdates":
            return 200, self._get_updates(params), None
        if method == "sendMessage":
            return self._send_message(params)
        if method == "editMessageText":
            return self._edit_message_text(params)
        if method in {"deleteWebhook", "setWebhook", "sendChatAction", "answerCallbackQuery",
                      "setMyCommands", "editMessageReplyMarkup", "close", "logOut"}:
            return 200, True, None
        return 404, "Not Found: method not found", None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output quiet

            def do_POST(self) -> None:  # noqa: N802
                """Route ``/bot<token>/<method>``."""
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8") if length else ""
                match = re.fullmatch(r"/bot([^/]+)/(\w+)", self.path)
                if match is None or match.group(1) != api.token:
                    self._reply(401, {"ok": False, "error_code": 401,
                                      "description": "Unauthorized"})
                    return
                method = match.group(2)
                params = _decode(body, self.headers.get("Content-Type", ""))
                status, result, plain = api.handle(method, params)
                with api._cond:
                    api.calls.append(Call(method, params, status, result, plain))
                    api._cond.notify_all()
                if status == 200:
                    self._reply(200, {"ok": True, "result": result})
                else:
                    self._reply(status, {"ok": False, "error_code": status,
                                         "description": result})

            do_GET = do_POST

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the bot hung up on a long poll while shutting down

        return Handler


def _decode(body: str, content_type: str) -> dict[str, Any]:
    """Request parameters from a form or JSON body; JSON-valued fields are decoded."""
    if not body:
        return {}
    if "json" in content_type:
        return dict(json.loads(body))
    params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
    for key in _JSON_FIELDS & params.keys():
        try:
            params[key] = json.loads(params[key])
        except ValueError:
            pass
    return params
