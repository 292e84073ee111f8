"""The bot token and the other secrets never reach the logs, in plain or JSON format, whatever
the Bot API does: flood and server errors, no answer, a redirect loop or a redirect to an
invalid URL from a broken proxy, an invalid TELEGRAM_API_URL, nobody listening. aiohttp quotes
the request URL, `/bot<TOKEN>/method`, in several of these errors."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import threading
from collections.abc import Iterator

import pytest
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError

from bot.config import Settings
from bot.logs import REDACTED, configure_logging, redactor
from tests.conftest import MIA, Harness, make_settings
from tests.processes import START_LIMIT, StartBot, free_port
from tgemu import EMULATOR_TOKEN, INVALID_REDIRECT, REDIRECT_LOOP, TIMEOUT, Emulator

PROVIDER_TOKEN = "284685063:TEST:Provider-secret-of-the-shop-0042"
WEBHOOK_SECRET = "Webhook_secret-of-the-bot-0042"
# the part of the bot token that is the secret (the part before ":" is the bot's public id)
TOKEN_KEY = EMULATOR_TOKEN.partition(":")[2]
SECRETS = (EMULATOR_TOKEN, TOKEN_KEY, PROVIDER_TOKEN, WEBHOOK_SECRET, "Shop-secret-0042")


def secret_settings(**values: object) -> Settings:
    return make_settings(
        bot_token=EMULATOR_TOKEN,
        payment_provider_token=PROVIDER_TOKEN,
        webhook_secret=WEBHOOK_SECRET,
        database_url="postgresql+asyncpg://bot:Shop-secret-0042@db.example:5432/bot",
        **values,
    )


def leaked(output: str) -> list[str]:
    return [secret for secret in SECRETS if secret in output]


@pytest.fixture(params=["plain", "json"])
def captured(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """The bot's logging as `python -m bot run` configures it (in each format), into a
    string; the test's logging is put back afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogRecordFactory())
    hooks = (sys.excepthook, threading.excepthook)
    stream = io.StringIO()
    configure_logging(
        "INFO", log_format=request.param, secrets=secret_settings().secret_values(), stream=stream
    )
    try:
        yield stream
    finally:
        root.handlers[:], _level, factory = saved
        root.setLevel(saved[1])
        logging.setLogRecordFactory(factory)
        sys.excepthook, threading.excepthook = hooks
        redactor.update(())


def test_the_settings_name_every_secret_and_the_redactor_hides_every_form() -> None:
    settings = secret_settings(redis_url="redis://:Redis-secret-0042@cache:6379/0")
    assert set(settings.secret_values()) == {
        EMULATOR_TOKEN,
        PROVIDER_TOKEN,
        WEBHOOK_SECRET,
        "Shop-secret-0042",
        "Redis-secret-0042",
    }
    redactor.update(settings.secret_values())
    try:
        # as is, percent-encoded in a URL, and the token's key alone
        for text in (
            f"https://api.telegram.org/bot{EMULATOR_TOKEN}/getMe",
            "URL('https://api.telegram.org/bot123456789%3A" + TOKEN_KEY + "/getMe')",
            f"key={TOKEN_KEY} pay={PROVIDER_TOKEN}",
        ):
            assert leaked(redactor.redact(text)) == [], text
            assert REDACTED in redactor.redact(text)
    finally:
        redactor.update(())


def test_a_bad_log_call_is_still_redacted_and_never_raises(captured: io.StringIO) -> None:
    # a format that does not fit its arguments raises in logging's formatting, which the
    # redactor does first: the caller never sees it, and the secret is still hidden
    logging.getLogger("bot.test").warning("token %d", EMULATOR_TOKEN)
    # and a short setting is not looked for (it would match ordinary words)
    redactor.update(["bot", EMULATOR_TOKEN])
    logging.getLogger("bot.test").warning("the bot said %s", "hello")
    output = captured.getvalue()
    assert "token" in output and REDACTED in output and leaked(output) == [], output
    assert "the bot said hello" in output


