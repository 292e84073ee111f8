"""Hostile input: random and adversarial messages and button data through the real Dispatcher.

Whatever arrives, the bot answers without an unhandled exception, every message it sends is
valid Telegram HTML (the emulator refuses anything else, strictly: a bare & fails too), it
never echoes a user's markup as markup, and the ledger reconciles afterwards (checked when
the database fixture ends).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.emulator import Emulator
from handlers.commands import COMMANDS
from handlers.errors import APOLOGY
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness

CAST = (OWNER, SAM, LEE, MIA, KAI)
NAMES = [*sorted(c.name for c in COMMANDS), "skip", "unknown_command"]

# markup a careless handler would pass through as markup: each carries the word "pwn"
INJECTIONS = (
    "<b>pwn</b>",
    "<i>pwn",
    "</b>pwn",
    '<a href="https://evil.example/pwn">pwn</a>',
    "<script>alert('pwn')</script>",
    "<tg-spoiler>pwn</tg-spoiler>",
    "&pwn;",
    "& pwn",
    "&amp;pwn",
    "<pwn>",
)
ODD = (
    "\u202e",  # right-to-left override
    "\u200f",  # right-to-left mark
    "\u200b",  # zero-width space
    "\ufeff",  # byte order mark
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈",
    "ﷺ",
    "Z̴̡̛a̷l̶g̵o̸",
    "%s",
    "%(name)s",
    "{}",
    "{0}",
    "{name}",
    "{{",
    "}",
    "@",
    "@mia",
    "@nobody",
    "#1",
    "1",
    "0",
    "-1",
    "-99999999999999999999",
    "99999999999999999999999999",
    "1e308",
    "NaN",
    "inf",
    "3.14159",
    "10%",
    "150%",
    "24h",
    "-24h",
    "min=0",
    "stock=-5",
    "tiers=1:0,0:1",
    "|",
    "||",
    "XTR",
    "CNY",
    "\n",
    "\t",
    "'; DROP TABLE member; --",
)
pieces = st.one_of(
    st.sampled_from(INJECTIONS),
    st.sampled_from(ODD),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("<>&\"'/=;#@%{}|:-"), max_size=12),
    st.just("x" * 3000),
)
arguments = st.lists(pieces, max_size=6).map(lambda parts: " ".join(parts)[:4000])
chats = st.sampled_from(("private", TEA, COFFEE))


@st.composite
def messages(draw: st.DrawFn) -> tuple[int, int, str]:
    """A member of the cast writes a command with random arguments, or plain text."""
    user = draw(st.sampled_from(CAST))
    where = draw(chats)
    chat = user if where == "private" else int(where)
    if draw(st.booleans()):
        text = f"/{draw(st.sampled_from(NAMES))} {draw(arguments)}".strip()
    else:
        text = draw(arguments) or draw(st.sampled_from(INJECTIONS))
    return user, chat, text


PREFIXES = (
    "gb", "gbw", "ord", "cp", "rw", "ck", "promo", "bw", "bc", "gset", "lang", "nps", "pl",
    "forget", "pw", "rv", "sg", "menu",
)  # fmt: skip
field = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(("join", "less", "leave", "details", "paid", "picked", "yes", "no", "")),
    st.text(max_size=10),
)


@st.composite
def callback_data(draw: st.DrawFn) -> str:
    """A known prefix with random fields, or garbage; at most 64 bytes like Telegram's."""
    if draw(st.integers(0, 4)) == 0:
        data = draw(st.text(min_size=1, max_size=64))
    else:
        fields = draw(st.lists(field, max_size=4))
        data = ":".join([draw(st.sampled_from(PREFIXES)), *fields])
    return data.encode()[:64].decode(errors="ignore") or "x"


@st.composite
def presses(draw: st.DrawFn) -> tuple[int, int, str]:
    user = draw(st.sampled_from(CAST))
    where = draw(chats)
    return user, (user if where == "private" else int(where)), draw(callback_data())


class Failures:
    """Every Bot API call the emulator refused as malformed, and every emulator bug."""

    def __init__(self, emulator: Emulator) -> None:
        self.calls: list[str] = []
        self.emulator = emulator
        dispatch = emulator.dispatch

        async def recording(
            method: str, raw: Mapping[str, Any], files: Any = None, **kwargs: Any
        ) -> tuple[int, dict[str, Any]]:
            status, payload = await dispatch(method, raw, files, **kwargs)
            description = str(payload.get("description", ""))
            # 403s (a member never started the bot) and "not modified" are normal life;
            # a 400 about entities or length, or a 5xx, is the bot sending something broken.
            # One 400 is by design: /broadcast checks the HTML staff type by sending them the
            # preview, and tells them what to fix when Telegram refuses it (see
            # test_bad_html_is_refused_with_a_clear_message), so a refused message to a staff
            # chat about entities is that check, not a broken message.
            staff_preview = (
                method == "sendMessage"
                and raw.get("chat_id") in (OWNER, SAM, str(OWNER), str(SAM))
                and "can't parse entities" in description
            )
            if status >= 500 or (
                status == 400 and "not modified" not in description and not staff_preview
            ):
                self.calls.append(f"{method} -> {status} {description}")
            return status, payload

        emulator.dispatch = recording  # type: ignore[method-assign]


