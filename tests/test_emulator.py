"""Tests of the local Telegram Bot API emulator, driven by the real aiogram Bot over HTTP."""

from __future__ import annotations

import asyncio
import re
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.methods import DeleteEphemeralMessage, EditEphemeralMessageText
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberMember,
    ChatMemberOwner,
    EphemeralMessageParameters,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputPollOption,
    KeyboardButton,
    LabeledPrice,
    Message,
    ReplyKeyboardMarkup,
    ReplyParameters,
    Update,
)
from aiogram.utils import markdown
from aiohttp import web

from tgemu import DROPPED, EMULATOR_TOKEN, TIMEOUT, Emulator
from tgemu.html import HtmlParseError, find_bot_commands, parse_html, utf16_len
from tgemu.spec import Bound, get_spec, parse_bound, parse_charset

ALICE = 1001
BOB = 1002
CAROL = 1003
GROUP = -1001234567890


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def emulator(clock: FakeClock) -> AsyncIterator[Emulator]:
    emu = Emulator(clock=clock, validate_responses=True)
    await emu.start()
    emu.add_user(ALICE, "Alice", username="alice")
    emu.add_user(BOB, "Bob", language_code="ru")
    try:
        yield emu
    finally:
        await emu.stop()
    assert emu.errors == []


@pytest.fixture
async def bot(emulator: Emulator) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))
    client = Bot(
        token=EMULATOR_TOKEN,
        session=session,
        default=DefaultBotProperties(parse_mode="HTML"),
    )
    try:
        yield client
    finally:
        await client.session.close()


async def raw_call(
    emulator: Emulator,
    method: str,
    data: dict[str, Any] | aiohttp.FormData | None = None,
    *,
    json_body: dict[str, Any] | None = None,
    token: str = EMULATOR_TOKEN,
    http_method: str = "POST",
    params: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    url = f"{emulator.base_url}/bot{token}/{method}"
    async with (
        aiohttp.ClientSession() as session,
        session.request(http_method, url, data=data, json=json_body, params=params) as resp,
    ):
        return resp.status, await resp.json()


def start_chat(emulator: Emulator, user_id: int = ALICE) -> None:
    """The user writes to the bot (so the bot may answer) and the update is discarded."""
    emulator.send_message(user_id, user_id, "hi")
    emulator.pop_updates()


def png(width: int, height: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", width, height) + b"\0" * 20


# ---------------------------------------------------------------------------------- spec ----
def test_documented_limits_are_parsed_from_descriptions() -> None:
    spec = get_spec()
    assert spec.bound("sendMessage", "text") == Bound(1, 4096, "characters", after_entities=True)
    assert spec.bound("InlineKeyboardButton", "callback_data") == Bound(1, 64, "bytes")
    assert spec.bound("sendPoll", "question") == Bound(1, 300, "characters")
    assert spec.bound("sendPoll", "options") == Bound(1, 12, "items")
    assert spec.bound("answerCallbackQuery", "text") == Bound(0, 200, "characters")
    assert spec.bound("BotCommand", "command") == Bound(1, 32, "characters")
    assert spec.bound("BotCommand", "description") == Bound(1, 256, "characters")
    assert spec.bound("sendInvoice", "payload") == Bound(1, 128, "bytes")
    assert spec.bound("sendInvoice", "title") == Bound(1, 32, "characters")
    assert spec.bound("setMyCommands", "commands") == Bound(None, 100, "items")
    assert spec.bound("getUpdates", "limit") == Bound(1, 100, "value")
    assert spec.bound("sendPhoto", "caption") == Bound(0, 1024, "characters", after_entities=True)
    assert spec.bound("sendMessage", "chat_id") is None
    # the parser is generic, not a table
    assert parse_bound("A JSON-serialized list of 2-12 answer options", ["Array of String"]) == (
        Bound(2, 12, "items")
    )
    assert parse_bound("Payload, 1-128 Bytes", ["String"]) == Bound(1, 128, "bytes")
    assert parse_bound("Poll id; 1-5 characters", ["Integer"]) is None
    rule = parse_charset("1-256 characters. Only characters A-Z, a-z, 0-9, _ and - are allowed.")
    assert rule is not None
    assert rule[0].fullmatch("Secret_token-1")
    assert not rule[0].fullmatch("bad token!")
    assert get_spec().method_name("SENDmessage") == "sendMessage"


def test_every_implemented_method_exists_in_the_spec() -> None:
    emulator = Emulator()
    spec = get_spec()
    assert set(emulator.supported_methods) <= set(spec.methods)
    for name in ("getMe", "getUpdates", "sendMessage", "editMessageText", "sendPoll", "stopPoll"):
        assert name in emulator.supported_methods


# ---------------------------------------------------------------------------------- html ----
def test_html_parser_entities_and_utf16_offsets() -> None:
    text, entities = parse_html('<b>a😀</b> <i>b<u>c</u></i> <a href="https://example.com">l</a>')
    assert text == "a😀 bc l"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 3},
        {"type": "italic", "offset": 4, "length": 2},
        {"type": "underline", "offset": 5, "length": 1},
        {"type": "text_link", "offset": 7, "length": 1, "url": "https://example.com"},
    ]
    assert utf16_len("a😀") == 3

    text, entities = parse_html('<pre><code class="language-python">x = 1</code></pre>')
    assert (text, entities) == (
        "x = 1",
        [{"type": "pre", "offset": 0, "length": 5, "language": "python"}],
    )
    _, entities = parse_html(
        '<blockquote expandable>q</blockquote><span class="tg-spoiler">s</span>'
        '<tg-spoiler>t</tg-spoiler><tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
        "<s>x</s><code>y</code>"
    )
    assert [e["type"] for e in entities] == [
        "expandable_blockquote",
        "spoiler",
        "spoiler",
        "custom_emoji",
        "strikethrough",
        "code",
    ]
    assert parse_html("&lt;script&gt; &amp; &quot;q&quot; &#65;&#x42;") == ('<script> & "q" AB', [])
    # Telegram keeps a bare "&" and unknown entities literally; strict mode rejects them
    assert parse_html("Tom & Jerry &nbsp;") == ("Tom & Jerry &nbsp;", [])
    with pytest.raises(HtmlParseError, match="byte offset 4"):
        parse_html("Tom & Jerry", strict=True)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("<script>alert(1)</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("é<x>", 'Unsupported start tag "x" at byte offset 2'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("a <b", "Unclosed start tag at byte offset 2"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ('<a href="x" target>y</a>', "Expected equal sign in declaration"),
    ],
)
def test_html_parser_rejects_malformed_markup(source: str, error: str) -> None:
    with pytest.raises(HtmlParseError) as info:
        parse_html(source)
    assert error in str(info.value)


def test_bot_command_detection() -> None:
    text = "/start and /help@community_bot, not a/b or /"
    assert find_bot_commands(text) == [
        {"type": "bot_command", "offset": 0, "length": 6},
        {"type": "bot_command", "offset": 11, "length": 19},
    ]


# ------------------------------------------------------------------------- basic methods ----
async def test_get_me(bot: Bot, emulator: Emulator) -> None:
    me = await bot.get_me()
    assert me.id == 123456789
    assert me.is_bot
    assert me.username == "community_bot"
    assert emulator.calls_of("getMe") == [{}]


