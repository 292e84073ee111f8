"""Hostile input: random and adversarial messages and button data through the real Dispatcher.

Whatever arrives, the bot answers without an unhandled exception, every message it sends is
valid Telegram HTML (the emulator refuses anything else, strictly: a bare & fails too), it
never echoes a user's markup as markup, and the ledger reconciles afterwards (checked when
the database fixture ends).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiogram.utils.i18n import I18n
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import UndefinedError
from sqlmodel import select

from bot.web.dashboard_core import COOKIE, PREFIX
from bot.web.dashboard_html import Names, cell, filters
from bot.web.layout import render
from bot.webhook import SECRET_HEADER, create_webhook_app
from handlers.errors import APOLOGY
from handlers.views.commands import COMMANDS
from models.member import Member
from services.tables import search_condition
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.dashboard_kit import init_data
from tests.net import served
from tgemu import Emulator

SECRET = "s3cret-token"

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
    "²",  # passes str.isdigit(), which int() refuses
    "#²",
    "٣",  # an Arabic-Indic three: int() reads it, the bot must not
    "①",
    "9223372036854775808",  # one past the widest id the store holds
    "9999-12-31",
    "2026-01-01..9999-12-31",
    "9999999999d",
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


def look_alike(part: str, char: str) -> str:
    return (
        f"“{part}” is not a number I can read: “{char}” only looks like a digit. Please type "
        "the number with the digits 0-9."
    )


def too_large(part: str) -> str:
    return f"{part} is far too large a number here. Please check it and send it again."


async def test_a_member_id_longer_than_64_bits_is_refused_as_too_large(harness: Harness) -> None:
    # given the bot in both groups and Mia known to it
    await harness.join_groups()
    await harness.send(MIA, MIA, "/start")
    # when Mia gifts points to, and Lee marks paid, an id no Telegram user can have
    gift = await harness.send(MIA, MIA, "/gift 99999999999999999999999999 5")
    paid = await harness.send(LEE, TEA, "/paid 99999999999999999999999999")
    # then each is told the number is too large, in the language chosen where they wrote (Lee,
    # who reads Chinese, wrote in Tea Lovers, whose language is English, as every reply there)
    assert gift == [too_large("99999999999999999999999999")]
    assert paid == [too_large("99999999999999999999999999")]


# every command that read a number with str.isdigit() and int(), which took '²' for a digit
# and then failed: by whom and where each is sent (staff in private, Lee in his group)
LOOK_ALIKE_COMMANDS = (
    (OWNER, OWNER, "/broadcast_status {n}"),
    (MIA, MIA, "/buy {n}"),
    (MIA, TEA, "/buy 1 {n}"),
    (OWNER, OWNER, "/coupon_grant @mia {n}"),
    (MIA, MIA, "/donate {n}"),
    (LEE, TEA, "/gb_cancel {n}"),
    (LEE, TEA, "/gb_close {n}"),
    (LEE, TEA, "/gb_extend {n} 1h"),
    (MIA, MIA, "/gift @lee {n}"),
    (MIA, MIA, "/gift {n} 1"),
    (OWNER, OWNER, "/grant_staff {n}"),
    (OWNER, OWNER, "/revoke_staff {n}"),
    (OWNER, OWNER, "/leader_limit {n}"),
    (OWNER, OWNER, "/leader_record {n}"),
    (LEE, TEA, "/paid {n}"),
    (LEE, TEA, "/pickedup {n}"),
    (OWNER, OWNER, "/refund {n}"),
    (OWNER, OWNER, "/refund_paid {n}"),
    (OWNER, OWNER, "/reward_off {n}"),
    (OWNER, OWNER, "/sheet {n}"),
    (OWNER, OWNER, "/tier_set {n}"),
    (OWNER, OWNER, "/product_set {n} stock 5"),
    (OWNER, OWNER, "/care_off {n}"),
    (OWNER, OWNER, "/statement {n}"),
)


@pytest.mark.parametrize("typed", ["²", "٣"])
async def test_digit_look_alikes_get_a_clear_message_wherever_a_number_is_read(
    hostile: Harness, typed: str
) -> None:
    for user, chat, command in LOOK_ALIKE_COMMANDS:
        # when a digit look-alike is typed where the command reads a number
        replies = await hostile.send(user, chat, command.format(n=typed))
        # then the user is told which character is not a digit, in the language chosen where
        # they wrote (Lee writes in Tea Lovers, whose language is English)
        assert replies == [look_alike(typed, typed.lstrip("#"))], command
    # and an order or group-buy number written with its '#'
    for command in ("/buy #²", "/refund #²", "/sheet #²"):
        assert await hostile.send(OWNER, OWNER, command) == [look_alike("#²", "²")]


async def test_numbers_beyond_64_bits_are_too_large_wherever_a_number_is_read(
    hostile: Harness,
) -> None:
    typed = "9223372036854775808"
    for user, chat, command in LOOK_ALIKE_COMMANDS:
        if "{n} 1" in command and "gift" in command:
            continue  # an amount is checked against the points limit first
        replies = await hostile.send(user, chat, command.format(n=typed))
        assert replies == [too_large(typed)], command


async def test_numbers_are_read_whole_never_cut_to_their_first_digits(hostile: Harness) -> None:
    # /leader_limit read the count with int(words[2][:6]): 1234567 became a limit of 123456
    assert await hostile.send(SAM, SAM, "/leader_limit @lee groupbuys 1234567") == [
        too_large("1234567")
    ]
    # and a count above the business limit is as much refused
    assert await hostile.send(SAM, SAM, "/leader_limit @lee groupbuys 1001") == [too_large("1001")]
    assert await hostile.send(SAM, SAM, "/leader_limit @lee") == ["Lee (1003)\nLimits: none."]
    assert await hostile.send(SAM, SAM, "/leader_limit @lee groupbuys 1000") == [
        "Done. Lee (1003)\nLimits: open group-buys at once: at most 1000."
    ]
    # a product or order id typed longer than any is too large, not another id cut from it
    long_id = "1" + "0" * 19
    for user, command in (
        (SAM, f"/product_translate {long_id} en Tea"),
        (MIA, f"/review {long_id} 5"),
    ):
        assert await hostile.send(user, user, command) == [too_large(long_id)], command
    # and a look-alike among them is named
    assert await hostile.send(MIA, MIA, "/review 1 ⑤") == [look_alike("⑤", "⑤")]
    # points and days typed in other scripts' digits passed str.isdecimal() and int() read
    # them ('١٠' as 10): now named as look-alikes
    assert await hostile.send(SAM, SAM, "/care_add new points=١٠ | Welcome!") == [
        look_alike("١٠", "١")
    ]
    assert await hostile.send(SAM, SAM, "/campaign_new Fair | welcome=١٠ code=fair26") == [
        look_alike("١٠", "١")
    ]


async def test_a_refused_number_is_answered_in_the_language_chosen_in_the_bot(
    hostile: Harness,
) -> None:
    # given Mia, whose Telegram speaks English, chose 简体中文 in the bot
    await hostile.send(MIA, MIA, "/language")
    picker = hostile.emulator.last_bot_message(MIA)
    await hostile.press(MIA, MIA, picker.message_id, index=1)  # 简体中文
    # when she types a digit look-alike, or a number beyond 64 bits
    look = await hostile.send(MIA, MIA, "/gift @lee ²")
    large = await hostile.send(MIA, MIA, "/gift 99999999999999999999999999 5")
    # then each refusal is in the language she chose, not Telegram's
    assert look == ["“²”不是我能读懂的数字：“²”只是看起来像数字。请用 0-9 输入数字。"]
    assert large == ["99999999999999999999999999这个数字太大了，请检查后重新发送。"]


def test_stored_group_ids_are_read_through_the_validation_layer() -> None:
    # a page names the groups a row lists by their ids; '١٠٠٤' (Arabic-Indic digits) passed
    # str.isdecimal() and int() read it as 1004
    names = Names(groups={1004: "Tea Lovers", -1001: "Coffee"})
    zone = ZoneInfo("UTC")
    assert cell("chat_id", "1004 -1001", {}, "en", zone, names=names) == "Tea Lovers, Coffee"
    assert cell("chat_id", "١٠٠٤ ²", {}, "en", zone, names=names) == ""
    assert cell("chat_id", "9" * 30, {}, "en", zone, names=names) == ""


def test_dashboard_templates_escape_what_they_are_given_and_refuse_unknown_names() -> None:
    # every page is rendered from bot/web/templates/: text that reaches a template is escaped
    # there (the period a reader typed, a group's title), and a name the template does not
    # get is an error rather than an empty string
    i18n = I18n(path=Path(__file__).parent.parent / "locales", default_locale="en")
    with i18n.context(), i18n.use_locale("en"):
        form = filters(
            period=INJECTIONS[4], community="", communities=[(-1001, INJECTIONS[3])], error="<b>"
        )
    assert "<script>" not in form and "&lt;script&gt;" in form
    assert "<a href" not in form and "&lt;a href=" in form
    assert '<p class="error">&lt;b&gt;</p>' in form
    with pytest.raises(UndefinedError):
        render("message.html", title="t", text="x")  # no lang, no style


@pytest.mark.parametrize(
    "command",
    ["/stats {p}", "/audit {p}", "/statement {p}", "/referral_stats {p}", "/export {p}"],
)
@pytest.mark.parametrize("period", ["9999-12-31", "2026-01-01..9999-12-31", "0001-01-01"])
async def test_a_period_past_the_years_the_bot_knows_is_refused_with_its_usage(
    hostile: Harness, command: str, period: str
) -> None:
    # when staff ask for figures over a period that ends in year 9999 (or starts in year 1)
    replies = await hostile.send(OWNER, OWNER, command.format(p=period))
    # then they get the command's own explanation of periods, not an apology
    apology = hostile.runtime.i18n.gettext(APOLOGY, locale="en")
    assert replies and apology not in replies
    assert any("7d" in reply for reply in replies), replies


async def test_a_deadline_beyond_any_date_is_refused_as_unreadable(hostile: Harness) -> None:
    apology = hostile.runtime.i18n.gettext(APOLOGY, locale="zh_Hans")
    for deadline in ("9999999999d", "99999999d", "9999-12-31 23:59"):
        replies = await hostile.send(LEE, TEA, f"/groupbuy 1 {deadline} min=2")
        assert replies and apology not in replies and deadline.split()[0] in replies[0], replies


# ---------------------------------------------------------------- the web server's input ---


async def raw_request(
    url: str, headers: list[tuple[bytes, bytes]], body: bytes | None = None
) -> int:
    """POST `body` (GET without one) with header bytes exactly as given (a client library
    would refuse or re-encode non-ASCII ones); returns the status code."""
    parts = urlsplit(url)
    body = b"" if body is None else body
    method = "GET" if not body else "POST"
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        head = [
            f"{method} {parts.path} HTTP/1.1".encode(),
            f"Host: {parts.netloc}".encode(),
            f"Content-Length: {len(body)}".encode(),
            b"Connection: close",
            *(name + b": " + value for name, value in headers),
        ]
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()
        await writer.wait_closed()


NON_ASCII = ("sécret".encode(), "秘密".encode(), b"\xff\xfe", "s3cret-token\u200b".encode())


async def test_a_non_ascii_webhook_secret_is_refused_never_a_500(harness: Harness) -> None:
    app = create_webhook_app(harness.runtime, path="/tg/hook", secret=SECRET)
    update = json.dumps(harness.emulator.send_message(MIA, MIA, "/start")).encode()
    async with served(app) as base:
        for secret in NON_ASCII:
            status = await raw_request(
                f"{base}/tg/hook", [(SECRET_HEADER.encode(), secret)], update
            )
            assert status == 401, secret
        # and the right secret is still taken
        ok = await raw_request(
            f"{base}/tg/hook", [(SECRET_HEADER.encode(), SECRET.encode())], update
        )
        assert ok == 200


async def test_deeply_nested_or_broken_json_to_the_webhook_is_a_400(harness: Harness) -> None:
    app = create_webhook_app(harness.runtime, path="/tg/hook", secret=SECRET)
    header = [(SECRET_HEADER.encode(), SECRET.encode())]
    bodies = (
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the parser's recursion
        b'{"update_id": 1, "message": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        b"\xff\xfe{}",  # not UTF-8
        b'{"update_id": 99999999999999999999}',  # beyond 64 bits
        b'{"update_id": "\xc2\xb2"}',  # '²'
        b"[1, 2]",
    )
    async with served(app) as base:
        for body in bodies:
            assert await raw_request(f"{base}/tg/hook", header, body) == 400, body[:40]


async def test_non_ascii_init_data_hash_or_session_cookie_is_refused_never_a_500(
    harness: Harness,
) -> None:
    app = create_webhook_app(harness.runtime, path="/tg/hook", secret=SECRET)
    now = harness.clock()
    good = init_data(SAM, "Sam", signed_at=now)
    forged = (
        good.rsplit("hash=", 1)[0] + "hash=" + quote("é" * 64),  # decodes to non-ASCII
        good.rsplit("hash=", 1)[0] + "hash=" + quote("²" * 64),
        good + "&hash=" + "0" * 64,  # two hashes
        good.replace("Sam", "S\u00e4m"),  # non-ASCII in the raw field
    )
    async with served(app) as base, aiohttp.ClientSession() as http:
        for data in forged:
            async with http.post(f"{base}{PREFIX}/auth", data={"init_data": data}) as response:
                assert response.status == 400, data
        for cookie in (*NON_ASCII, b"1004.99999999999.abc", "١٠٠٤.9.x".encode()):
            header = (b"Cookie", COOKIE.encode() + b"=" + cookie)
            assert await raw_request(f"{base}{PREFIX}/", [header]) == 401, cookie


async def test_a_digit_look_alike_in_the_dashboards_member_search_finds_nobody(
    harness: Harness,
) -> None:
    # given Mia is known (the dashboard's member search matches an id typed in full)
    await harness.send(MIA, MIA, "/start")
    async with harness.session() as session:
        for typed in ("²", "١٠٠٤", str(MIA)):
            # when staff search the members for it (int('²') raised: a 500 on the page)
            found = await session.execute(select(Member.id).where(search_condition(typed)))
            # then only the ASCII id finds her
            assert found.scalars().all() == ([MIA] if typed.isascii() else []), typed