_WATCHED: dict[int, Failures] = {}


def watch(emulator: Emulator) -> Failures:
    """The failure record of this emulator, installed once and emptied for each example."""
    failures = _WATCHED.get(id(emulator))
    if failures is None or failures.emulator is not emulator:
        failures = _WATCHED[id(emulator)] = Failures(emulator)
    failures.calls.clear()
    return failures


@pytest.fixture
async def hostile(harness: Harness) -> Harness:
    """The cast has started the bot, Sam is staff, Lee led a group-buy, Mia has an order."""
    harness.emulator.strict_html = True
    await harness.join_groups()
    for user in CAST:
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=10")
    await harness.send(MIA, TEA, "/buy 1")
    return harness


def bot_messages(emulator: Emulator) -> Iterator[Any]:
    for chat in (*CAST, TEA, COFFEE):
        yield from emulator.bot_messages(chat)


def asked(emulator: Emulator, answer: Any) -> list[str]:
    """What users wrote in the chat just before the bot's message, for a failure report."""
    before = [m for m in emulator.messages(answer.chat_id) if m.message_id < answer.message_id]
    return [m.text or "" for m in before if not m.from_bot][-3:]


def check_everything_the_bot_said(harness: Harness, failures: Failures) -> None:
    emulator = harness.emulator
    assert emulator.errors == []
    assert failures.calls == []
    apologies = {
        harness.runtime.i18n.gettext(APOLOGY, locale=locale)
        for locale in ("en", "zh_Hans", "zh_Hant")
    }
    for message in bot_messages(emulator):
        assert message.text not in apologies
        if message.chat_id in (OWNER, SAM):
            # staff compose broadcasts in Telegram HTML on purpose (see /broadcast): their own
            # markup comes back in the preview; it must still be valid, which failures checks
            continue
        source = message.html or ""
        # a user's tag reaches Telegram escaped: as text (a link's address may show as
        # text), never as markup
        injected = (
            "<b>pwn",
            "<i>pwn",
            "</b>pwn",
            '<a href="https://evil',
            "<tg-spoiler>pwn",
            "<pwn",
        )
        for tag in injected:
            assert tag not in source, (message.chat_id, source, asked(emulator, message))
        assert "<script" not in source.lower()
        for entity in message.entities:
            assert "evil.example" not in str(entity.get("url", ""))
    for answer in emulator.callback_answers.values():
        assert answer.get("text") not in apologies


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(messages(), min_size=1, max_size=3))
async def test_random_and_adversarial_messages_never_break_the_bot(
    hostile: Harness, caplog: pytest.LogCaptureFixture, batch: list[tuple[int, int, str]]
) -> None:
    failures = watch(hostile.emulator)
    with caplog.at_level(logging.ERROR, logger="handlers.errors"):
        for user, chat, text in batch:
            hostile.emulator.send_message(user, chat, text)
            await hostile.feed_pending()
    assert [r for r in caplog.records if r.name == "handlers.errors"] == []
    check_everything_the_bot_said(hostile, failures)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(presses(), min_size=1, max_size=3))
async def test_random_callback_data_never_breaks_the_bot(
    hostile: Harness, caplog: pytest.LogCaptureFixture, batch: list[tuple[int, int, str]]
) -> None:
    failures = watch(hostile.emulator)
    with caplog.at_level(logging.ERROR, logger="handlers.errors"):
        for user, chat, data in batch:
            history = hostile.emulator.bot_messages(chat)
            message_id = history[-1].message_id if history else 1
            hostile.emulator.press_button(user, chat, message_id, callback_data=data, force=True)
            await hostile.feed_pending()
    assert [r for r in caplog.records if r.name == "handlers.errors"] == []
    check_everything_the_bot_said(hostile, failures)


async def test_a_member_id_longer_than_64_bits_is_nobody_the_bot_knows(harness: Harness) -> None:
    # given the bot in both groups and Mia known to it
    await harness.join_groups()
    await harness.send(MIA, MIA, "/start")
    # when Mia gifts points to, and Lee marks paid, an id no Telegram user can have
    gift = await harness.send(MIA, MIA, "/gift 99999999999999999999999999 5")
    paid = await harness.send(LEE, TEA, "/paid 99999999999999999999999999")
    # then each is told that member is unknown, as for any id the bot has not seen
    assert len(gift) == 1 and "know" in gift[0]
    assert paid == ["Tell me whose orders: /paid @username, or reply to their message."]