async def test_send_message_stores_history_with_parsed_html(bot: Bot, emulator: Emulator) -> None:
    update = emulator.send_message(ALICE, ALICE, "/start@community_bot now")
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 20}]
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Join", callback_data="join:1")],
            [InlineKeyboardButton(text="Site", url="https://example.com")],
        ]
    )
    sent = await bot.send_message(
        ALICE, "  <b>Group buy</b> for <i>coffee</i> 😀 /help  ", reply_markup=keyboard
    )
    assert sent.text == "Group buy for coffee 😀 /help"
    stored = emulator.last_bot_message(ALICE)
    assert stored.message_id == sent.message_id
    assert stored.text == "Group buy for coffee 😀 /help"
    assert stored.html == "  <b>Group buy</b> for <i>coffee</i> 😀 /help  "
    assert stored.entities == [
        {"type": "bold", "offset": 0, "length": 9},
        {"type": "italic", "offset": 14, "length": 6},
        {"type": "bot_command", "offset": 24, "length": 5},
    ]
    assert stored.kind == "text"
    assert stored.button_texts == ["Join", "Site"]
    assert stored.buttons[0][0]["callback_data"] == "join:1"
    history = emulator.messages(ALICE)
    assert [m.text for m in history] == ["/start@community_bot now", stored.text]
    assert not history[0].from_bot
    assert emulator.calls_of("sendMessage")[0]["reply_markup"] == keyboard.model_dump(
        exclude_none=True
    )
    with pytest.raises(AssertionError, match="the bot sent no message"):
        emulator.last_bot_message(BOB)


async def test_reply_keyboard_and_json_body_and_query_string(emulator: Emulator) -> None:
    start_chat(emulator)
    status, body = await raw_call(
        emulator,
        "sendMessage",
        json_body={
            "chat_id": ALICE,
            "text": "choose",
            "reply_markup": {"keyboard": [[{"text": "A"}, {"text": "B"}]], "resize_keyboard": True},
        },
    )
    assert status == 200, body
    assert "reply_markup" not in body["result"]  # Telegram only echoes inline keyboards
    stored = emulator.last_bot_message(ALICE)
    assert stored.reply_markup is not None
    assert stored.reply_markup["keyboard"] == [[{"text": "A"}, {"text": "B"}]]
    assert stored.buttons == []

    status, body = await raw_call(
        emulator,
        "SENDMESSAGE",
        http_method="GET",
        params={"chat_id": str(ALICE), "text": "from the query string"},
    )
    assert status == 200, body
    assert emulator.last_bot_message(ALICE).text == "from the query string"
    assert emulator.calls[-1][0] == "sendMessage"


# ------------------------------------------------------------------------- error answers ----
async def test_unauthorized_and_unknown_method(emulator: Emulator) -> None:
    assert await raw_call(emulator, "getMe", token="42:WRONG") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert await raw_call(emulator, "sendTelepathy", {"chat_id": "1"}) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )


async def test_missing_required_fields(emulator: Emulator) -> None:
    start_chat(emulator)
    status, body = await raw_call(emulator, "sendMessage", {"text": "hi"})
    assert status == 400
    assert body == {
        "ok": False,
        "error_code": 400,
        "description": 'Bad Request: field "chat_id" is required',
    }
    status, body = await raw_call(emulator, "sendMessage", {"chat_id": str(ALICE)})
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")
    status, body = await raw_call(
        emulator, "sendMessage", {"chat_id": str(ALICE), "text": "<b> </b>", "parse_mode": "HTML"}
    )
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")
    markup = '{"inline_keyboard": [[{"callback_data": "x"}]]}'
    status, body = await raw_call(
        emulator, "sendMessage", {"chat_id": str(ALICE), "text": "x", "reply_markup": markup}
    )
    assert body["description"] == (
        'Bad Request: field "reply_markup.inline_keyboard[0][0].text" is required'
    )
    markup = '{"inline_keyboard": [[{"text": "only text"}]]}'
    status, body = await raw_call(
        emulator, "sendMessage", {"chat_id": str(ALICE), "text": "x", "reply_markup": markup}
    )
    assert status == 400
    assert body["description"].startswith(
        'Bad Request: field "reply_markup.inline_keyboard[0][0]" must use exactly one of the '
        "fields url, callback_data"
    )


async def test_a_parameter_the_spec_does_not_define_is_refused(emulator: Emulator) -> None:
    start_chat(emulator)
    # a parameter the Bot API removed (7.0), in a form body and in a JSON body
    form = {"chat_id": str(ALICE), "text": "hi", "disable_web_page_preview": "true"}
    json_body = {"chat_id": ALICE, "text": "hi", "disable_web_page_preview": True}
    for status, body in (
        await raw_call(emulator, "sendMessage", form),
        await raw_call(emulator, "sendMessage", json_body=json_body),
    ):
        assert (status, body) == (
            400,
            {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: unknown parameter "
                "'disable_web_page_preview' for method sendMessage",
            },
        )
    assert emulator.bot_messages(ALICE) == []
    # its replacement is taken
    status, body = await raw_call(
        emulator,
        "sendMessage",
        json_body={"chat_id": ALICE, "text": "hi", "link_preview_options": {"is_disabled": True}},
    )
    assert status == 200 and body["ok"] is True
    # an emulator told to ignore unknown parameters keeps them, as Telegram may
    emulator.reject_unknown_params = False
    status, body = await raw_call(emulator, "sendMessage", form)
    assert status == 200 and body["ok"] is True


async def test_wrong_types(emulator: Emulator) -> None:
    start_chat(emulator)
    cases: list[tuple[str, dict[str, str], str]] = [
        (
            "editMessageText",
            {"chat_id": str(ALICE), "message_id": "abc", "text": "x"},
            'field "message_id" must be of type Integer',
        ),
        (
            "sendMessage",
            {"chat_id": str(ALICE), "text": "x", "disable_notification": "maybe"},
            'field "disable_notification" must be of type Boolean',
        ),
        (
            "sendMessage",
            {"chat_id": str(ALICE), "text": "x", "reply_markup": "{not json"},
            'field "reply_markup" must be a JSON-serialized InlineKeyboardMarkup',
        ),
        (
            "sendMessage",
            {"chat_id": str(ALICE), "text": "x", "reply_markup": '{"inline_keyboard": {}}'},
            'field "reply_markup.inline_keyboard" must be of type Array of Array',
        ),
        ("getUpdates", {"limit": "0"}, 'field "limit" must be between 1 and 100'),
        (
            "setMyCommands",
            {"commands": "[]", "scope": '{"type": "everyone"}'},
            'field "scope.type" must be one of: all_chat_administrators',
        ),
        (
            "sendMessage",
            {"chat_id": str(ALICE), "text": "x", "parse_mode": "HTML5"},
            "unsupported parse_mode",
        ),
    ]
    for method, data, expected in cases:
        status, body = await raw_call(emulator, method, data)
        assert status == 400, (method, data, body)
        assert body["description"].startswith("Bad Request: ")
        assert expected in body["description"], (method, data, body)


async def test_text_limit_counts_characters_after_entity_parsing(
    bot: Bot, emulator: Emulator
) -> None:
    start_chat(emulator)
    await bot.send_message(ALICE, "<b>" + "x" * 4096 + "</b>")
    await bot.send_message(ALICE, "&lt;" * 4096)  # 16384 characters of HTML, 4096 after parsing
    assert emulator.last_bot_message(ALICE).text == "<" * 4096
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ALICE, "<i>" + "x" * 4097 + "</i>")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(ALICE, BufferedInputFile(png(1, 1), "p.png"), caption="c" * 1025)
    status, body = await raw_call(
        emulator, "answerCallbackQuery", {"callback_query_id": "1", "text": "t" * 201}
    )
    assert status == 400
    assert body["description"] == 'Bad Request: field "text" must be 0-200 characters'


async def test_callback_data_limit_counts_bytes(bot: Bot, emulator: Emulator) -> None:
    start_chat(emulator)

    def keyboard(data: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(text="ok", callback_data="ok"),
                    InlineKeyboardButton(text="big", callback_data=data),
                ]
            ]
        )

    await bot.send_message(ALICE, "fits", reply_markup=keyboard("é" * 32))  # 64 bytes
    with pytest.raises(TelegramBadRequest) as info:
        await bot.send_message(ALICE, "too big", reply_markup=keyboard("é" * 32 + "x"))  # 65 bytes
    assert info.value.message == (
        'Bad Request: field "reply_markup.inline_keyboard[0][1].callback_data" must be 1-64 bytes'
    )
    assert [m.text for m in emulator.bot_messages(ALICE)] == ["fits"]


