"""Building and running the bot: the token check, the configured ``Application``, and polling or
webhook mode until SIGINT/SIGTERM. The bot token never reaches a log line or an error message."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application, ApplicationBuilder, Defaults

from ..errors import ConfigError, QabotError
from .chat_state import CONTEXT_TYPES, BotContext
from .handlers import QabotHandlers
from .redaction import TOKEN_MASK, protect_logs, redact_url

if TYPE_CHECKING:
    from ..config import Settings
    from ..service import QabotService

SOURCES_BUTTONS_KEPT = 2000  # answers behind Sources buttons PTB keeps; older ones say "expired"

BotApplication = Application[Any, BotContext, Any, Any, Any, Any]


def require_token(settings: Settings) -> str:
    """The bot token, or a ``ConfigError`` that says how to set it."""
    secret = settings.telegram_bot_token
    token = secret.get_secret_value().strip() if secret is not None else ""
    if not token:
        raise ConfigError("no Telegram bot token is set",
                          hint="create a bot with @BotFather, then set TELEGRAM_BOT_TOKEN in the "
                               "environment or in a .env file")
    return token


def build_application(settings: Settings, service: QabotService) -> BotApplication:
    """The configured ``Application`` (handlers, defaults, concurrency), not yet running."""
    token = require_token(settings)
    handlers = QabotHandlers(settings, service)
    app = (ApplicationBuilder()
           .token(token)
           .base_url(settings.telegram_base_url)
           .defaults(Defaults(parse_mode=ParseMode.HTML, allow_sending_without_reply=True,
                              link_preview_options=LinkPreviewOptions(is_disabled=True)))
           .context_types(CONTEXT_TYPES)
           .arbitrary_callback_data(SOURCES_BUTTONS_KEPT)
           .concurrent_updates(True)
           .post_init(handlers.post_init)
           .build())
    handlers.register(app)
    return app


def run_bot(settings: Settings, service: QabotService) -> None:
    """Run the bot until SIGINT/SIGTERM: webhook mode when a webhook URL is set, else polling."""
    token = require_token(settings)
    protect_logs(token, settings.log_level)
    service.check_index()  # fail fast, before contacting Telegram, when there is no index
    app = build_application(settings, service)
    try:
        if settings.telegram_webhook_url:
            _run_webhook(app, settings)
        else:
            app.run_polling(allowed_updates=Update.ALL_TYPES)
    except InvalidToken:
        raise ConfigError("the Telegram Bot API rejected the bot token",
                          hint="check TELEGRAM_BOT_TOKEN (from @BotFather)") from None
    except NetworkError as exc:
        message = str(exc).replace(token, TOKEN_MASK)
        raise QabotError(f"cannot reach the Telegram Bot API at "
                         f"{redact_url(settings.telegram_base_url)}: {message}",
                         hint="check the network or QABOT_TELEGRAM_BASE_URL") from None


def _run_webhook(app: BotApplication, settings: Settings) -> None:
    """Serve updates on ``telegram_webhook_listen:port`` at the webhook URL's path."""
    try:
        import tornado  # noqa: F401  (PTB's webhook server)
    except ImportError:
        raise ConfigError("webhook mode needs the 'webhooks' extra of python-telegram-bot",
                          hint="pip install 'python-telegram-bot[webhooks]', or unset "
                               "telegram_webhook_url to use polling") from None
    url = settings.telegram_webhook_url or ""
    app.run_webhook(listen=settings.telegram_webhook_listen, port=settings.telegram_webhook_port,
                    url_path=urlparse(url).path.lstrip("/"), webhook_url=url,
                    secret_token=secrets.token_urlsafe(32), allowed_updates=Update.ALL_TYPES)