async def test_no_bot_api_failure_puts_a_secret_in_the_logs(
    harness: Harness, captured: io.StringIO
) -> None:
    emu = harness.emulator
    bot = harness.runtime.bot
    bot.session.timeout = 0.5
    emu.add_user(MIA, "Mia", language_code="en")
    # given every kind of failure, each on the bot's next replies (the apology included)
    statuses = (400, 403, 429, 500, 502, TIMEOUT, REDIRECT_LOOP, INVALID_REDIRECT)
    for status in statuses:
        emu.inject_fault("sendMessage", status=status, count=2)
        # when Mia writes to the bot and its answer fails
        await harness.send(MIA, MIA, "/start")
        emu.clear_faults()
    served = {status for _method, status in emu.faults_served}
    assert served == set(statuses)
    # and a message is sent while the Bot API address is invalid, then while nobody listens
    good = bot.session.api
    try:
        for base in ("http://127.0.0.1:99999", f"http://127.0.0.1:{free_port()}"):
            bot.session.api = TelegramAPIServer.from_base(base)
            with pytest.raises(TelegramNetworkError) as failure:
                await bot.send_message(MIA, "hello")
            logging.getLogger("bot.test").warning("send failed: %s", failure.value)
            logging.getLogger("bot.test").error("send failed", exc_info=failure.value)
    finally:
        bot.session.api = good
    # and a redirect is not followed: the bot sees an error, not the place it points to
    emu.inject_fault("getMe", status=REDIRECT_LOOP)
    with pytest.raises(TelegramNetworkError, match="redirect"):
        await bot.get_me()

    # then the failures are in the logs, and no secret is, in any form
    output = captured.getvalue()
    assert "failed" in output and "TelegramNetworkError" in output, output
    assert REDACTED in output  # the errors did quote the token
    assert leaked(output) == [], output


async def test_a_crash_at_start_shows_no_token(bot_process: StartBot) -> None:
    """`python -m bot run` with an invalid TELEGRAM_API_URL: the failing calls are logged and
    the process dies of the last one, in both formats, without the token."""

    async def crash(log_format: str) -> str:
        process = await bot_process(
            "run",
            TELEGRAM_API_URL="http://127.0.0.1:99999",
            LOG_FORMAT=log_format,
            PAYMENT_PROVIDER_TOKEN=PROVIDER_TOKEN,
        )
        assert process.stderr is not None
        errors = (await asyncio.wait_for(process.stderr.read(), START_LIMIT)).decode()
        await process.wait()
        assert process.returncode not in (0, None)
        return errors

    for errors in await asyncio.gather(crash("plain"), crash("json")):
        assert "InvalidUrl" in errors and REDACTED in errors, errors
        assert leaked(errors) == [], errors


async def test_polling_through_a_broken_proxy_shows_no_token(
    bot_process: StartBot, emulator: Emulator
) -> None:
    """`python -m bot run` polling while getUpdates is redirected in a loop, then to an
    invalid URL, then fails: each failure is logged, without the token, in both formats."""
    faults = (REDIRECT_LOOP, INVALID_REDIRECT, 502)
    for log_format in ("plain", "json"):
        emulator.faults_served.clear()
        for status in faults:
            emulator.inject_fault("getUpdates", status=status)
        process = await bot_process("run", LOG_FORMAT=log_format)
        assert process.stderr is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_LIMIT
        lines: list[str] = []
        # wait until every fault was served and the bot logged the last one
        while len([s for _m, s in emulator.faults_served if s in faults]) < len(faults) or not any(
            "Bad Gateway" in line for line in lines
        ):
            assert loop.time() < deadline, "".join(lines)
            line = await asyncio.wait_for(process.stderr.readline(), START_LIMIT)
            lines.append(line.decode())
        process.terminate()
        rest = await asyncio.wait_for(process.stderr.read(), START_LIMIT)
        await process.wait()
        output = "".join(lines) + rest.decode()
        assert output.count("Failed to fetch updates") >= len(faults), output
        assert leaked(output) == [], output