async def test_html_errors_are_reported_like_telegram(bot: Bot, emulator: Emulator) -> None:
    start_chat(emulator)
    with pytest.raises(TelegramBadRequest) as info:
        await bot.send_message(ALICE, "<script>alert(1)</script>")
    assert info.value.message == (
        'Bad Request: can\'t parse entities: Unsupported start tag "script" at byte offset 0'
    )
    with pytest.raises(TelegramBadRequest, match="can't parse entities: Unsupported start tag"):
        await bot.send_message(ALICE, "price < 5")
    with pytest.raises(TelegramBadRequest, match="Can't find end tag corresponding to start tag"):
        await bot.send_message(ALICE, "<b>unclosed")
    assert emulator.bot_messages(ALICE) == []

    await bot.send_message(ALICE, "&lt;script&gt; " + markdown.html_decoration.quote("<b> & co"))
    assert emulator.last_bot_message(ALICE).text == "<script> <b> & co"
    await bot.send_message(ALICE, "Tom & Jerry")  # Telegram keeps a bare "&"
    assert emulator.last_bot_message(ALICE).text == "Tom & Jerry"
    emulator.strict_html = True
    with pytest.raises(TelegramBadRequest, match="unescaped"):
        await bot.send_message(ALICE, "Tom & Jerry")


# ------------------------------------------------------------------------ chat permissions ---
async def test_chat_access_errors(bot: Bot, emulator: Emulator) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "hello?")
    with pytest.raises(TelegramForbiddenError, match="bot can't initiate conversation with a user"):
        await bot.send_message(BOB, "hello")
    start_chat(emulator, BOB)
    await bot.send_message(BOB, "hello")
    blocked = emulator.block_bot(BOB)
    assert blocked is not None
    assert blocked["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(BOB, "still there?")

    emulator.add_group(GROUP, "Coffee lovers", creator=ALICE, members=[BOB])
    with pytest.raises(TelegramForbiddenError, match="bot is not a member of the supergroup chat"):
        await bot.send_message(GROUP, "hi all")
    emulator.add_bot_to_group(GROUP, ALICE)
    await bot.send_message(GROUP, "hi all")
    emulator.remove_bot_from_group(GROUP, ALICE)
    with pytest.raises(TelegramForbiddenError, match="bot was kicked from the supergroup chat"):
        await bot.send_message(GROUP, "hi again")
    with pytest.raises(ValueError, match="can't see messages"):
        emulator.send_message(BOB, GROUP, "anyone?")

    # a user message in a group whose bot membership was never set implies the bot is there
    emulator.add_group(GROUP - 1, "Tea lovers", creator=BOB)
    emulator.send_message(BOB, GROUP - 1, "/help")
    await bot.send_message(GROUP - 1, "here")


async def test_replies(bot: Bot, emulator: Emulator) -> None:
    update = emulator.send_message(ALICE, ALICE, "question")
    message_id = update["message"]["message_id"]
    answer = await bot.send_message(
        ALICE, "answer", reply_parameters=ReplyParameters(message_id=message_id)
    )
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "question"
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(ALICE, "x", reply_parameters=ReplyParameters(message_id=999))
    await bot.send_message(
        ALICE,
        "x",
        reply_parameters=ReplyParameters(message_id=999, allow_sending_without_reply=True),
    )
    update = emulator.send_message(ALICE, ALICE, "thanks", reply_to_message_id=answer.message_id)
    assert update["message"]["reply_to_message"]["text"] == "answer"


# ----------------------------------------------------------------------- edits & deletes ----
async def test_edit_and_delete(bot: Bot, emulator: Emulator) -> None:
    start_chat(emulator)
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="a")]]
    )
    sent = await bot.send_message(ALICE, "<b>Hi</b>", reply_markup=keyboard)
    with pytest.raises(TelegramBadRequest) as info:
        await bot.edit_message_text(
            text="<b>Hi</b>", chat_id=ALICE, message_id=sent.message_id, reply_markup=keyboard
        )
    assert info.value.message == (
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message"
    )
    edited = await bot.edit_message_text(
        text="<i>Hi</i>", chat_id=ALICE, message_id=sent.message_id, reply_markup=keyboard
    )
    assert isinstance(edited, Message)
    assert edited.edit_date is not None
    stored = emulator.last_bot_message(ALICE)
    assert (stored.edit_count, stored.entities[0]["type"]) == (1, "italic")
    await bot.edit_message_text(text="<i>Hi</i>", chat_id=ALICE, message_id=sent.message_id)
    assert stored.buttons == []  # editing without reply_markup removes the keyboard
    await bot.edit_message_reply_markup(
        chat_id=ALICE, message_id=sent.message_id, reply_markup=keyboard
    )
    assert (stored.edit_count, stored.button_texts) == (3, ["A"])
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=ALICE, message_id=999)
    user_message_id = emulator.messages(ALICE)[0].message_id
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text(text="x", chat_id=ALICE, message_id=user_message_id)

    assert await bot.delete_message(ALICE, sent.message_id)
    assert emulator.messages(ALICE)[-1].deleted
    assert emulator.bot_messages(ALICE) == []
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(ALICE, sent.message_id)


# --------------------------------------------------------------------- callback queries -----
async def test_press_button_and_answer_callback_query(bot: Bot, emulator: Emulator) -> None:
    start_chat(emulator)
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Yes", callback_data="vote:yes")],
            [
                InlineKeyboardButton(text="No", callback_data="vote:no"),
                InlineKeyboardButton(text="Docs", url="https://example.com"),
            ],
        ]
    )
    sent = await bot.send_message(ALICE, "Join?", reply_markup=keyboard)
    update = emulator.press_button(ALICE, ALICE, sent.message_id, callback_data="vote:no")
    query = update["callback_query"]
    assert query["data"] == "vote:no"
    assert query["from"]["id"] == ALICE
    assert query["message"]["message_id"] == sent.message_id
    by_index = emulator.press_button(ALICE, ALICE, sent.message_id, index=0)
    assert by_index["callback_query"]["data"] == "vote:yes"
    with pytest.raises(ValueError, match="no button"):
        emulator.press_button(ALICE, ALICE, sent.message_id, callback_data="vote:maybe")
    with pytest.raises(ValueError, match="no callback_data"):
        emulator.press_button(ALICE, ALICE, sent.message_id, index=2)
    forged = emulator.press_button(
        ALICE, ALICE, sent.message_id, callback_data="admin:drop_tables", force=True
    )
    assert forged["callback_query"]["data"] == "admin:drop_tables"
    assert [u["update_id"] for u in emulator.pop_updates()] == [
        update["update_id"],
        by_index["update_id"],
        forged["update_id"],
    ]

    assert await bot.answer_callback_query(query["id"], text="Counted!", show_alert=True)
    assert emulator.callback_answers[query["id"]]["text"] == "Counted!"
    assert emulator.callback_answers[query["id"]]["show_alert"] is True
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query["id"])
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("123")


# -------------------------------------------------------------------------------- updates ----
async def test_get_updates_offset_limit_and_long_polling(bot: Bot, emulator: Emulator) -> None:
    first = emulator.send_message(ALICE, ALICE, "one")
    second = emulator.send_message(ALICE, ALICE, "two")
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [first["update_id"], second["update_id"]]
    assert updates[0].message is not None
    assert updates[0].message.text == "one"
    updates = await bot.get_updates(offset=first["update_id"] + 1)
    assert [u.update_id for u in updates] == [second["update_id"]]
    assert await bot.get_updates(offset=second["update_id"] + 1) == []
    assert emulator.pending_updates == []

    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(offset=second["update_id"] + 1, timeout=5))
    await asyncio.sleep(0.05)
    assert not poll.done()
    third = emulator.send_message(ALICE, ALICE, "three")
    updates = await asyncio.wait_for(poll, 2)
    assert [u.update_id for u in updates] == [third["update_id"]]
    assert time.monotonic() - started < 2

    more = [emulator.send_message(ALICE, ALICE, f"m{i}") for i in range(3)]
    updates = await bot.get_updates(offset=third["update_id"] + 1, limit=2)
    assert [u.update_id for u in updates] == [u["update_id"] for u in more[:2]]
    await emulator.wait_processed(third["update_id"], timeout=0.1)
    with pytest.raises(asyncio.TimeoutError):
        await emulator.wait_processed(more[0]["update_id"], timeout=0.05)

    # allowed_updates filters updates created afterwards; dropped ones count as processed
    await bot.get_updates(offset=more[-1]["update_id"] + 1, allowed_updates=["callback_query"])
    skipped = emulator.send_message(ALICE, ALICE, "ignored")
    await emulator.wait_processed(skipped["update_id"], timeout=0.1)
    assert emulator.pending_updates == []


