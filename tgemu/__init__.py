"""A local Telegram Bot API emulator for tests, benchmarks and the playground.

Usage::

    emulator = Emulator()
    base_url = await emulator.start()
    bot = Bot(EMULATOR_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
    emulator.add_user(1, "Alice")
    update = emulator.send_message(1, 1, "/start")
    ...
    await emulator.stop()
"""

from .core import (
    CHANNEL_BOT,
    DROPPED,
    EMULATOR_TOKEN,
    GROUP_ANONYMOUS_BOT,
    INVALID_REDIRECT,
    REDIRECT_LOOP,
    TIMEOUT,
    Emulator,
    StoredMessage,
)
from .spec import ApiError, UploadedFile

__all__ = [
    "CHANNEL_BOT",
    "DROPPED",
    "EMULATOR_TOKEN",
    "GROUP_ANONYMOUS_BOT",
    "INVALID_REDIRECT",
    "REDIRECT_LOOP",
    "TIMEOUT",
    "ApiError",
    "Emulator",
    "StoredMessage",
    "UploadedFile",
]