async def test_polling_dispatcher_and_wait_processed(bot: Bot, emulator: Emulator) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def on_start(message: Message) -> None:
        assert message.from_user is not None
        name = markdown.html_decoration.quote(message.from_user.first_name)
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Like", callback_data="like")]]
        )
        await message.answer(f"Hello, <b>{name}</b>!", reply_markup=keyboard)

    @dispatcher.callback_query(F.data == "like")
    async def on_like(query: CallbackQuery) -> None:
        await query.answer("Liked!")
        assert isinstance(query.message, Message)
        await query.message.edit_text("You liked it")

    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            handle_as_tasks=False,
            handle_signals=False,
            close_bot_session=False,
            polling_timeout=1,
        )
    )
    try:
        emulator.add_user(CAROL, "Carol <3")
        update = emulator.send_message(CAROL, CAROL, "/start")
        await emulator.wait_processed(update["update_id"], timeout=5)
        greeting = emulator.last_bot_message(CAROL)
        assert greeting.text == "Hello, Carol <3!"
        assert greeting.html == "Hello, <b>Carol &lt;3</b>!"
        update = emulator.press_button(CAROL, CAROL, greeting.message_id, callback_data="like")
        await emulator.wait_processed(update["update_id"], timeout=5)
        query_id = update["callback_query"]["id"]
        assert emulator.callback_answers[query_id]["text"] == "Liked!"
        assert greeting.text == "You liked it"
        assert greeting.edit_count == 1
    finally:
        await dispatcher.stop_polling()
        await polling


async def test_webhook_delivery(bot: Bot, emulator: Emulator) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    answer_status = 200

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        if answer_status != 200:
            return web.Response(status=answer_status)
        # aiogram can answer a webhook with a method call; Telegram executes it
        return web.json_response({"method": "sendMessage", "chat_id": ALICE, "text": "via reply"})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        with pytest.raises(TelegramBadRequest, match="secret_token"):
            await bot.set_webhook(url, secret_token="not allowed!")
        assert await bot.set_webhook(url, secret_token="s3cret_Token-1")
        assert emulator.webhook is not None
        assert emulator.webhook["secret_token"] == "s3cret_Token-1"
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()

        update = emulator.send_message(ALICE, ALICE, "hello webhook")
        assert await emulator.wait_webhook_delivered(update["update_id"], timeout=5) == 200
        assert received == [("s3cret_Token-1", update)]
        assert emulator.last_bot_message(ALICE).text == "via reply"

        answer_status = 500
        failed = emulator.send_message(ALICE, ALICE, "boom")
        assert await emulator.wait_webhook_delivered(failed["update_id"], timeout=5) == 500
        info = await bot.get_webhook_info()
        assert info.url == url
        assert info.last_error_message == "Wrong response from the webhook: 500"

        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
        assert await bot.get_updates() == []
    finally:
        await runner.cleanup()


# ------------------------------------------------------------------------------ commands ----
async def test_set_my_commands_by_scope_and_language(bot: Bot, emulator: Emulator) -> None:
    emulator.add_group(GROUP, "Group", creator=ALICE)
    default = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="help", description="Help"),
    ]
    assert await bot.set_my_commands(default)
    russian = [BotCommand(command="start", description="Начать")]
    assert await bot.set_my_commands(russian, language_code="ru")
    group = [BotCommand(command="deal", description="Today's deal")]
    assert await bot.set_my_commands(group, scope=BotCommandScopeChat(chat_id=GROUP))
    await bot.set_my_commands(group, scope=BotCommandScopeAllGroupChats(), language_code="en")

    assert emulator.commands[('{"type": "default"}', "")] == [
        {"command": "start", "description": "Start"},
        {"command": "help", "description": "Help"},
    ]
    assert emulator.commands[('{"type": "default"}', "ru")] == [
        {"command": "start", "description": "Начать"}
    ]
    assert emulator.commands_for({"type": "chat", "chat_id": GROUP}) == [
        {"command": "deal", "description": "Today's deal"}
    ]
    assert emulator.commands_for({"type": "all_group_chats"}, "en")[0]["command"] == "deal"
    fetched = await bot.get_my_commands(language_code="ru")
    assert [c.description for c in fetched] == ["Начать"]
    assert await bot.delete_my_commands(language_code="ru")
    assert await bot.get_my_commands(language_code="ru") == []

    with pytest.raises(TelegramBadRequest) as info:
        await bot.set_my_commands([BotCommand(command="Start", description="x")])
    assert "commands[0].command" in info.value.message
    assert "lowercase English letters, digits and underscores" in info.value.message
    with pytest.raises(TelegramBadRequest, match=r"commands\[0\]\.command\" must be 1-32"):
        await bot.set_my_commands([BotCommand(command="c" * 33, description="x")])
    with pytest.raises(TelegramBadRequest, match="must be 1-256 characters"):
        await bot.set_my_commands([BotCommand(command="ok", description="d" * 257)])
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.set_my_commands(default, scope=BotCommandScopeChat(chat_id=-100999))


# --------------------------------------------------------------------------------- groups ---
async def test_chat_administrators_and_members(bot: Bot, emulator: Emulator) -> None:
    emulator.add_group(GROUP, "Makers", creator=ALICE, admins=[BOB], members=[CAROL])
    emulator.add_bot_to_group(GROUP, ALICE, status="administrator")
    admins = await bot.get_chat_administrators(GROUP)
    assert [type(a) for a in admins] == [
        ChatMemberOwner,
        ChatMemberAdministrator,
        ChatMemberAdministrator,
    ]
    assert [a.user.id for a in admins] == [ALICE, BOB, 123456789]
    member = await bot.get_chat_member(GROUP, CAROL)
    assert isinstance(member, ChatMemberMember)
    assert await bot.get_chat_member_count(GROUP) == 4
    emulator.set_member_status(GROUP, CAROL, "left")
    assert (await bot.get_chat_member(GROUP, CAROL)).status == "left"
    chat = await bot.get_chat(GROUP)
    assert (chat.type, chat.title) == ("supergroup", "Makers")
    link = await bot.create_chat_invite_link(GROUP, name="spring", member_limit=10)
    assert link.invite_link.startswith("https://t.me/+")
    assert link.member_limit == 10
    with pytest.raises(TelegramBadRequest, match="user not found"):
        await bot.get_chat_member(GROUP, 999)
    assert await bot.leave_chat(GROUP)
    with pytest.raises(TelegramForbiddenError, match="not a member"):
        await bot.send_message(GROUP, "bye")


async def test_joining_through_an_invite_link(bot: Bot, emulator: Emulator) -> None:
    emulator.add_group(GROUP, "Makers", creator=ALICE, members=[BOB])
    emulator.add_user(CAROL, "Carol")
    emulator.add_bot_to_group(GROUP, ALICE, status="administrator")
    emulator.pop_updates()
    # names are limited to 32 characters, as the spec says
    with pytest.raises(TelegramBadRequest, match="0-32 characters"):
        await bot.create_chat_invite_link(GROUP, name="x" * 33)
    link = await bot.create_chat_invite_link(GROUP, name="ref-abc")
    # without chat_member in allowed_updates (the default) only the service message comes
    emulator.join_by_link(CAROL, link.invite_link)
    updates = emulator.pop_updates()
    assert [next(k for k in u if k != "update_id") for u in updates] == ["message"]
    assert updates[0]["message"]["new_chat_members"][0]["id"] == CAROL
    assert (await bot.get_chat_member(GROUP, CAROL)).status == "member"
    # a member cannot join again; once out, and with chat_member asked for, both updates come
    with pytest.raises(ValueError, match="already in chat"):
        emulator.join_by_link(CAROL, link.invite_link)
    emulator.set_member_status(GROUP, CAROL, "left")
    await bot.get_updates(allowed_updates=["message", "chat_member"], timeout=0)
    emulator.join_by_link(CAROL, link.invite_link)
    joined, service = emulator.pop_updates()
    update = Update.model_validate(joined, context={"bot": bot})
    assert update.chat_member is not None and update.chat_member.invite_link is not None
    assert update.chat_member.from_user.id == CAROL
    assert (
        update.chat_member.old_chat_member.status,
        update.chat_member.new_chat_member.status,
    ) == (
        "left",
        "member",
    )
    assert update.chat_member.invite_link.invite_link == link.invite_link
    assert update.chat_member.invite_link.name == "ref-abc"
    assert "new_chat_members" in service["message"]
    # unknown links, and banned users, cannot join
    with pytest.raises(ValueError, match="no invite link"):
        emulator.join_by_link(CAROL, "https://t.me/+nope")
    emulator.set_member_status(GROUP, CAROL, "kicked")
    with pytest.raises(ValueError, match="banned"):
        emulator.join_by_link(CAROL, link.invite_link)


# ----------------------------------------------------------------------------------- polls ---
async def test_poll_flow(bot: Bot, emulator: Emulator) -> None:
    emulator.add_group(GROUP, "Voters", creator=ALICE, members=[BOB, CAROL])
    emulator.add_bot_to_group(GROUP, ALICE)
    emulator.pop_updates()
    sent = await bot.send_poll(
        GROUP,
        "Which <b>flavour</b>?",
        [InputPollOption(text="Vanilla"), InputPollOption(text="Chocolate"), "Mint"],
        is_anonymous=False,
    )
    assert sent.poll is not None
    poll_id = sent.poll.id
    assert sent.poll.question == "Which flavour?"
    assert [o.text for o in sent.poll.options] == ["Vanilla", "Chocolate", "Mint"]
    assert emulator.last_bot_message(GROUP).kind == "poll"

    answer = emulator.answer_poll(ALICE, poll_id, [1])
    assert answer["poll_answer"]["option_ids"] == [1]
    assert answer["poll_answer"]["user"]["id"] == ALICE
    emulator.answer_poll(BOB, poll_id, [1])
    emulator.answer_poll(CAROL, poll_id, [0])
    retracted = emulator.answer_poll(CAROL, poll_id, [])
    assert retracted["poll_answer"]["option_ids"] == []
    assert len(emulator.pop_updates()) == 4
    with pytest.raises(ValueError, match="single answer"):
        emulator.answer_poll(CAROL, poll_id, [0, 1])

    stopped = await bot.stop_poll(GROUP, sent.message_id)
    assert stopped.is_closed
    assert [o.voter_count for o in stopped.options] == [0, 2, 0]
    assert stopped.total_voter_count == 2
    with pytest.raises(TelegramBadRequest, match="poll has already been closed"):
        await bot.stop_poll(GROUP, sent.message_id)
    with pytest.raises(ValueError, match="closed"):
        emulator.answer_poll(CAROL, poll_id, [0])

    anonymous = await bot.send_poll(GROUP, "Anonymous?", ["yes", "no"])
    assert anonymous.poll is not None
    update = emulator.answer_poll(BOB, anonymous.poll.id, [0])
    assert update["poll"]["options"][0]["voter_count"] == 1

    with pytest.raises(TelegramBadRequest, match=r'field "options" must contain 1-12 items'):
        await bot.send_poll(GROUP, "Too many?", [str(i) for i in range(13)])
    with pytest.raises(TelegramBadRequest, match=r'field "question" must be 1-300 characters'):
        await bot.send_poll(GROUP, "q" * 301, ["a", "b"])


# ----------------------------------------------------------------------------- rate limits ---
async def test_rate_limits_with_fake_clock(bot: Bot, emulator: Emulator, clock: FakeClock) -> None:
    emulator.enforce_rate_limits = True
    start_chat(emulator)
    await bot.send_message(ALICE, "first")
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(ALICE, "second")
    assert info.value.retry_after >= 1
    assert "Too Many Requests: retry after" in info.value.message
    clock.now += 0.5
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(ALICE, "still too soon")
    assert info.value.retry_after == 1
    clock.now += 0.5
    await bot.send_message(ALICE, "second, later")
    assert [m.text for m in emulator.bot_messages(ALICE)] == ["first", "second, later"]

    emulator.add_group(GROUP, "Busy", creator=ALICE)
    emulator.add_bot_to_group(GROUP, ALICE)
    clock.now += 1
    for i in range(20):
        await bot.send_message(GROUP, f"deal {i}")
        clock.now += 0.1
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(GROUP, "deal 21")
    assert 57 <= info.value.retry_after <= 60
    clock.now += 60
    await bot.send_message(GROUP, "deal 21")

    # 30 messages per second overall
    clock.now += 100
    for user_id in range(2000, 2031):
        emulator.add_user(user_id, f"U{user_id}")
        start_chat(emulator, user_id)
    for user_id in range(2000, 2030):
        status, _ = await emulator.dispatch("sendMessage", {"chat_id": user_id, "text": "x"})
        assert status == 200
    status, body = await emulator.dispatch("sendMessage", {"chat_id": 2030, "text": "x"})
    assert (status, body["parameters"]) == (429, {"retry_after": 1})

    emulator.enforce_rate_limits = False
    await bot.send_message(GROUP, "unlimited")


async def test_an_unmetered_token_spends_nothing_of_the_bots_rate_limits(
    bot: Bot, emulator: Emulator
) -> None:
    """A baseline measured beside the bot (another token of the same bot) is never limited
    and leaves the bot's budget whole; a token the emulator does not know stays refused."""
    emulator.enforce_rate_limits = True
    start_chat(emulator)
    baseline_token = EMULATOR_TOKEN.split(":")[0] + ":baseline"
    baseline = Bot(
        baseline_token, session=AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))
    )
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await baseline.send_message(ALICE, "not yet known")
        emulator.unmetered_tokens.add(baseline_token)
        for i in range(5):
            await baseline.send_message(ALICE, f"baseline {i}")
        await bot.send_message(ALICE, "the bot's first")
        with pytest.raises(TelegramRetryAfter):
            await bot.send_message(ALICE, "the bot's second, too soon")
        await baseline.send_message(ALICE, "baseline, still unlimited")
    finally:
        await baseline.session.close()
    assert [m.text for m in emulator.bot_messages(ALICE)] == [
        *(f"baseline {i}" for i in range(5)),
        "the bot's first",
        "baseline, still unlimited",
    ]


# -------------------------------------------------------------------------------- faults ----
async def test_fault_injection(bot: Bot, emulator: Emulator) -> None:
    start_chat(emulator)
    emulator.inject_fault("sendMessage", status=500)
    with pytest.raises(TelegramServerError, match="Internal Server Error"):
        await bot.send_message(ALICE, "lost")
    await bot.send_message(ALICE, "delivered")
    assert [m.text for m in emulator.bot_messages(ALICE)] == ["delivered"]

    emulator.inject_fault(status=502, count=2)
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Bad Gateway"):
            await bot.get_me()
    await bot.get_me()

    emulator.inject_fault("sendmessage", status=429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(ALICE, "flood")
    assert info.value.retry_after == 7

    emulator.inject_fault("getMe", delay=0.3)
    timeout = aiohttp.ClientTimeout(total=0.05)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.post(f"{emulator.base_url}/bot{EMULATOR_TOKEN}/getMe")
    emulator.inject_fault("getMe", status=200, delay=0.05)
    started = time.monotonic()
    assert (await bot.get_me()).id == 123456789
    assert time.monotonic() - started >= 0.05
    with pytest.raises(ValueError, match="unknown Bot API method"):
        emulator.inject_fault("sendTelepathy")


async def test_a_timeout_fault_never_answers_and_never_acts(bot: Bot, emulator: Emulator) -> None:
    start_chat(emulator)
    emulator.inject_fault("sendMessage", status=TIMEOUT)
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await bot.send_message(ALICE, "lost on the way", request_timeout=1)
    await bot.send_message(ALICE, "delivered")
    assert [m.text for m in emulator.bot_messages(ALICE)] == ["delivered"]
    assert emulator.faults_served == [("sendMessage", TIMEOUT)]


async def test_a_fault_after_the_call_acts_and_loses_only_the_answer(
    bot: Bot, emulator: Emulator
) -> None:
    start_chat(emulator)
    # a 502 after the call: the message is there, the client was told it failed
    emulator.inject_fault("sendMessage", status=502, after=True)
    with pytest.raises(TelegramServerError):
        await bot.send_message(ALICE, "delivered, answer lost")
    # no answer after the call: the message is there, the client gave up waiting
    emulator.inject_fault("sendMessage", status=TIMEOUT, after=True)
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await bot.send_message(ALICE, "delivered, never answered", request_timeout=1)
    assert [m.text for m in emulator.bot_messages(ALICE)] == [
        "delivered, answer lost",
        "delivered, never answered",
    ]
    assert emulator.faults_served == [("sendMessage", 502), ("sendMessage", TIMEOUT)]


async def test_a_dropped_fault_closes_the_connection_unanswered(
    bot: Bot, emulator: Emulator
) -> None:
    start_chat(emulator)
    # not done: the connection closes at once, which the client sees as a network error
    emulator.inject_fault("sendMessage", status=DROPPED)
    with pytest.raises(TelegramNetworkError, match="ServerDisconnectedError"):
        await bot.send_message(ALICE, "lost on the way")
    # done, then the connection closes: the message is there, the client never heard
    emulator.inject_fault("sendMessage", status=DROPPED, after=True)
    with pytest.raises(TelegramNetworkError, match="ServerDisconnectedError"):
        await bot.send_message(ALICE, "delivered, never answered")
    # and the next call is answered on a new connection
    await bot.send_message(ALICE, "delivered")
    assert [m.text for m in emulator.bot_messages(ALICE)] == [
        "delivered, never answered",
        "delivered",
    ]
    assert emulator.faults_served == [("sendMessage", DROPPED), ("sendMessage", DROPPED)]


async def test_random_faults_replay_from_their_seed(emulator: Emulator) -> None:
    start_chat(emulator)

    async def run(seed: int) -> list[int]:
        emulator.inject_random_faults(seed=seed, rate=0.5, statuses=(429, 500, 502, TIMEOUT))
        statuses = []
        for _ in range(40):
            status, _body = await emulator.dispatch("getMe", {})
            statuses.append(status)
        emulator.clear_faults()
        return statuses

    first, again, other = await run(7), await run(7), await run(8)
    assert first == again != other
    assert set(first) == {200, 429, 500, 502, 504}  # 504: a timeout seen without a client
    assert (await emulator.dispatch("getMe", {}))[0] == 200  # cleared


# ---------------------------------------------------------------------------------- files ---
async def test_photo_upload_and_download(bot: Bot, emulator: Emulator) -> None:
    start_chat(emulator)
    image = png(640, 480)
    sent = await bot.send_photo(
        ALICE, BufferedInputFile(image, "deal.png"), caption="<b>Deal</b> of the day"
    )
    assert sent.photo is not None
    size = sent.photo[-1]
    assert (size.width, size.height, size.file_size) == (640, 480, len(image))
    assert sent.caption == "Deal of the day"
    stored = emulator.last_bot_message(ALICE)
    assert (stored.kind, stored.text) == ("photo", "Deal of the day")
    assert stored.entities == [{"type": "bold", "offset": 0, "length": 4}]

    file = await bot.get_file(size.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None
    assert downloaded.read() == image
    assert emulator.file_bytes(size.file_id) == image

    again = await bot.send_photo(ALICE, size.file_id)
    assert again.photo is not None
    assert again.photo[-1].file_id == size.file_id
    await bot.send_photo(ALICE, "https://example.com/picture.jpg")
    with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
        await bot.send_photo(ALICE, "no-such-file-id")

    form = aiohttp.FormData()
    form.add_field("chat_id", str(ALICE))
    form.add_field("photo", png(8, 9), filename="direct.png", content_type="image/png")
    status, body = await raw_call(emulator, "sendPhoto", form)  # file sent under the field name
    assert status == 200, body
    assert body["result"]["photo"][-1]["width"] == 8

    album = await bot.send_media_group(
        ALICE,
        [
            InputMediaPhoto(media=BufferedInputFile(png(2, 2), "a.png"), caption="<b>A</b>"),
            InputMediaPhoto(media=size.file_id),
        ],
    )
    assert len(album) == 2
    assert album[0].media_group_id == album[1].media_group_id
    assert album[0].caption == "A"

    document = await bot.send_document(
        ALICE, BufferedInputFile(b"a,b\n1,2\n", "orders.csv"), caption="Orders"
    )
    assert document.document is not None
    assert document.document.file_name == "orders.csv"
    assert emulator.last_bot_message(ALICE).kind == "document"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{emulator.base_url}/file/bot42:WRONG/{file.file_path}") as resp,
    ):
        assert resp.status == 401


async def test_a_photo_message_is_edited_by_its_caption_as_telegram_does(
    bot: Bot, emulator: Emulator
) -> None:
    # given a photo with a caption and a button, and a text message
    start_chat(emulator)
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Join", callback_data="join")]]
    )
    card = await bot.send_photo(
        ALICE,
        BufferedInputFile(png(64, 48), "card.png"),
        caption="<b>Tea</b> 0/2",
        reply_markup=keyboard,
    )
    assert card.photo is not None
    text = await bot.send_message(ALICE, "plain")
    # editMessageText on the photo is refused: it has no text
    with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
        await bot.edit_message_text("<b>Tea</b> 1/2", chat_id=ALICE, message_id=card.message_id)
    # editMessageCaption on the text message is refused: it has no caption
    with pytest.raises(TelegramBadRequest, match="there is no caption in the message to edit"):
        await bot.edit_message_caption(chat_id=ALICE, message_id=text.message_id, caption="x")
    # the same caption and buttons again are "not modified"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_caption(
            chat_id=ALICE,
            message_id=card.message_id,
            caption="<b>Tea</b> 0/2",
            reply_markup=keyboard,
        )
    # a caption over 1024 characters is refused
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.edit_message_caption(
            chat_id=ALICE, message_id=card.message_id, caption="c" * 1025
        )
    # a new caption keeps the photo; without reply_markup the buttons go, as in Telegram
    edited = await bot.edit_message_caption(
        chat_id=ALICE, message_id=card.message_id, caption="<b>Tea</b> 2/2 formed"
    )
    assert isinstance(edited, Message) and edited.photo == card.photo
    assert edited.caption == "Tea 2/2 formed" and edited.reply_markup is None
    stored = emulator.last_bot_message(ALICE)
    assert stored.message_id == text.message_id  # an edit adds no message
    photo = next(m for m in emulator.messages(ALICE) if m.message_id == card.message_id)
    assert (photo.kind, photo.text, photo.edit_count) == ("photo", "Tea 2/2 formed", 1)
    assert photo.html == "<b>Tea</b> 2/2 formed" and photo.button_texts == []


async def test_a_user_sends_the_bot_a_photo(bot: Bot, emulator: Emulator) -> None:
    # when Alice sends a photo with a caption
    image = png(1280, 960)
    update = emulator.send_photo(ALICE, ALICE, image, filename="tea.png", caption="Our tea")
    message = update["message"]
    # then the bot gets a photo message, whose file it can download
    assert message["caption"] == "Our tea" and "text" not in message
    size = message["photo"][-1]
    assert (size["width"], size["height"]) == (1280, 960)
    downloaded = await bot.download(size["file_id"])
    assert downloaded is not None and downloaded.read() == image
    # and can send the same photo on by its file id
    again = await bot.send_photo(ALICE, size["file_id"])
    assert again.photo is not None and again.photo[-1].file_id == size["file_id"]
    # an album needs at least two items, as in Telegram
    with pytest.raises(TelegramBadRequest):
        await bot.send_media_group(ALICE, [InputMediaPhoto(media=size["file_id"])])


# ------------------------------------------------------------------------------- payments ---
async def test_invoice_pre_checkout_flow(bot: Bot, emulator: Emulator) -> None:
    start_chat(emulator)
    invoice = await bot.send_invoice(
        ALICE,
        title="Coffee beans",
        description="1 kg of fresh beans",
        payload="order:42",
        currency="XTR",
        prices=[LabeledPrice(label="Beans", amount=250)],
    )
    assert invoice.invoice is not None
    assert invoice.invoice.total_amount == 250
    assert emulator.last_bot_message(ALICE).kind == "invoice"

    update = emulator.pay_invoice(ALICE, ALICE, invoice.message_id)
    query = update["pre_checkout_query"]
    assert (query["invoice_payload"], query["total_amount"], query["currency"]) == (
        "order:42",
        250,
        "XTR",
    )
    with pytest.raises(ValueError, match="not answered"):
        emulator.complete_payment(query["id"])
    assert await bot.answer_pre_checkout_query(query["id"], ok=True)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_pre_checkout_query(query["id"], ok=True)
    paid = emulator.complete_payment(query["id"])
    payment = paid["message"]["successful_payment"]
    assert payment["invoice_payload"] == "order:42"
    charge_id = payment["telegram_payment_charge_id"]
    second_query = emulator.pay_invoice(ALICE, ALICE, invoice.message_id)["pre_checkout_query"]
    assert await bot.answer_pre_checkout_query(second_query["id"], ok=True)
    second = emulator.complete_payment(second_query["id"])
    assert second["message"]["successful_payment"]["telegram_payment_charge_id"] != charge_id
    assert emulator.messages(ALICE)[-1].kind == "service"

    assert await bot.refund_star_payment(ALICE, charge_id)
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(ALICE, charge_id)

    declined = emulator.pay_invoice(ALICE, ALICE, invoice.message_id)["pre_checkout_query"]
    await bot.answer_pre_checkout_query(declined["id"], ok=False, error_message="Sold out")
    with pytest.raises(ValueError, match="Sold out"):
        emulator.complete_payment(declined["id"])
    with pytest.raises(TelegramBadRequest, match=r'field "payload" must be 1-128 bytes'):
        await bot.send_invoice(
            ALICE,
            "T",
            "D",
            payload="é" * 65,
            currency="XTR",
            prices=[LabeledPrice(label="x", amount=1)],
        )
    with pytest.raises(TelegramBadRequest, match=r'field "title" must be 1-32 characters'):
        await bot.send_invoice(
            ALICE,
            "t" * 33,
            "D",
            payload="p",
            currency="XTR",
            prices=[LabeledPrice(label="x", amount=1)],
        )


# --------------------------------------------------------------------------------- misc -----
async def test_unsupported_method_and_misc(bot: Bot, emulator: Emulator) -> None:
    start_chat(emulator)
    status, body = await raw_call(emulator, "sendDice", {"chat_id": str(ALICE)})
    assert (status, body["description"]) == (
        400,
        "Bad Request: method not supported by the emulator",
    )
    assert await bot.send_chat_action(ALICE, "typing")
    menu = await raw_call(emulator, "setChatMenuButton", {"menu_button": '{"type": "commands"}'})
    assert menu == (200, {"ok": True, "result": True})
    assert emulator.menu_buttons[None] == {"type": "commands"}
    sent = await bot.send_message(ALICE, "copy me")
    copied = await bot.copy_message(ALICE, ALICE, sent.message_id)
    assert emulator.last_bot_message(ALICE).message_id == copied.message_id
    forwarded = await bot.forward_message(ALICE, ALICE, sent.message_id)
    assert forwarded.forward_origin is not None
    keyboard = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="Menu")]], resize_keyboard=True)
    await bot.send_message(ALICE, "menu", reply_markup=keyboard)
    assert emulator.last_bot_message(ALICE).reply_markup == {
        "keyboard": [[{"text": "Menu"}]],
        "resize_keyboard": True,
    }
    assert re.fullmatch(r"\d+:.+", EMULATOR_TOKEN)


# --------------------------------------------------------------- ephemeral messages (10.2) ---
def test_the_spec_is_bot_api_10_3_and_new_methods_return_true() -> None:
    spec = get_spec()
    assert spec.version == "Bot API 10.3"
    # 10.2+ entries state their result in prose only: "Returns True on success"
    assert spec.methods["deleteEphemeralMessage"]["returns"] == ["Boolean"]
    assert spec.methods["editEphemeralMessageText"]["returns"] == ["Boolean"]
    names = {f["name"] for f in spec.fields("sendMessage")}
    assert {"ephemeral_message_parameters", "receiver_user_id", "callback_query_id"} <= names


async def _card_in_group(bot: Bot, emulator: Emulator) -> Message:
    emulator.add_user(CAROL, "Carol")
    emulator.add_group(GROUP, "Makers", creator=ALICE, members=[BOB, CAROL])
    emulator.add_bot_to_group(GROUP, ALICE)
    emulator.pop_updates()
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Join", callback_data="join")]]
    )
    return await bot.send_message(GROUP, "Tea, 3 joined", reply_markup=keyboard)


async def test_an_ephemeral_message_is_seen_by_its_receiver_alone(
    bot: Bot, emulator: Emulator
) -> None:
    # given a card in a group, and Bob taps its button
    card = await _card_in_group(bot, emulator)
    query = emulator.press_button(BOB, GROUP, card.message_id, callback_data="join")
    query_id = query["callback_query"]["id"]
    # when the bot answers Bob with an ephemeral message tied to his callback query
    button = InlineKeyboardButton(text="Open the bot", url="https://t.me/community_bot?start=x")
    sent = await bot.send_message(
        GROUP,
        "You joined: <b>2</b>",
        ephemeral_message_parameters=EphemeralMessageParameters(
            receiver_user_id=BOB, callback_query_id=query_id
        ),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
    )
    # then Telegram's answer carries the ephemeral id and the receiver
    assert sent.ephemeral_message_id == 1
    assert sent.receiver_user is not None and sent.receiver_user.id == BOB
    # and Bob sees it in the group, nobody else does
    [only] = emulator.ephemeral_messages(GROUP, BOB)
    assert (only.text, only.button_texts) == ("You joined: 2", ["Open the bot"])
    assert only in emulator.messages(GROUP, viewer=BOB)
    assert only not in emulator.messages(GROUP, viewer=CAROL)
    assert only not in emulator.messages(GROUP)
    assert emulator.last_bot_message(GROUP).message_id == card.message_id
    assert emulator.ephemeral_messages(GROUP, CAROL) == []
    # the 10.2 form (top-level receiver_user_id, now deprecated) does the same
    legacy = await bot.send_message(GROUP, "Second note", receiver_user_id=CAROL)
    assert legacy.ephemeral_message_id == 2
    assert [m.text for m in emulator.ephemeral_messages(GROUP, CAROL)] == ["Second note"]
    # and an ephemeral message can be edited and deleted by its receiver and id
    assert await bot(
        EditEphemeralMessageText(
            chat_id=GROUP, receiver_user_id=BOB, ephemeral_message_id=1, text="Edited"
        )
    )
    assert emulator.ephemeral_messages(GROUP, BOB)[0].text == "Edited"
    assert await bot(
        DeleteEphemeralMessage(chat_id=GROUP, receiver_user_id=BOB, ephemeral_message_id=1)
    )
    assert emulator.ephemeral_messages(GROUP, BOB) == []
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot(
            DeleteEphemeralMessage(chat_id=GROUP, receiver_user_id=CAROL, ephemeral_message_id=1)
        )


async def test_ephemeral_messages_are_checked_like_telegram_does(
    bot: Bot, emulator: Emulator
) -> None:
    card = await _card_in_group(bot, emulator)
    emulator.add_user(4004, "Dave")
    start_chat(emulator, ALICE)
    query = emulator.press_button(BOB, GROUP, card.message_id, callback_data="join")
    query_id = query["callback_query"]["id"]

    def to(receiver: int, **options: Any) -> EphemeralMessageParameters:
        return EphemeralMessageParameters(receiver_user_id=receiver, **options)

    cases: list[tuple[int, EphemeralMessageParameters, str]] = [
        (ALICE, to(ALICE), "only to group and supergroup chats"),
        (GROUP, to(4004), "receiver user is not a member of the chat"),
        (GROUP, to(9999), "receiver user not found"),
        (GROUP, to(CAROL, callback_query_id=query_id), "sent by another user"),
        (GROUP, to(BOB, callback_query_id="777"), "query is too old"),
        (GROUP, to(BOB, replace_callback_query_message=True), "needs a callback_query_id"),
    ]
    for chat_id, options, error in cases:
        with pytest.raises(TelegramBadRequest, match=error):
            await bot.send_message(chat_id, "hi", ephemeral_message_parameters=options)
    with pytest.raises(TelegramBadRequest, match="can't be used together"):
        await bot.send_message(
            GROUP, "hi", ephemeral_message_parameters=to(BOB), receiver_user_id=BOB
        )
    status, body = await raw_call(
        emulator, "sendMessage", {"chat_id": str(GROUP), "text": "x", "callback_query_id": query_id}
    )
    assert (status, body["description"]) == (
        400,
        "Bad Request: receiver_user_id must be specified for ephemeral messages",
    )
    assert emulator.ephemeral_messages(GROUP, BOB) == []
    # replacing the card: Bob sees the ephemeral message in its place, the others the card
    await bot.send_message(
        GROUP,
        "Only for you",
        ephemeral_message_parameters=to(
            BOB, callback_query_id=query_id, replace_callback_query_message=True
        ),
    )
    assert [m.text for m in emulator.bot_messages(GROUP, viewer=BOB)] == ["Only for you"]
    assert [m.text for m in emulator.bot_messages(GROUP, viewer=CAROL)] == ["Tea, 3 joined"]
    # a button under an ephemeral message is pressed by its receiver only, and its callback
    # query cannot replace a message
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Undo", callback_data="undo")]]
    )
    sent = await bot.send_message(
        GROUP, "Undo?", ephemeral_message_parameters=to(BOB), reply_markup=keyboard
    )
    assert sent.ephemeral_message_id is not None
    with pytest.raises(ValueError, match="only its receiver"):
        emulator.press_button(
            CAROL, GROUP, 0, callback_data="undo", ephemeral_message_id=sent.ephemeral_message_id
        )
    pressed = emulator.press_button(
        BOB, GROUP, 0, callback_data="undo", ephemeral_message_id=sent.ephemeral_message_id
    )
    assert pressed["callback_query"]["message"]["ephemeral_message_id"] == sent.ephemeral_message_id
    with pytest.raises(TelegramBadRequest, match="must be False for callback queries"):
        await bot.send_message(
            GROUP,
            "again",
            ephemeral_message_parameters=to(
                BOB,
                callback_query_id=pressed["callback_query"]["id"],
                replace_callback_query_message=True,
            ),
        )


async def test_opening_links_deep_links_and_invite_links(bot: Bot, emulator: Emulator) -> None:
    emulator.add_user(CAROL, "Carol")
    emulator.add_group(GROUP, "Makers", creator=ALICE, members=[BOB])
    emulator.add_bot_to_group(GROUP, ALICE, status="administrator")
    emulator.pop_updates()
    # a deep link into the bot opens the private chat with /start and its payload
    [started] = emulator.open_url(CAROL, "https://t.me/community_bot?start=ref_abc")
    assert started["message"]["text"] == "/start ref_abc"
    assert started["message"]["chat"]["id"] == CAROL
    # an invite link joins the group
    link = await bot.create_chat_invite_link(GROUP, name="ref-abc")
    emulator.open_url(CAROL, link.invite_link)
    assert (await bot.get_chat_member(GROUP, CAROL)).status == "member"
    with pytest.raises(ValueError, match="does not lead to this bot"):
        emulator.open_url(CAROL, "https://t.me/other_bot?start=x")
    with pytest.raises(ValueError, match="not a Telegram link"):
        emulator.open_url(CAROL, "https://example.com/")


async def test_a_stars_subscription_update_is_a_valid_update(bot: Bot, emulator: Emulator) -> None:
    body = emulator.update_subscription(ALICE, "plan-gold", "canceled")
    update = Update.model_validate(body, context={"bot": bot})
    assert update.subscription is not None
    assert (update.subscription.user.id, update.subscription.state) == (ALICE, "canceled")
    with pytest.raises(ValueError, match="state"):
        emulator.update_subscription(ALICE, "plan-gold", "paused")


async def test_a_stars_subscription_is_sold_renewed_failed_and_cancelled(
    bot: Bot, emulator: Emulator
) -> None:
    # a subscription link must be in Stars, for 30 days, at most 10000 Stars
    with pytest.raises(TelegramBadRequest, match="SUBSCRIPTION_PERIOD_INVALID"):
        await bot.create_invoice_link(
            title="Gold",
            description="Monthly",
            payload="plan-gold",
            currency="XTR",
            prices=[LabeledPrice(label="Gold", amount=300)],
            subscription_period=86400,
        )
    with pytest.raises(TelegramBadRequest, match="SUBSCRIPTION_PRICE_INVALID"):
        await bot.create_invoice_link(
            title="Gold",
            description="Monthly",
            payload="plan-gold",
            currency="XTR",
            prices=[LabeledPrice(label="Gold", amount=10001)],
            subscription_period=2592000,
        )
    link = await bot.create_invoice_link(
        title="Gold",
        description="Monthly",
        payload="plan-gold",
        currency="XTR",
        prices=[LabeledPrice(label="Gold", amount=300)],
        subscription_period=2592000,
    )
    # the user opens the link: the bot is asked first, then the first payment arrives
    asked = emulator.open_url(ALICE, link)[0]
    query_id = asked["pre_checkout_query"]["id"]
    await bot.answer_pre_checkout_query(query_id, ok=True)
    first = Update.model_validate(emulator.complete_payment(query_id), context={"bot": bot})
    assert first.message is not None and first.message.successful_payment is not None
    paid = first.message.successful_payment
    assert (paid.is_recurring, paid.is_first_recurring, paid.total_amount) == (True, True, 300)
    assert first.message.chat.id == ALICE
    charge = paid.telegram_payment_charge_id
    expires = paid.subscription_expiration_date
    assert expires is not None
    # a renewal is a new charge, one period later, not the first
    renewed = emulator.renew_subscription(charge)["message"]["successful_payment"]
    assert renewed["is_recurring"] is True and "is_first_recurring" not in renewed
    assert renewed["subscription_expiration_date"] == expires + 2592000
    assert renewed["telegram_payment_charge_id"] != charge
    # a failed renewal and the user's own cancellation come as `subscription` updates
    assert emulator.fail_subscription_renewal(charge)["subscription"]["state"] == "failed"
    assert emulator.cancel_subscription(charge)["subscription"]["state"] == "canceled"
    with pytest.raises(ValueError, match="cancelled by the user"):
        emulator.renew_subscription(charge)
    assert emulator.reenable_subscription(charge)["subscription"]["state"] == "active"
    # the bot cancels it (by any of its charges); the user may not turn it back on then
    with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
        await bot.edit_user_star_subscription(BOB, charge, is_canceled=True)
    assert await bot.edit_user_star_subscription(
        ALICE, renewed["telegram_payment_charge_id"], is_canceled=True
    )
    with pytest.raises(ValueError, match="cancelled by the bot"):
        emulator.renew_subscription(charge)
    with pytest.raises(ValueError, match="the bot cancelled"):
        emulator.reenable_subscription(charge)
    assert await bot.edit_user_star_subscription(ALICE, charge, is_canceled=False)
    assert emulator.reenable_subscription(charge)["subscription"]["state"] == "active"
