"""The emulated Telegram world: users, chats, message history, updates and Bot API methods."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import itertools
import json
import math
import mimetypes
import random
import secrets
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web

from .html import find_bot_commands, sort_entities, strip_text
from .server import create_app, read_multipart
from .spec import ApiError, Converter, Spec, UploadedFile, apply_parse_mode, bad_request, get_spec

__all__ = ["EMULATOR_TOKEN", "Emulator", "StoredMessage"]

EMULATOR_TOKEN = "123456789:EMULATOR-TOKEN-for-local-tests-only"

MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "restricted", "left", "kicked"})
_ACTIVE = frozenset({"creator", "administrator", "member", "restricted"})
_ADMINS = frozenset({"creator", "administrator"})
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
JOIN_REQUEST_WINDOW = 300  # seconds the bot may write to a user whose join request is pending
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
SUBSCRIPTION_PERIOD = 2592000  # the only subscription period Telegram takes (30 days)
SUBSCRIPTION_MAX_STARS = 10000  # the highest price of a Stars subscription
_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
# Bot API >= 10.3 (what recent aiogram validates) also requires this administrator right.
#: Telegram's stand-in senders of messages sent "as a chat": every anonymous admin of a group
#: writes as GroupAnonymousBot, every channel (writing in a group, or its posts forwarded into
#: its discussion group) as Channel_Bot; the chat itself is the message's ``sender_chat``.
GROUP_ANONYMOUS_BOT: dict[str, Any] = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
CHANNEL_BOT: dict[str, Any] = {
    "id": 136817688,
    "is_bot": True,
    "first_name": "Channel",
    "username": "Channel_Bot",
}
_EXTRA_ADMIN_RIGHTS = ("can_pin_messages", "can_send_welcome_messages")


def _now() -> int:
    return int(time.time())


@dataclass
class StoredMessage:
    """One message of a chat history, as the emulator keeps it."""

    message_id: int
    chat_id: int
    from_user: dict[str, Any]
    date: int
    text: str | None
    entities: list[dict[str, Any]]
    html: str | None
    reply_markup: dict[str, Any] | None
    kind: str
    raw: dict[str, Any]
    edit_count: int = 0
    deleted: bool = False
    #: For an ephemeral message (Bot API 10.2): the only user who sees it, its identifier among
    #: the chat's ephemeral messages, and the message it is shown in place of for that user.
    receiver_user_id: int | None = None
    ephemeral_message_id: int | None = None
    replaces_message_id: int | None = None

    @property
    def ephemeral(self) -> bool:
        return self.receiver_user_id is not None

    def visible_to(self, user_id: int | None) -> bool:
        """Whether ``user_id`` sees it in the chat (None: what every member sees)."""
        return self.receiver_user_id is None or self.receiver_user_id == user_id

    @property
    def buttons(self) -> list[list[dict[str, Any]]]:
        """Rows of the inline keyboard ([] when there is none)."""
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            return [list(row) for row in self.reply_markup["inline_keyboard"]]
        return []

    @property
    def button_texts(self) -> list[str]:
        return [str(button.get("text", "")) for row in self.buttons for button in row]

    @property
    def from_bot(self) -> bool:
        # a message sent as a chat comes from one of Telegram's stand-in bots, not the bot
        return bool(self.from_user.get("is_bot")) and "sender_chat" not in self.raw


@dataclass
class _Chat:
    id: int
    type: str
    title: str | None = None
    user: dict[str, Any] | None = None
    members: dict[int, str] = field(default_factory=dict)
    bot_status: str = "left"
    bot_status_changed: bool = False
    history: list[StoredMessage] = field(default_factory=list)
    by_id: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    pinned: list[int] = field(default_factory=list)
    invite_links: list[dict[str, Any]] = field(default_factory=list)
    invite_uses: dict[str, int] = field(default_factory=dict)  # joins through each link
    # pending join requests by user id: when each was sent (Unix time)
    join_requests: dict[int, int] = field(default_factory=dict)
    # ephemeral messages by (receiver, ephemeral_message_id); identifiers count per chat
    ephemeral: dict[tuple[int, int], StoredMessage] = field(default_factory=dict)
    next_ephemeral_id: int = 1

    def as_dict(self) -> dict[str, Any]:
        if self.type == "private" and self.user is not None:
            result: dict[str, Any] = {"id": self.id, "type": "private"}
            for key in ("first_name", "last_name", "username"):
                if self.user.get(key) is not None:
                    result[key] = self.user[key]
            return result
        return {"id": self.id, "type": self.type, "title": self.title or ""}

    @property
    def kind_name(self) -> str:
        return "supergroup chat" if self.type == "supergroup" else "group chat"


@dataclass
class _Poll:
    poll: dict[str, Any]
    chat_id: int
    message_id: int
    votes: dict[int, list[int]] = field(default_factory=dict)


@dataclass
class _CallbackQuery:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str | None
    answered: bool = False
    ephemeral_message_id: int | None = None  # pressed under an ephemeral message


@dataclass(frozen=True)
class _Ephemeral:
    receiver_user_id: int
    replaces_message_id: int | None  # the message it replaces for the receiver, if any


@dataclass
class _PreCheckout:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    currency: str
    total_amount: int
    payload: str
    answered: bool = False
    ok: bool = False
    error_message: str | None = None
    completed: bool = False
    shipping_option_id: str | None = None
    order_info: dict[str, Any] | None = None
    subscription_period: int = 0  # a subscription invoice link's period, in seconds


# seconds the bot has to answer a shipping query before Telegram gives up (as for the
# pre-checkout query: the client waits about 10 s and then shows an error)
SHIPPING_QUERY_SECONDS = 10.0


@dataclass
class _ShippingQuery:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    asked_at: float  # by the emulator's clock
    order_info: dict[str, Any]
    answered: bool = False
    ok: bool = False
    error_message: str | None = None
    options: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    mime_type: str
    file_name: str | None = None
    url: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None  # seconds, for a video


# a fault's status that means: no answer at all; the request hangs until the client gives up
# (its own timeout) and Telegram never acts on it
TIMEOUT = 0
# faults of a broken proxy in front of the Bot API (served over HTTP only; an in-process caller
# gets the 307): a redirect to the very URL asked (a loop), and a redirect to a location that
# is not a valid URL (it quotes the request's path, token included, as such a proxy would)
REDIRECT_LOOP = -1
INVALID_REDIRECT = -2
REDIRECTS = {REDIRECT_LOOP: "loop", INVALID_REDIRECT: "invalid"}
# a fault's status that also means no answer, without the wait: the connection is closed
# before any answer (a proxy or load balancer in between gave up). To the bot it is the same
# failure as a timeout (a network error after the request went out, so it may have been done),
# but it does not depend on the client's timeout being shorter than a busy machine's answers
DROPPED = -3


class _Timeout(Exception):
    """The call is never answered nor executed (see TIMEOUT)."""


class _Dropped(Exception):
    """The call is never answered nor executed: the connection closes (see DROPPED)."""


class _Redirect(Exception):
    """The call is answered with a redirect (see REDIRECT_LOOP) and not executed."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class _Fault:
    method: str | None
    status: int
    remaining: int
    retry_after: int | None
    delay: float
    description: str | None
    after: bool = False  # served once the call was carried out: done, but its answer is lost

    def error(self) -> ApiError:
        if self.status == 429:
            retry = self.retry_after if self.retry_after is not None else 1
            return ApiError(
                429,
                self.description or f"Too Many Requests: retry after {retry}",
                {"retry_after": retry},
            )
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Error"
        if self.description is None and 400 <= self.status < 500:
            return ApiError(self.status, f"{phrase}: injected fault")
        return ApiError(self.status, self.description or phrase)


@dataclass
class _RandomFaults:
    rng: random.Random
    rate: float
    statuses: tuple[int, ...]
    methods: frozenset[str] | None
    retry_after: int


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of PNG, GIF or JPEG data (None when unknown)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            length = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + length
    return None


def _inline_markup(markup: Any) -> dict[str, Any] | None:
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return markup
    return None


class Emulator:
    """A local Telegram Bot API server with an inspectable, scriptable world.

    Start it with :meth:`start`, point ``aiogram.Bot`` at ``TelegramAPIServer.from_base(
    emulator.base_url)``, inject user activity with :meth:`send_message`, :meth:`press_button`,
    :meth:`answer_poll` ... and inspect the result with :meth:`messages`, :attr:`calls` ...
    All methods must be called from the event loop thread that runs the server.
    """

    def __init__(
        self,
        *,
        token: str = EMULATOR_TOKEN,
        bot_username: str = "community_bot",
        bot_first_name: str = "Community Bot",
        clock: Callable[[], float] = time.monotonic,
        strict_html: bool = False,
        validate_responses: bool = False,
        reject_unknown_params: bool = True,
    ) -> None:
        bot_id_text, sep, secret = token.partition(":")
        if not (sep and bot_id_text.isdigit() and secret):
            raise ValueError("token must look like '<bot id>:<secret>'")
        self.token = token
        self.bot_user: dict[str, Any] = {
            "id": int(bot_id_text),
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.clock = clock
        self.enforce_rate_limits = False
        #: How many calls were answered 429 (rate limits enforced, or an injected fault).
        self.http_429 = 0
        #: Reject a bare ``&`` / unknown HTML entities (Telegram keeps them literally).
        self.strict_html = strict_html
        #: Check every result against the spec's return type (emulator self-test).
        self.validate_responses = validate_responses
        #: Refuse (400) a parameter the spec does not define for the method, as Telegram may.
        self.reject_unknown_params = reject_unknown_params
        self.webhook_timeout = 10.0
        self.base_url = ""

        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.pre_checkout_answers: dict[str, dict[str, Any]] = {}
        self.webhook: dict[str, Any] | None = None
        self.webhook_statuses: dict[int, int] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.bot_texts: dict[tuple[str, str], str] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        #: Stars subscriptions by their first charge id: user_id, payload, amount, period,
        #: expires (Unix time), canceled_by (None, "user" or "bot"), charges (every charge id)
        self.subscriptions: dict[str, dict[str, Any]] = {}
        #: invoice links made by createInvoiceLink, by link
        self.invoice_links: dict[str, dict[str, Any]] = {}
        #: Unexpected exceptions raised while handling calls (emulator bugs), newest last.
        self.errors: list[BaseException] = []

        self._users: dict[int, dict[str, Any]] = {}
        self._chats: dict[int, _Chat] = {}
        #: channels, kept apart from the chats the bot talks in (the bot is in none of them)
        self._channels: dict[int, _Chat] = {}
        self._started: set[int] = set()
        self._blocked: set[int] = set()
        self._polls: dict[str, _Poll] = {}
        self._callbacks: dict[str, _CallbackQuery] = {}
        self._pre_checkouts: dict[str, _PreCheckout] = {}
        self._shipping_queries: dict[str, _ShippingQuery] = {}
        self.shipping_answers: dict[str, dict[str, Any]] = {}
        self._invoices: dict[tuple[int, int], dict[str, Any]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._faults: list[_Fault] = []
        self._random_faults: _RandomFaults | None = None
        #: Called with (method, params) for every call before it is executed (tests use it to
        #: act at an exact point of a run, e.g. kill the bot process on its Nth message).
        self.call_watchers: list[Callable[[str, Mapping[str, Any]], None]] = []
        #: Faults served so far as (method, status), TIMEOUT (0) for a request never answered.
        self.faults_served: list[tuple[str, int]] = []
        self._ids = itertools.count(1)

        self._pending: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._max_offset = 0
        self._dropped: set[int] = set()
        self._allowed_updates: list[str] | None = None
        self._poll_ticket = 0
        self._changed = asyncio.Event()
        self._closing = False
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_error: tuple[int, str] | None = None

        self._rate_global: deque[float] = deque()
        self._rate_chats: dict[int, deque[float]] = {}

        self._runner: web.AppRunner | None = None
        self._impls: dict[str, Callable[[dict[str, Any]], Any]] = {
            name[len("_api_") :]: getattr(self, name)
            for name in dir(type(self))
            if name.startswith("_api_")
        }

    # ------------------------------------------------------------------ lifecycle ---------
    @property
    def spec(self) -> Spec:
        return get_spec()

    @property
    def supported_methods(self) -> list[str]:
        return sorted(self._impls)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the Bot API on ``host:port`` (0 = a free port); returns the base URL."""
        if self._runner is not None:
            return self.base_url
        self._closing = False
        runner = web.AppRunner(create_app(self), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"
        if self.webhook is not None:
            self._ensure_webhook_worker()
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; pending long polls are answered with an empty list."""
        self._closing = True
        self._notify()
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ the world ---------
    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        is_bot: bool = False,
    ) -> dict[str, Any]:
        """Create (or replace) a Telegram user; returns its User object."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        user: dict[str, Any] = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        if last_name is not None:
            user["last_name"] = last_name
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        self._users[user_id] = user
        chat = self._chats.get(user_id)
        if chat is not None:
            chat.user = user
        return user

    def add_group(
        self,
        chat_id: int,
        title: str,
        *,
        creator: int | None = None,
        admins: Iterable[int] = (),
        members: Iterable[int] = (),
        supergroup: bool = True,
    ) -> dict[str, Any]:
        """Create a group (negative id, -100... for supergroups); the bot is not a member yet."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative (supergroups look like -100...)")
        chat = _Chat(id=chat_id, type="supergroup" if supergroup else "group", title=title)
        self._chats[chat_id] = chat
        for user_id, status in itertools.chain(
            [(creator, "creator")] if creator is not None else [],
            ((uid, "administrator") for uid in admins),
            ((uid, "member") for uid in members),
        ):
            self._ensure_user(user_id)
            chat.members.setdefault(user_id, status)
        return chat.as_dict()

    def add_channel(
        self, chat_id: int, title: str, *, admins: Iterable[int] = ()
    ) -> dict[str, Any]:
        """Create a channel (-100... id) whose admins may write in groups as the channel."""
        if chat_id >= 0:
            raise ValueError("channel ids are negative (they look like -100...)")
        if chat_id in self._chats:
            raise ValueError(f"chat {chat_id} exists already")
        channel = _Chat(id=chat_id, type="channel", title=title)
        for user_id in admins:
            self._ensure_user(user_id)
            channel.members[user_id] = "administrator"
        self._channels[chat_id] = channel
        return channel.as_dict()

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """Set a member's status (creator/administrator/member/left/kicked/restricted)."""
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        chat = self._group(chat_id)
        if user_id == self.bot_user["id"]:
            chat.bot_status = status
            chat.bot_status_changed = True
            return
        self._ensure_user(user_id)
        chat.members[user_id] = status

    def get_member_status(self, chat_id: int, user_id: int) -> str:
        """A user's status in a group (left when never in it)."""
        return self._group(chat_id).members.get(user_id, "left")

    def join_by_link(self, user_id: int, invite_link: str) -> list[dict[str, Any]]:
        """The user joins a group through an invite link made by createChatInviteLink: a
        chat_member update carrying the link (delivered only when the bot asked for chat_member
        updates, as Telegram does for administrators), then the "joined" service message."""
        user = self._user(user_id)
        found = [
            (chat, link)
            for chat in self._chats.values()
            for link in chat.invite_links
            if link["invite_link"] == invite_link
        ]
        if not found:
            raise ValueError(f"no invite link {invite_link!r}")
        chat, link = found[0]
        if link["is_revoked"] or link.get("expire_date", _now() + 1) <= _now():
            raise ValueError(f"invite link {invite_link!r} is revoked or expired")
        if link["creates_join_request"]:
            raise ValueError("links that need approval are not emulated")
        used = chat.invite_uses.get(invite_link, 0)
        if link.get("member_limit") and used >= link["member_limit"]:
            raise ValueError(f"invite link {invite_link!r} reached its member limit")
        status = chat.members.get(user_id, "left")
        if status == "kicked":
            raise ValueError(f"user {user_id} is banned in chat {chat.id}")
        if status in _ACTIVE:
            raise ValueError(f"user {user_id} is already in chat {chat.id}")
        chat.members[user_id] = "member"
        chat.invite_uses[invite_link] = used + 1
        updates = []
        if chat.bot_status in _ADMINS:  # only administrators hear about other members
            updates.append(
                self._enqueue(
                    {
                        "chat_member": {
                            "chat": chat.as_dict(),
                            "from": copy.deepcopy(user),
                            "date": _now(),
                            "old_chat_member": self._member(user, status),
                            "new_chat_member": self._member(user, "member"),
                            "invite_link": copy.deepcopy(link),
                        }
                    }
                )
            )
        if chat.bot_status in _ACTIVE:
            message = self._new_message(
                chat,
                user,
                kind="new_chat_members",
                content={"new_chat_members": [copy.deepcopy(user)]},
                text=None,
                entities=[],
                html=None,
                markup=None,
                reply=None,
            )
            updates.append(self._enqueue({"message": copy.deepcopy(message.raw)}))
        return updates

    def request_to_join(self, chat_id: int, user_id: int) -> dict[str, Any]:
        """The user asks to join a group that admits by request (a link with
        creates_join_request, or the group's join-request setting): a chat_join_request update
        for the bot, which must be an administrator that may invite users. Until the request
        is approved or declined (at most 5 minutes), the bot may write to the user in private
        even if they never started it (`user_chat_id`)."""
        chat = self._group(chat_id)
        user = self._user(user_id)
        if chat.bot_status not in _ADMINS:
            raise ValueError("only administrators hear about join requests")
        status = chat.members.get(user_id, "left")
        if status in _ACTIVE:
            raise ValueError(f"user {user_id} is already in chat {chat_id}")
        if status == "kicked":
            raise ValueError(f"user {user_id} is banned in chat {chat_id}")
        chat.join_requests[user_id] = _now()
        return self._enqueue(
            {
                "chat_join_request": {
                    "chat": chat.as_dict(),
                    "from": copy.deepcopy(user),
                    "user_chat_id": user_id,
                    "date": _now(),
                }
            }
        )

    def member_joins(self, chat_id: int, user_id: int) -> None:
        """A user joins a group: the service message (new_chat_members), and a chat_member
        update when the bot asked for those in allowed_updates."""
        self._member_moves(chat_id, user_id, "member")

    def member_leaves(self, chat_id: int, user_id: int) -> None:
        """A user leaves a group: the service message (left_chat_member), and a chat_member
        update when the bot asked for those in allowed_updates."""
        self._member_moves(chat_id, user_id, "left")

    def _member_moves(self, chat_id: int, user_id: int, status: str) -> None:
        chat = self._group(chat_id)
        user = self._user(user_id)
        old = chat.members.get(user_id, "left")
        chat.members[user_id] = status
        self._enqueue(
            {
                "chat_member": {
                    "chat": chat.as_dict(),
                    "from": copy.deepcopy(user),
                    "date": _now(),
                    "old_chat_member": self._member(user, old),
                    "new_chat_member": self._member(user, status),
                }
            }
        )
        content = (
            {"new_chat_members": [copy.deepcopy(user)]}
            if status == "member"
            else {"left_chat_member": copy.deepcopy(user)}
        )
        message = self._new_message(
            chat,
            user,
            kind="service",
            content=content,
            text=None,
            entities=[],
            html=None,
            markup=None,
            reply=None,
        )
        self._enqueue({"message": copy.deepcopy(message.raw)})

    def block_bot(self, user_id: int, *, notify: bool = True) -> dict[str, Any] | None:
        """The user blocks the bot: sending to them answers 403. Delivers my_chat_member."""
        user = self._user(user_id)
        self._blocked.add(user_id)
        if not notify:
            return None
        chat = self._private_chat(user_id)
        return self._enqueue(
            {
                "my_chat_member": {
                    "chat": chat.as_dict(),
                    "from": copy.deepcopy(user),
                    "date": _now(),
                    "old_chat_member": self._member(self.bot_user, "member"),
                    "new_chat_member": self._member(self.bot_user, "kicked"),
                }
            }
        )

    def unblock_bot(self, user_id: int) -> None:
        self._blocked.discard(user_id)

    # ------------------------------------------------------------------ injection ---------
    def inject_update(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Enqueue an arbitrary update body (``{"message": {...}}``); assigns the update_id."""
        return self._enqueue(dict(body))

    def send_message(
        self,
        user_id: int,
        chat_id: int,
        text: str,
        *,
        reply_to_message_id: int | None = None,
        as_chat: int | None = None,
    ) -> dict[str, Any]:
        """A user writes ``text`` in a chat (private chat: ``chat_id == user_id``).

        ``as_chat`` sends it as Telegram does for someone who does not write as themselves:
        the group's own id for one of its admins writing anonymously, a channel's id (see
        :meth:`add_channel`) for one of that channel's admins writing as the channel. The
        message then comes from Telegram's stand-in user (GroupAnonymousBot, Channel_Bot) with
        the chat in ``sender_chat``; who typed it is not in the update."""
        user = self._user(user_id)
        chat, reply = self._users_chat(user_id, chat_id, reply_to_message_id)
        entities = find_bot_commands(text)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        if as_chat is not None:
            user, content["sender_chat"] = self._sender_chat(user_id, chat, as_chat)
        message = self._new_message(
            chat,
            user,
            kind="text",
            content=content,
            text=text,
            entities=entities,
            html=None,
            markup=None,
            reply=reply,
        )
        return self._enqueue({"message": copy.deepcopy(message.raw)})

    def send_photo(
        self,
        user_id: int,
        chat_id: int,
        data: bytes,
        *,
        filename: str = "photo.jpg",
        caption: str | None = None,
    ) -> dict[str, Any]:
        """A user sends a photo (``data``: JPEG, PNG or GIF bytes), with an optional caption,
        in a chat (private chat: ``chat_id == user_id``); the bot can download it by its
        file_id, as from Telegram."""
        user = self._user(user_id)
        chat, _reply = self._users_chat(user_id, chat_id, None)
        content_type = mimetypes.guess_type(filename)[0] or "image/jpeg"
        stored = self._store_file(UploadedFile(filename, content_type, data), "photo")
        content: dict[str, Any] = {"photo": self._photo_sizes(stored)}
        entities: list[dict[str, Any]] = []
        if caption:
            entities = find_bot_commands(caption)
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        message = self._new_message(
            chat,
            user,
            kind="photo",
            content=content,
            text=caption,
            entities=entities,
            html=None,
            markup=None,
            reply=None,
        )
        return self._enqueue({"message": copy.deepcopy(message.raw)})

    def send_video(
        self,
        user_id: int,
        chat_id: int,
        data: bytes,
        *,
        duration: int = 10,
        filename: str = "clip.mp4",
        caption: str | None = None,
    ) -> dict[str, Any]:
        """A user sends a video of `duration` seconds (``data``: any bytes) in a chat."""
        stored = self._store_file(UploadedFile(filename, "video/mp4", data), "video")
        stored.duration = duration
        return self._user_file(user_id, chat_id, "video", {"video": self._video(stored)}, caption)

    def send_document(
        self,
        user_id: int,
        chat_id: int,
        data: bytes,
        *,
        filename: str,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """A user sends a file as a document (its MIME type guessed from `filename`)."""
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = self._store_file(UploadedFile(filename, content_type, data), "document")
        return self._user_file(
            user_id, chat_id, "document", {"document": self._document(stored)}, caption
        )

    def _user_file(
        self,
        user_id: int,
        chat_id: int,
        kind: str,
        content: dict[str, Any],
        caption: str | None,
    ) -> dict[str, Any]:
        user = self._user(user_id)
        chat, _reply = self._users_chat(user_id, chat_id, None)
        entities: list[dict[str, Any]] = []
        if caption:
            entities = find_bot_commands(caption)
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        message = self._new_message(
            chat,
            user,
            kind=kind,
            content=content,
            text=caption,
            entities=entities,
            html=None,
            markup=None,
            reply=None,
        )
        return self._enqueue({"message": copy.deepcopy(message.raw)})

    def _sender_chat(
        self, user_id: int, chat: _Chat, as_chat: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The stand-in user and the ``sender_chat`` of a message the user sends as a chat."""
        if chat.type == "private":
            raise ValueError("only in groups can a message be sent as a chat")
        if as_chat == chat.id:
            if chat.members.get(user_id) not in _ADMINS:
                raise ValueError(f"user {user_id} is no admin of chat {chat.id}: not anonymous")
            return copy.deepcopy(GROUP_ANONYMOUS_BOT), chat.as_dict()
        channel = self._channels.get(as_chat)
        if channel is None:
            raise ValueError(f"unknown channel {as_chat}; call add_channel() first")
        if channel.members.get(user_id) not in _ADMINS:
            raise ValueError(f"user {user_id} is no admin of channel {as_chat}")
        return copy.deepcopy(CHANNEL_BOT), channel.as_dict()

    def _users_chat(
        self, user_id: int, chat_id: int, reply_to_message_id: int | None
    ) -> tuple[_Chat, StoredMessage | None]:
        """The chat a user writes in (joining a group they were not in, as writing there
        implies), and the message they reply to, if any."""
        if chat_id == user_id:
            chat = self._private_chat(user_id)
            self._started.add(user_id)
            self._blocked.discard(user_id)
        else:
            chat = self._group(chat_id)
            status = chat.members.get(user_id)
            if status == "kicked":
                raise ValueError(f"user {user_id} is banned in chat {chat_id}")
            if status in (None, "left"):
                chat.members[user_id] = "member"
            if chat.bot_status not in _ACTIVE:
                if chat.bot_status_changed:
                    raise ValueError(
                        f"the bot is {chat.bot_status} in chat {chat_id} and can't see messages"
                    )
                # The bot's membership was never set: it joined before the test started
                # (without a my_chat_member update), otherwise it could not see the message.
                chat.bot_status = "member"
        reply = None
        if reply_to_message_id is not None:
            reply = chat.by_id.get(reply_to_message_id)
            if reply is None or reply.deleted:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
        return chat, reply

    def press_button(
        self,
        user_id: int,
        chat_id: int,
        message_id: int,
        *,
        callback_data: str | None = None,
        index: int | None = None,
        force: bool = False,
        ephemeral_message_id: int | None = None,
    ) -> dict[str, Any]:
        """A user presses an inline button of a bot message (by callback_data or flat index);
        of an ephemeral message sent to them with ``ephemeral_message_id`` (message_id 0).

        ``force=True`` skips the "this button exists" check so arbitrary data can be forged.
        """
        user = self._user(user_id)
        chat = self._chats.get(chat_id)
        message = chat.by_id.get(message_id) if chat is not None else None
        if ephemeral_message_id is not None:
            message = chat.ephemeral.get((user_id, ephemeral_message_id)) if chat else None
            if message is None and not force:
                raise ValueError(
                    f"no ephemeral message {ephemeral_message_id} for user {user_id} in chat "
                    f"{chat_id} (only its receiver sees one)"
                )
        if message is not None and message.deleted:
            message = None
        data = callback_data
        if not force:
            if message is None:
                raise ValueError(f"no message {message_id} in chat {chat_id}")
            if not message.from_bot:
                raise ValueError(f"message {message_id} was not sent by the bot")
            data = self._find_button_data(message, callback_data, index)
        elif data is None and message is not None and index is not None:
            flat = [b for row in message.buttons for b in row]
            if 0 <= index < len(flat):
                data = flat[index].get("callback_data")
        if data is None:
            raise ValueError("no callback data to send")
        query_id = str(4_000_000_000_000_000 + next(self._ids))
        query: dict[str, Any] = {
            "id": query_id,
            "from": copy.deepcopy(user),
            "chat_instance": f"{abs(chat_id) * 7919 % 10**15}",
            "data": data,
        }
        if message is not None:
            query["message"] = copy.deepcopy(message.raw)
        elif chat is not None:
            query["message"] = {"chat": chat.as_dict(), "message_id": message_id, "date": 0}
        self._callbacks[query_id] = _CallbackQuery(
            query_id, user_id, chat_id, message_id, data, ephemeral_message_id=ephemeral_message_id
        )
        return self._enqueue({"callback_query": query})

    def _find_button_data(
        self, message: StoredMessage, callback_data: str | None, index: int | None
    ) -> str:
        flat = [button for row in message.buttons for button in row]
        if not flat:
            raise ValueError(f"message {message.message_id} has no inline keyboard")
        if index is not None:
            if not 0 <= index < len(flat):
                raise ValueError(f"button index {index} out of range (0..{len(flat) - 1})")
            button = flat[index]
            if callback_data is not None and button.get("callback_data") != callback_data:
                raise ValueError(
                    f"button {index} has callback_data {button.get('callback_data')!r}"
                )
        elif callback_data is not None:
            matching = [b for b in flat if b.get("callback_data") == callback_data]
            if not matching:
                known = [b.get("callback_data") for b in flat]
                raise ValueError(f"no button with callback_data {callback_data!r}; have {known}")
            button = matching[0]
        else:
            raise ValueError("pass callback_data or index")
        if "callback_data" not in button:
            raise ValueError(f"button {button.get('text')!r} has no callback_data")
        return str(button["callback_data"])

    def open_url(self, user_id: int, url: str) -> list[dict[str, Any]]:
        """The user taps a link (a URL button): a deep link into the bot
        (``https://t.me/<bot>?start=<payload>``) opens the private chat and sends
        ``/start <payload>`` as Telegram's app does; an invite link made by
        createChatInviteLink joins the group (see :meth:`join_by_link`); an invoice link made
        by createInvoiceLink opens the payment (see :meth:`pay_invoice_link`)."""
        parsed = urlsplit(url)
        if parsed.scheme not in ("http", "https", "tg") or parsed.netloc not in (
            "t.me",
            "telegram.me",
        ):
            raise ValueError(f"{url!r} is not a Telegram link")
        path = parsed.path.strip("/")
        if path.startswith("+") or path.startswith("joinchat/"):
            return self.join_by_link(user_id, url)
        if path.startswith("$"):  # an invoice link: the payment window opens
            return [self.pay_invoice_link(user_id, url)]
        if path.lower() != str(self.bot_user["username"]).lower():
            raise ValueError(f"{url!r} does not lead to this bot")
        start = parse_qs(parsed.query).get("start")
        text = f"/start {start[0]}" if start and start[0] else "/start"
        return [self.send_message(user_id, user_id, text)]

    def update_subscription(self, user_id: int, invoice_payload: str, state: str) -> dict[str, Any]:
        """A user's Stars subscription to the bot changed (Bot API 10.3's ``subscription``
        update): ``state`` is canceled, active or failed."""
        if state not in ("canceled", "active", "failed"):
            raise ValueError(f"state {state!r} is not canceled, active or failed")
        user = self._user(user_id)
        return self._enqueue(
            {
                "subscription": {
                    "user": copy.deepcopy(user),
                    "invoice_payload": invoice_payload,
                    "state": state,
                }
            }
        )

    def pay_invoice_link(self, user_id: int, link: str) -> dict[str, Any]:
        """The user opens an invoice link (createInvoiceLink) and pays: a pre_checkout_query
        update; after the bot agrees, :meth:`complete_payment` delivers successful_payment
        in the user's private chat (for a subscription link, the subscription's first
        payment)."""
        user = self._user(user_id)
        invoice = self.invoice_links.get(link)
        if invoice is None:
            raise ValueError(f"{link!r} is not an invoice link of this bot")
        self._private_chat(user_id)
        update = self._pre_checkout(user, user_id, 0, invoice, None, None, 0)
        query = self._pre_checkouts[update["pre_checkout_query"]["id"]]
        query.subscription_period = int(invoice["subscription_period"])
        return update

    def _subscription_of(self, charge_id: str) -> dict[str, Any] | None:
        """The subscription one of whose charges is ``charge_id``."""
        for subscription in self.subscriptions.values():
            if charge_id in subscription["charges"]:
                return subscription
        return None

    def _live_subscription(self, charge_id: str) -> dict[str, Any]:
        subscription = self._subscription_of(charge_id)
        if subscription is None:
            raise ValueError(f"no subscription with charge {charge_id!r}")
        return subscription

    def renew_subscription(self, charge_id: str) -> dict[str, Any]:
        """Telegram charges the next period of the subscription (any of its charge ids): a
        successful_payment with is_recurring in the user's private chat, a new charge id and
        an expiration date one period later. Refused (ValueError) once it was cancelled."""
        subscription = self._live_subscription(charge_id)
        if subscription["canceled_by"]:
            raise ValueError(f"the subscription was cancelled by the {subscription['canceled_by']}")
        subscription["expires"] += subscription["period"]
        return self._subscription_payment(subscription, first=False)

    def fail_subscription_renewal(self, charge_id: str) -> dict[str, Any]:
        """Telegram could not charge the next period (the user lacks Stars): a
        ``subscription`` update with state failed. A later :meth:`renew_subscription` is
        Telegram retrying successfully."""
        subscription = self._live_subscription(charge_id)
        return self.update_subscription(subscription["user_id"], subscription["payload"], "failed")

    def cancel_subscription(self, charge_id: str) -> dict[str, Any]:
        """The user cancels the subscription in Telegram's settings: no more renewals, and a
        ``subscription`` update with state canceled."""
        subscription = self._live_subscription(charge_id)
        subscription["canceled_by"] = "user"
        return self.update_subscription(
            subscription["user_id"], subscription["payload"], "canceled"
        )

    def reenable_subscription(self, charge_id: str) -> dict[str, Any]:
        """The user turns a cancelled subscription back on (refused while the bot's own
        cancellation holds): a ``subscription`` update with state active."""
        subscription = self._live_subscription(charge_id)
        if subscription["canceled_by"] == "bot":
            raise ValueError("the bot cancelled this subscription")
        subscription["canceled_by"] = None
        return self.update_subscription(subscription["user_id"], subscription["payload"], "active")

    def _subscription_payment(self, subscription: dict[str, Any], *, first: bool) -> dict[str, Any]:
        n = next(self._ids)
        charge_id = f"stxEMU{n:08d}{secrets.token_hex(6)}"
        subscription["charges"].append(charge_id)
        payment: dict[str, Any] = {
            "currency": "XTR",
            "total_amount": subscription["amount"],
            "invoice_payload": subscription["payload"],
            "subscription_expiration_date": subscription["expires"],
            "is_recurring": True,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        }
        if first:
            payment["is_first_recurring"] = True
        user_id = subscription["user_id"]
        return self._payment_message(self._private_chat(user_id), user_id, payment)

    def _payment_message(
        self, chat: _Chat, user_id: int, payment: dict[str, Any]
    ) -> dict[str, Any]:
        """Keeps the payment (for refunds) and delivers its successful_payment message."""
        charge_id = payment["telegram_payment_charge_id"]
        self.payments[charge_id] = {**payment, "user_id": user_id, "refunded": False}
        message = self._new_message(
            chat,
            self._user(user_id),
            kind="service",
            content={"successful_payment": payment},
            text=None,
            entities=[],
            html=None,
            markup=None,
            reply=None,
        )
        return self._enqueue({"message": copy.deepcopy(message.raw)})

    def answer_poll(self, user_id: int, poll_id: str, option_ids: list[int]) -> dict[str, Any]:
        """A user votes (empty list = retract). Non-anonymous polls deliver ``poll_answer``;
        anonymous ones deliver the new ``poll`` state (as Telegram does for bot polls)."""
        user = self._user(user_id)
        state = self._polls.get(poll_id)
        if state is None:
            raise ValueError(f"unknown poll {poll_id!r}")
        poll = state.poll
        if poll["is_closed"]:
            raise ValueError("the poll is closed")
        options = poll["options"]
        if any(not 0 <= i < len(options) for i in option_ids) or len(set(option_ids)) != len(
            option_ids
        ):
            raise ValueError(f"invalid option ids {option_ids}")
        if len(option_ids) > 1 and not poll["allows_multiple_answers"]:
            raise ValueError("the poll allows a single answer")
        previous = state.votes.get(user_id)
        if previous is not None and not poll.get("allows_revoting", True):
            raise ValueError("the poll does not allow changing the vote")
        for i in state.votes.pop(user_id, []):
            options[i]["voter_count"] -= 1
        if option_ids:
            state.votes[user_id] = list(option_ids)
            for i in option_ids:
                options[i]["voter_count"] += 1
        poll["total_voter_count"] = len(state.votes)
        if poll["is_anonymous"]:
            return self._enqueue({"poll": copy.deepcopy(poll)})
        return self._enqueue(
            {
                "poll_answer": {
                    "poll_id": poll_id,
                    "user": copy.deepcopy(user),
                    "option_ids": list(option_ids),
                    "option_persistent_ids": [options[i]["persistent_id"] for i in option_ids],
                }
            }
        )

    def add_bot_to_group(
        self, chat_id: int, by_user_id: int, *, status: str = "member"
    ) -> dict[str, Any]:
        """``by_user_id`` adds the bot (status member or administrator): my_chat_member update."""
        if status not in _ACTIVE:
            raise ValueError(f"status must be one of {sorted(_ACTIVE)}")
        chat = self._group(chat_id)
        user = self._user(by_user_id)
        if chat.members.get(by_user_id) in (None, "left"):
            chat.members[by_user_id] = "member"
        return self._bot_status_update(chat, user, status)

    def remove_bot_from_group(self, chat_id: int, by_user_id: int) -> dict[str, Any]:
        """``by_user_id`` removes the bot (kicked in supergroups, left in basic groups)."""
        chat = self._group(chat_id)
        user = self._user(by_user_id)
        return self._bot_status_update(
            chat, user, "kicked" if chat.type == "supergroup" else "left"
        )

    def _bot_status_update(
        self, chat: _Chat, by_user: dict[str, Any], status: str
    ) -> dict[str, Any]:
        old = chat.bot_status
        chat.bot_status = status
        chat.bot_status_changed = True
        return self._enqueue(
            {
                "my_chat_member": {
                    "chat": chat.as_dict(),
                    "from": copy.deepcopy(by_user),
                    "date": _now(),
                    "old_chat_member": self._member(self.bot_user, old),
                    "new_chat_member": self._member(self.bot_user, status),
                }
            }
        )

    def pay_invoice(
        self,
        user_id: int,
        chat_id: int,
        message_id: int,
        *,
        shipping_address: dict[str, str] | None = None,
        name: str | None = None,
        phone_number: str | None = None,
    ) -> dict[str, Any]:
        """The user pays an invoice message: a pre_checkout_query update, or first a
        shipping_query when the invoice is flexible and asks an address (then the user picks
        an option with ``choose_shipping``). ``shipping_address`` is a ShippingAddress dict
        (country_code, state, city, street_line1, street_line2, post_code)."""
        user = self._user(user_id)
        chat = self._chats.get(chat_id)
        message = chat.by_id.get(message_id) if chat is not None else None
        invoice = self._invoices.get((chat_id, message_id))
        if message is None or message.deleted or invoice is None:
            raise ValueError(f"no invoice message {message_id} in chat {chat_id}")
        info: dict[str, Any] = {}
        if invoice.get("need_name"):
            if not name:
                raise ValueError("the invoice asks the user's name")
            info["name"] = name
        if invoice.get("need_phone_number"):
            if not phone_number:
                raise ValueError("the invoice asks the user's phone number")
            info["phone_number"] = phone_number
        if invoice.get("need_shipping_address"):
            if not shipping_address:
                raise ValueError("the invoice asks a shipping address")
            address = {key: "" for key in ("state", "street_line2")} | dict(shipping_address)
            info["shipping_address"] = address
        if invoice.get("is_flexible") and invoice.get("need_shipping_address"):
            query_id = str(7_000_000_000_000_000 + next(self._ids))
            self._shipping_queries[query_id] = _ShippingQuery(
                id=query_id,
                user_id=user_id,
                chat_id=chat_id,
                message_id=message_id,
                asked_at=self.clock(),
                order_info=info,
            )
            return self._enqueue(
                {
                    "shipping_query": {
                        "id": query_id,
                        "from": copy.deepcopy(user),
                        "invoice_payload": invoice["payload"],
                        "shipping_address": copy.deepcopy(info["shipping_address"]),
                    }
                }
            )
        return self._pre_checkout(user, chat_id, message_id, invoice, info or None, None, 0)

    def invoice_asks(self, chat_id: int, message_id: int) -> dict[str, bool]:
        """What an invoice message asks the payer: need_name, need_phone_number,
        need_shipping_address, is_flexible (all False for Stars, as Telegram ignores them)."""
        invoice = self._invoices.get((chat_id, message_id), {})
        flags = ("need_name", "need_phone_number", "need_shipping_address", "is_flexible")
        return {flag: bool(invoice.get(flag)) for flag in flags}

    def choose_shipping(self, shipping_query_id: str, option_id: str) -> dict[str, Any]:
        """After answerShippingQuery(ok=True): the user picks one of the options offered and
        pays: pre_checkout_query update with the option and the address, its price added."""
        query = self._shipping_queries.get(shipping_query_id)
        if query is None:
            raise ValueError(f"unknown shipping query {shipping_query_id!r}")
        if not query.answered:
            raise ValueError("the bot has not answered the shipping query (in time)")
        if not query.ok:
            raise ValueError(f"the bot refused the address: {query.error_message!r}")
        chosen = next((o for o in query.options if o["id"] == option_id), None)
        if chosen is None:
            raise ValueError(f"no shipping option {option_id!r} was offered")
        extra = sum(int(price["amount"]) for price in chosen["prices"])
        invoice = self._invoices[(query.chat_id, query.message_id)]
        user = self._user(query.user_id)
        return self._pre_checkout(
            user, query.chat_id, query.message_id, invoice, query.order_info, option_id, extra
        )

    def _pre_checkout(
        self,
        user: dict[str, Any],
        chat_id: int,
        message_id: int,
        invoice: dict[str, Any],
        info: dict[str, Any] | None,
        option_id: str | None,
        extra: int,
    ) -> dict[str, Any]:
        query_id = str(6_000_000_000_000_000 + next(self._ids))
        total = invoice["total_amount"] + extra
        self._pre_checkouts[query_id] = _PreCheckout(
            id=query_id,
            user_id=user["id"],
            chat_id=chat_id,
            message_id=message_id,
            currency=invoice["currency"],
            total_amount=total,
            payload=invoice["payload"],
            shipping_option_id=option_id,
            order_info=info,
        )
        update: dict[str, Any] = {
            "id": query_id,
            "from": copy.deepcopy(user),
            "currency": invoice["currency"],
            "total_amount": total,
            "invoice_payload": invoice["payload"],
        }
        if option_id is not None:
            update["shipping_option_id"] = option_id
        if info:
            update["order_info"] = copy.deepcopy(info)
        return self._enqueue({"pre_checkout_query": update})

    def complete_payment(self, pre_checkout_query_id: str) -> dict[str, Any]:
        """After answerPreCheckoutQuery(ok=True): message update with successful_payment."""
        query = self._pre_checkouts.get(pre_checkout_query_id)
        if query is None:
            raise ValueError(f"unknown pre-checkout query {pre_checkout_query_id!r}")
        if not query.answered:
            raise ValueError("the bot has not answered the pre-checkout query yet")
        if not query.ok:
            raise ValueError(f"the bot declined the payment: {query.error_message!r}")
        if query.completed:
            raise ValueError("the payment was already completed")
        query.completed = True
        if query.subscription_period:
            subscription: dict[str, Any] = {
                "user_id": query.user_id,
                "payload": query.payload,
                "amount": query.total_amount,
                "period": query.subscription_period,
                "expires": _now() + query.subscription_period,
                "canceled_by": None,
                "charges": [],
            }
            update = self._subscription_payment(subscription, first=True)
            self.subscriptions[subscription["charges"][0]] = subscription
            return update
        n = next(self._ids)
        charge_id = f"stxEMU{n:08d}{secrets.token_hex(6)}"
        payment: dict[str, Any] = {
            "currency": query.currency,
            "total_amount": query.total_amount,
            "invoice_payload": query.payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": (
                "" if query.currency == "XTR" else f"provider-{n}-{secrets.token_hex(4)}"
            ),
        }
        if query.shipping_option_id is not None:
            payment["shipping_option_id"] = query.shipping_option_id
        if query.order_info:
            payment["order_info"] = copy.deepcopy(query.order_info)
        return self._payment_message(self._chats[query.chat_id], query.user_id, payment)

    # ------------------------------------------------------------------ inspection --------
    def messages(self, chat_id: int, *, viewer: int | None = None) -> list[StoredMessage]:
        """The chat's history as ``viewer`` sees it: every ordinary message, and the ephemeral
        messages sent to ``viewer`` (shown in place of the message they replace, if any).
        Without a viewer: what every member sees, no ephemeral message."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        replaced = {
            m.replaces_message_id
            for m in chat.history
            if m.receiver_user_id == viewer and m.replaces_message_id and not m.deleted
        }
        return [
            m
            for m in chat.history
            if m.visible_to(viewer) and (viewer is None or m.message_id not in replaced)
        ]

    def bot_messages(self, chat_id: int, *, viewer: int | None = None) -> list[StoredMessage]:
        return [m for m in self.messages(chat_id, viewer=viewer) if m.from_bot and not m.deleted]

    def ephemeral_messages(self, chat_id: int, user_id: int) -> list[StoredMessage]:
        """The ephemeral messages the bot sent ``user_id`` in the chat (not deleted)."""
        return [
            m for m in self.bot_messages(chat_id, viewer=user_id) if m.receiver_user_id == user_id
        ]

    def last_bot_message(self, chat_id: int, *, viewer: int | None = None) -> StoredMessage:
        found = self.bot_messages(chat_id, viewer=viewer)
        if not found:
            history = "\n".join(
                f"  #{m.message_id} {m.from_user.get('first_name')}: {m.text!r}"
                f"{' (deleted)' if m.deleted else ''}"
                for m in self.messages(chat_id)
            )
            raise AssertionError(
                f"the bot sent no message to chat {chat_id}; history:\n{history or '  (empty)'}"
            )
        return found[-1]

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        wanted = method.lower()
        return [params for name, params in self.calls if name.lower() == wanted]

    def commands_for(
        self, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """Commands set for a scope (default scope when None) and language."""
        return self.commands.get(self._commands_key(scope, language_code), [])

    def user(self, user_id: int) -> dict[str, Any]:
        return self._user(user_id)

    def poll(self, poll_id: str) -> dict[str, Any]:
        return self._polls[poll_id].poll

    def file_by_path(self, path: str) -> tuple[bytes, str] | None:
        stored = self._files_by_path.get(path)
        return (stored.data, stored.mime_type) if stored is not None else None

    def file_bytes(self, file_id: str) -> bytes:
        return self._files[file_id].data

    # ------------------------------------------------------------------ updates -----------
    def pop_updates(self) -> list[dict[str, Any]]:
        """Drain the update queue (to feed a Dispatcher directly)."""
        updates, self._pending = self._pending, []
        self._notify()
        return updates

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self._pending)

    async def wait_processed(self, update_id: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until getUpdates is called with an offset above ``update_id``."""
        await self._wait_for(
            lambda: self._max_offset > update_id or update_id in self._dropped,
            timeout,
            f"update {update_id} was not confirmed by getUpdates within {timeout}s",
        )

    async def wait_webhook_delivered(
        self,
        update_id: int,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> int:
        """Wait until ``update_id`` was POSTed to the webhook; returns the HTTP status (0 on a
        connection error)."""
        await self._wait_for(
            lambda: update_id in self.webhook_statuses,
            timeout,
            f"update {update_id} was not delivered to the webhook within {timeout}s",
        )
        return self.webhook_statuses[update_id]

    async def _wait_for(self, condition: Callable[[], bool], limit: float, message: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            event = self._changed
            if condition():
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def _update_allowed(self, kind: str) -> bool:
        if not self._allowed_updates:
            return kind not in _DEFAULT_EXCLUDED_UPDATES
        return kind in self._allowed_updates

    def _enqueue(self, body: dict[str, Any]) -> dict[str, Any]:
        update: dict[str, Any] = {"update_id": self._next_update_id, **body}
        self._next_update_id += 1
        if self.validate_responses:
            try:
                Converter(self.spec).convert_object(update, "Update")
            except ApiError as err:
                raise AssertionError(f"emulator built an invalid Update: {err}") from None
        kind = next(iter(body))
        if self._update_allowed(kind):
            self._pending.append(update)
            if self.webhook is not None:
                self._ensure_webhook_worker()
        else:
            self._dropped.add(update["update_id"])
        self._notify()
        return update

    def _drop_pending(self) -> None:
        for update in self._pending:
            self._dropped.add(update["update_id"])
        self._pending = []

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._max_offset = max(self._max_offset, offset)
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            keep = -offset
            if keep < len(self._pending):
                for update in self._pending[: len(self._pending) - keep]:
                    self._dropped.add(update["update_id"])
                self._pending = self._pending[len(self._pending) - keep :]

    # ------------------------------------------------------------------ webhook -----------
    def _ensure_webhook_worker(self) -> None:
        if self._webhook_task is not None and not self._webhook_task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # started by start() or the next injection inside the loop
        self._webhook_task = loop.create_task(self._webhook_worker())

    async def _webhook_worker(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while self.webhook is not None and not self._closing:
                event = self._changed
                if not self._pending:
                    await event.wait()
                    continue
                update = self._pending.pop(0)
                status = await self._deliver(session, self.webhook, update)
                self.webhook_statuses[update["update_id"]] = status
                self._notify()

    async def _deliver(
        self, session: aiohttp.ClientSession, webhook: dict[str, Any], update: dict[str, Any]
    ) -> int:
        headers = {}
        if webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(webhook["secret_token"])
        try:
            async with session.post(webhook["url"], json=update, headers=headers) as response:
                status = response.status
                if 200 <= status < 300:
                    await self._run_webhook_reply(response)
                else:
                    self._webhook_error = (_now(), f"Wrong response from the webhook: {status}")
                return status
        except (aiohttp.ClientError, TimeoutError) as err:
            self._webhook_error = (_now(), f"Connection error: {type(err).__name__}")
            return 0

    async def _run_webhook_reply(self, response: aiohttp.ClientResponse) -> None:
        """Execute a Bot API call returned in the webhook response body (aiogram supports it)."""
        raw: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        try:
            if response.content_type == "application/json":
                body = await response.json()
                if isinstance(body, dict):
                    raw = body
            elif response.content_type.startswith("multipart/"):
                reader = aiohttp.MultipartReader(response.headers, response.content)
                raw, files = await read_multipart(reader)
        except (ValueError, aiohttp.ClientError):
            return
        method = raw.pop("method", None)
        if isinstance(method, str) and method:
            await self.dispatch(method, raw, files)

    # ------------------------------------------------------------------ dispatch ----------
    async def dispatch(
        self,
        method: str,
        raw: Mapping[str, Any],
        files: Mapping[str, UploadedFile] | None = None,
        *,
        client_gone: Callable[[], bool] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Execute one Bot API call; returns (HTTP status, JSON body) exactly as served.

        ``client_gone`` tells whether the caller stopped waiting: a TIMEOUT fault holds the call
        until then (an in-process caller gets a 504 at once).
        """
        name = self.spec.method_name(method)
        if name is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        index = len(self.calls)
        self.calls.append((name, dict(raw)))
        try:
            lost_answer = await self._apply_fault(name)
            params = Converter(
                self.spec,
                files,
                strict_html=self.strict_html,
                reject_unknown=self.reject_unknown_params,
            ).convert_params(name, raw)
            self.calls[index] = (name, params)
            for watcher in list(self.call_watchers):
                watcher(name, params)
            impl = self._impls.get(name)
            if impl is None:
                raise bad_request("method not supported by the emulator")
            limited = self.enforce_rate_limits and self._is_rate_limited(name)
            chat_id = self._rate_check(params) if limited else None
            result = impl(params)
            if inspect.isawaitable(result):
                result = await result
            if limited:
                self._rate_record(chat_id)
            if self.validate_responses:
                self._self_check(name, result)
            if lost_answer is not None:
                self._serve_fault(name, lost_answer)
        except ApiError as err:
            if err.status == 429:
                self.http_429 += 1
            return err.status, err.payload()
        except _Redirect as redirect:
            # the HTTP server turns "redirect" into the Location header
            return 307, {
                "ok": False,
                "error_code": 307,
                "description": "Temporary Redirect",
                "redirect": redirect.kind,
            }
        except _Dropped:
            # the HTTP server closes the connection on "dropped" (an in-process caller: 502)
            answer = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
            return 502, {**answer, "dropped": True}
        except _Timeout:
            # aiohttp has no event for a client going away: look every 10 ms
            while client_gone is not None and not client_gone():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            return 504, {"ok": False, "error_code": 504, "description": "Gateway Timeout"}
        except Exception as err:  # an emulator bug: answer like a broken server, keep the error
            self.errors.append(err)
            description = f"Internal Server Error: {type(err).__name__}: {err}"
            return 500, {"ok": False, "error_code": 500, "description": description}
        return 200, {"ok": True, "result": result}

    def _self_check(self, name: str, result: Any) -> None:
        returns = self.spec.methods[name].get("returns", [])
        try:
            Converter(self.spec).convert_value(result, returns, "result")
        except ApiError as err:
            raise ApiError(
                500, f"Internal Server Error: emulator returned an invalid result: {err}"
            ) from None

    # ------------------------------------------------------------------ faults ------------
    def inject_fault(
        self,
        method: str | None = None,
        *,
        status: int = 500,
        count: int = 1,
        retry_after: int | None = None,
        delay: float = 0.0,
        description: str | None = None,
        after: bool = False,
    ) -> None:
        """Make the next ``count`` calls of ``method`` (any method when None) fail.

        ``status`` 500/502/... answers a server error, 429 a flood error with ``retry_after``;
        ``REDIRECT_LOOP`` redirects to the same URL, ``INVALID_REDIRECT`` to an invalid URL
        (both as a broken proxy would; the call is not executed); ``TIMEOUT`` (0) never
        answers: the request hangs until the client's own timeout and is not executed;
        ``DROPPED`` never answers either, but at once: the connection is closed (not executed);
        ``delay`` seconds are slept first (a status < 400, e.g. 200, then answers normally,
        which simulates a slow server).

        ``after=True`` carries the call out first and only then fails its answer: Telegram did
        it, the client never heard (with ``TIMEOUT``: the request hangs, done, until the client
        gives up or dies; with ``DROPPED``: the connection closes once it is done).
        """
        name = None
        if method is not None:
            name = self.spec.method_name(method)
            if name is None:
                raise ValueError(f"unknown Bot API method {method!r}")
        if count < 1:
            raise ValueError("count must be >= 1")
        self._faults.append(_Fault(name, status, count, retry_after, delay, description, after))

    def inject_random_faults(
        self,
        *,
        seed: int,
        rate: float,
        statuses: Iterable[int] = (429, 500, 502, TIMEOUT),
        methods: Iterable[str] | None = None,
        retry_after: int = 1,
    ) -> None:
        """From now on, each call (of ``methods``, any but getUpdates when None) fails with
        probability ``rate``, with a status drawn from ``statuses``: 429 (``retry_after``),
        a 5xx, TIMEOUT or DROPPED. The draws come from ``seed``, so a run replays the same
        faults for the same sequence of calls. Scripted faults (:meth:`inject_fault`) go first."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        names = None
        if methods is not None:
            names = frozenset(self.spec.method_name(m) or m for m in methods)
        self._random_faults = _RandomFaults(
            random.Random(seed), rate, tuple(statuses), names, retry_after
        )

    def clear_faults(self) -> None:
        self._faults.clear()
        self._random_faults = None

    async def _apply_fault(self, name: str) -> _Fault | None:
        """Serve the fault due for this call, if any; one to serve after the call (``after``)
        is returned instead."""
        for fault in self._faults:
            if fault.method is None or fault.method == name:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                if fault.delay > 0:
                    await asyncio.sleep(fault.delay)
                if fault.after:
                    return fault
                self._serve_fault(name, fault)
                return None
        chaos = self._random_faults
        if chaos is None or name == "getUpdates":
            return None
        if chaos.methods is not None and name not in chaos.methods:
            return None
        if chaos.rng.random() < chaos.rate:
            status = chaos.rng.choice(chaos.statuses)
            self._serve_fault(name, _Fault(name, status, 1, chaos.retry_after, 0.0, None))
        return None

    def _serve_fault(self, name: str, fault: _Fault) -> None:
        if fault.status == TIMEOUT:
            self.faults_served.append((name, TIMEOUT))
            raise _Timeout
        if fault.status == DROPPED:
            self.faults_served.append((name, DROPPED))
            raise _Dropped
        if fault.status in REDIRECTS:
            self.faults_served.append((name, fault.status))
            raise _Redirect(REDIRECTS[fault.status])
        if fault.status >= 400:
            self.faults_served.append((name, fault.status))
            raise fault.error()

    # ------------------------------------------------------------------ rate limits -------
    @staticmethod
    def _is_rate_limited(name: str) -> bool:
        if name in ("sendChatAction", "sendMessageDraft"):
            return False
        return name.startswith(("send", "editMessage", "copyMessage", "forwardMessage"))

    def _rate_check(self, params: Mapping[str, Any]) -> int | None:
        now = self.clock()
        waits: list[float] = []
        global_limit = 1000 if params.get("allow_paid_broadcast") else 30
        self._prune(self._rate_global, now - 1.0)
        if len(self._rate_global) >= global_limit:
            waits.append(self._rate_global[-global_limit] + 1.0 - now)
        chat_id = None
        raw_chat = params.get("chat_id")
        if isinstance(raw_chat, int) and raw_chat in self._chats:
            chat_id = raw_chat
            window, limit = (1.0, 1) if self._chats[raw_chat].type == "private" else (60.0, 20)
            stamps = self._rate_chats.setdefault(chat_id, deque())
            self._prune(stamps, now - window)
            if len(stamps) >= limit:
                waits.append(stamps[-limit] + window - now)
        if waits:
            retry = max(1, math.ceil(max(waits) - 1e-9))
            raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        return chat_id

    @staticmethod
    def _prune(stamps: deque[float], horizon: float) -> None:
        while stamps and stamps[0] <= horizon:
            stamps.popleft()

    def _rate_record(self, chat_id: int | None) -> None:
        now = self.clock()
        self._rate_global.append(now)
        if chat_id is not None:
            self._rate_chats.setdefault(chat_id, deque()).append(now)

    # ------------------------------------------------------------------ helpers -----------
    def _ensure_user(self, user_id: int) -> dict[str, Any]:
        if user_id not in self._users:
            self.add_user(user_id, f"User{user_id}")
        return self._users[user_id]

    def _user(self, user_id: int) -> dict[str, Any]:
        user = self._users.get(user_id)
        if user is None:
            raise ValueError(f"unknown user {user_id}; call add_user() first")
        return user

    def _group(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None or chat.type == "private":
            raise ValueError(f"unknown group {chat_id}; call add_group() first")
        return chat

    def _private_chat(self, user_id: int) -> _Chat:
        chat = self._chats.get(user_id)
        if chat is None:
            chat = _Chat(id=user_id, type="private", user=self._user(user_id))
            chat.bot_status = "member"
            self._chats[user_id] = chat
        return chat

    def _chat(self, chat_id: int | str) -> _Chat:
        """Resolve a chat_id parameter; 400 chat not found (bots can't address users by
        @username and emulated groups have no public username)."""
        if isinstance(chat_id, str):
            raise bad_request("chat not found")
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_id in self._users:
                return self._private_chat(chat_id)
            raise bad_request("chat not found")
        return chat

    def _require_member(self, chat: _Chat) -> None:
        if chat.type == "private":
            return
        if chat.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.kind_name}")
        if chat.bot_status not in _ACTIVE:
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.kind_name}")

    def _chat_for_sending(self, chat_id: int | str) -> _Chat:
        chat = self._chat(chat_id)
        if chat.type == "private":
            user = self._users[chat.id]
            if user.get("is_bot"):
                raise ApiError(403, "Forbidden: bot can't send messages to bots")
            if chat.id in self._blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if chat.id not in self._started and not self._may_answer_request(chat.id):
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        else:
            self._require_member(chat)
        return chat

    def _may_answer_request(self, user_id: int) -> bool:
        """The user has a join request pending (for under 5 minutes) in a group of the bot's."""
        return any(
            _now() - sent < JOIN_REQUEST_WINDOW
            for chat in self._chats.values()
            for requester, sent in chat.join_requests.items()
            if requester == user_id
        )

    def _require_admin(self, chat: _Chat, what: str) -> None:
        self._require_member(chat)
        if chat.type != "private" and chat.bot_status not in _ADMINS:
            raise bad_request(what)

    def _reply_target(self, chat: _Chat, params: Mapping[str, Any]) -> StoredMessage | None:
        reply_parameters = params.get("reply_parameters")
        target = chat
        allow_missing = False
        message_id: int | None = None
        if isinstance(reply_parameters, dict):
            message_id = reply_parameters["message_id"]
            allow_missing = bool(reply_parameters.get("allow_sending_without_reply"))
            if reply_parameters.get("chat_id") is not None:
                target = self._chat(reply_parameters["chat_id"])
        elif params.get("reply_to_message_id") is not None:  # legacy parameter
            try:
                message_id = int(params["reply_to_message_id"])
            except (TypeError, ValueError):
                raise bad_request('field "reply_to_message_id" must be of type Integer') from None
            allow_missing = str(params.get("allow_sending_without_reply", "")).lower() == "true"
        if message_id is None:
            return None
        message = target.by_id.get(message_id)
        if message is None or message.deleted:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return message

    def _formatted(
        self, text: str, parse_mode: Any, entities: Any
    ) -> tuple[str, list[dict[str, Any]], str | None]:
        mode = parse_mode if isinstance(parse_mode, str) else None
        html = text if (mode or "").lower() == "html" else None
        if mode and mode.lower() != "none":
            plain, found = apply_parse_mode(text, mode, strict_html=self.strict_html)
        elif isinstance(entities, list):
            plain, found = text, [dict(e) for e in entities]
        else:
            plain, found = text, []
        plain, found = strip_text(plain, found)
        for entity in found:
            if entity["type"] == "text_mention" and entity["user"]["id"] in self._users:
                entity["user"] = copy.deepcopy(self._users[entity["user"]["id"]])
        blocked = [
            (e["offset"], e["offset"] + e["length"])
            for e in found
            if e["type"] in ("code", "pre", "text_link", "text_mention")
        ]
        for command in find_bot_commands(plain):
            start, end = command["offset"], command["offset"] + command["length"]
            if not any(start < b_end and b_start < end for b_start, b_end in blocked):
                found.append(command)
        return plain, sort_entities(found), html

    def _new_message(
        self,
        chat: _Chat,
        sender: dict[str, Any],
        *,
        kind: str,
        content: dict[str, Any],
        text: str | None,
        entities: list[dict[str, Any]],
        html: str | None,
        markup: dict[str, Any] | None,
        reply: StoredMessage | None,
        params: Mapping[str, Any] | None = None,
        ephemeral: _Ephemeral | None = None,
    ) -> StoredMessage:
        if ephemeral is None:
            message_id = chat.next_message_id
            chat.next_message_id += 1
        else:
            message_id = 0  # an ephemeral message is known by its ephemeral_message_id
        raw: dict[str, Any] = {
            "message_id": message_id,
            "from": copy.deepcopy(sender),
            "chat": chat.as_dict(),
            "date": _now(),
        }
        if ephemeral is not None:
            raw["ephemeral_message_id"] = chat.next_ephemeral_id
            chat.next_ephemeral_id += 1
            raw["receiver_user"] = copy.deepcopy(self._users[ephemeral.receiver_user_id])
        if reply is not None:
            raw["reply_to_message"] = {
                k: copy.deepcopy(v) for k, v in reply.raw.items() if k != "reply_to_message"
            }
        raw.update(content)
        inline = _inline_markup(markup)
        if inline is not None:
            raw["reply_markup"] = inline
        if params is not None and params.get("protect_content"):
            raw["has_protected_content"] = True
        message = StoredMessage(
            message_id=message_id,
            chat_id=chat.id,
            from_user=raw["from"],
            date=raw["date"],
            text=text,
            entities=entities,
            html=html,
            reply_markup=markup,
            kind=kind,
            raw=raw,
        )
        chat.history.append(message)
        if ephemeral is None:
            chat.by_id[message_id] = message
            return message
        message.receiver_user_id = ephemeral.receiver_user_id
        message.ephemeral_message_id = raw["ephemeral_message_id"]
        message.replaces_message_id = ephemeral.replaces_message_id
        chat.ephemeral[(ephemeral.receiver_user_id, raw["ephemeral_message_id"])] = message
        return message

    def _send(
        self,
        params: Mapping[str, Any],
        *,
        kind: str,
        content: dict[str, Any],
        text: str | None,
        entities: list[dict[str, Any]],
        html: str | None,
        chat: _Chat,
        reply: StoredMessage | None,
        ephemeral_ok: bool = False,
    ) -> StoredMessage:
        """Store a message the bot sends; ``ephemeral_ok`` for the methods whose spec has the
        ephemeral parameters (elsewhere Telegram ignores them as unknown parameters)."""
        markup = params.get("reply_markup")
        return self._new_message(
            chat,
            self.bot_user,
            kind=kind,
            content=content,
            text=text,
            entities=entities,
            html=html,
            markup=markup if isinstance(markup, dict) else None,
            reply=reply,
            params=params,
            ephemeral=self._ephemeral_target(chat, params) if ephemeral_ok else None,
        )

    def _ephemeral_target(self, chat: _Chat, params: Mapping[str, Any]) -> _Ephemeral | None:
        """Who alone sees the message, when the request asks for an ephemeral one (Bot API
        10.2's receiver_user_id / callback_query_id, or 10.3's ephemeral_message_parameters),
        checked as Telegram does; None for an ordinary message."""
        legacy = {
            key: params[key] for key in ("receiver_user_id", "callback_query_id") if key in params
        }
        given = params.get("ephemeral_message_parameters")
        if given is not None and legacy:
            raise bad_request(
                "ephemeral_message_parameters can't be used together with receiver_user_id or "
                "callback_query_id"
            )
        if given is None and not legacy:
            return None
        options: Mapping[str, Any] = given if isinstance(given, dict) else legacy
        receiver_id = options.get("receiver_user_id")
        if receiver_id is None:
            raise bad_request("receiver_user_id must be specified for ephemeral messages")
        if chat.type not in ("group", "supergroup"):
            raise bad_request("ephemeral messages can be sent only to group and supergroup chats")
        receiver = self._users.get(receiver_id)
        if receiver is None or receiver.get("is_bot"):
            raise bad_request("receiver user not found")
        if chat.members.get(receiver_id) not in _ACTIVE:
            raise bad_request("receiver user is not a member of the chat")
        replaces: int | None = None
        query_id = options.get("callback_query_id")
        if query_id is not None:
            query = self._callbacks.get(str(query_id))
            if query is None:
                raise bad_request(_QUERY_TOO_OLD)
            if query.user_id != receiver_id:
                raise bad_request("the callback query was sent by another user")
            if query.chat_id != chat.id:
                raise bad_request("the callback query comes from another chat")
            if options.get("replace_callback_query_message"):
                if query.ephemeral_message_id is not None:
                    raise bad_request(
                        "replace_callback_query_message must be False for callback queries "
                        "from ephemeral messages; use editEphemeralMessage methods"
                    )
                replaces = query.message_id
        elif options.get("replace_callback_query_message"):
            raise bad_request("replace_callback_query_message needs a callback_query_id")
        return _Ephemeral(receiver_id, replaces)

    def _caption(
        self, params: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str | None, list[dict[str, Any]], str | None]:
        caption = params.get("caption")
        if not isinstance(caption, str):
            return {}, None, [], None
        text, entities, html = self._formatted(
            caption, params.get("parse_mode"), params.get("caption_entities")
        )
        if not text:
            return {}, None, [], None
        content: dict[str, Any] = {"caption": text}
        if entities:
            content["caption_entities"] = entities
        if params.get("show_caption_above_media"):
            content["show_caption_above_media"] = True
        return content, text, entities, html

    def _store_file(self, value: Any, kind: str) -> _StoredFile:
        if isinstance(value, UploadedFile):
            n = next(self._ids)
            guessed = mimetypes.guess_type(value.filename)[0]
            mime = guessed or value.content_type or "application/octet-stream"
            extension = mimetypes.guess_extension(mime) or ""
            if kind == "photo":
                extension = ".jpg" if extension in ("", ".jpe", ".jpeg") else extension
            stored = _StoredFile(
                file_id=f"EMU-{kind}-{n}-{secrets.token_hex(8)}",
                file_unique_id=f"EMUu{n}{secrets.token_hex(3)}",
                file_path=f"{kind}s/file_{n}{extension}",
                data=value.data,
                mime_type=mime,
                file_name=value.filename,
            )
            size = _image_size(value.data) if kind == "photo" else None
            stored.width, stored.height = size if size is not None else (100, 100)
        elif isinstance(value, str) and value in self._files:
            return self._files[value]
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            n = next(self._ids)
            name = value.rsplit("/", 1)[-1] or f"file_{n}"
            stored = _StoredFile(
                file_id=f"EMU-{kind}-{n}-{secrets.token_hex(8)}",
                file_unique_id=f"EMUu{n}{secrets.token_hex(3)}",
                file_path=f"{kind}s/file_{n}",
                data=b"",
                mime_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
                file_name=name,
                url=value,
                width=100,
                height=100,
            )
        else:
            raise bad_request("wrong file identifier/HTTP URL specified")
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _commands_key(self, scope: Mapping[str, Any] | None, language_code: str) -> tuple[str, str]:
        return json.dumps(dict(scope or {"type": "default"}), sort_keys=True), language_code or ""

    def _member(self, user: dict[str, Any], status: str) -> dict[str, Any]:
        """A ChatMember object of the right subtype for ``status``."""
        member: dict[str, Any] = {"status": status, "user": copy.deepcopy(user)}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            for name in self.spec.required_fields("ChatMemberAdministrator"):
                if name.startswith("can_"):
                    member[name] = name != "can_be_edited"
            for name in _EXTRA_ADMIN_RIGHTS:
                member[name] = True
            member["can_be_edited"] = False
            member["is_anonymous"] = False
        elif status == "restricted":
            for f in self.spec.fields("ChatMemberRestricted"):
                if f.get("required") and f["types"] == ["Boolean"]:
                    member[f["name"]] = f["name"] == "is_member"
            member["until_date"] = 0
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _message_for_edit(self, params: Mapping[str, Any]) -> tuple[_Chat, StoredMessage]:
        if params.get("inline_message_id"):
            raise bad_request("inline messages are not supported by the emulator")
        if params.get("chat_id") is None:
            raise bad_request('field "chat_id" is required')
        if params.get("message_id") is None:
            raise bad_request("message identifier is not specified")
        chat = self._chat(params["chat_id"])
        self._require_member(chat)
        message = chat.by_id.get(params["message_id"])
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return chat, message

    @staticmethod
    def _set_markup(message: StoredMessage, markup: dict[str, Any] | None) -> None:
        if markup is not None:
            message.reply_markup = markup
            message.raw["reply_markup"] = markup
        else:
            if _inline_markup(message.reply_markup) is not None:
                message.reply_markup = None
            message.raw.pop("reply_markup", None)

    @staticmethod
    def _mark_edited(message: StoredMessage) -> None:
        message.edit_count += 1
        message.raw["edit_date"] = _now()

    # ================================================================== Bot API methods ====
    def _api_getMe(self, p: dict[str, Any]) -> dict[str, Any]:
        me = dict(self.bot_user)
        for f in self.spec.fields("User"):
            if "Returned only in getMe" in f.get("description", "") and f["types"] == ["Boolean"]:
                me[f["name"]] = f["name"] == "can_join_groups"
        return me

    def _api_logOut(self, p: dict[str, Any]) -> bool:
        return True

    def _api_close(self, p: dict[str, Any]) -> bool:
        return True

    async def _api_getUpdates(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        if "allowed_updates" in p:
            self._allowed_updates = list(p["allowed_updates"])
        offset = p.get("offset")
        if offset:
            self._confirm(offset)
        limit = p.get("limit", 100)
        timeout = max(0, p.get("timeout", 0))
        self._poll_ticket += 1
        ticket = self._poll_ticket
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            if ticket != self._poll_ticket:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if self._pending or self._closing or self.webhook is not None:
                return list(self._pending[:limit]) if self.webhook is None else []
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _api_setWebhook(self, p: dict[str, Any]) -> bool:
        url = p["url"]
        if not url:
            return self._api_deleteWebhook(p)
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: invalid webhook URL specified")
        if p.get("drop_pending_updates"):
            self._drop_pending()
        if "allowed_updates" in p:
            self._allowed_updates = list(p["allowed_updates"])
        self.webhook = {
            key: value
            for key, value in p.items()
            if key != "certificate" and not isinstance(value, UploadedFile)
        }
        self.webhook.setdefault("max_connections", 40)
        self._webhook_error = None
        self._poll_ticket += 1
        self._ensure_webhook_worker()
        self._notify()
        return True

    def _api_deleteWebhook(self, p: dict[str, Any]) -> bool:
        self.webhook = None
        if p.get("drop_pending_updates"):
            self._drop_pending()
        self._notify()
        return True

    def _api_getWebhookInfo(self, p: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook:
            info["max_connections"] = self.webhook.get("max_connections", 40)
            for key in ("ip_address", "allowed_updates"):
                if key in self.webhook:
                    info[key] = self.webhook[key]
            if self._webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    # -- sending ---------------------------------------------------------------------------
    def _api_sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_for_sending(p["chat_id"])
        reply = self._reply_target(chat, p)
        text, entities, html = self._formatted(p["text"], p.get("parse_mode"), p.get("entities"))
        if not text:
            raise bad_request("message text is empty")
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        message = self._send(
            p,
            kind="text",
            content=content,
            text=text,
            entities=entities,
            html=html,
            chat=chat,
            reply=reply,
            ephemeral_ok=True,
        )
        return message.raw

    def _photo_sizes(self, stored: _StoredFile) -> list[dict[str, Any]]:
        return [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": stored.width or 100,
                "height": stored.height or 100,
                "file_size": len(stored.data),
            }
        ]

    def _document(self, stored: _StoredFile) -> dict[str, Any]:
        document: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "mime_type": stored.mime_type,
            "file_size": len(stored.data),
        }
        if stored.file_name:
            document["file_name"] = stored.file_name
        return document

    def _video(self, stored: _StoredFile) -> dict[str, Any]:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": stored.width or 100,
            "height": stored.height or 100,
            "duration": stored.duration or 0,
            "mime_type": stored.mime_type,
            "file_size": len(stored.data),
        }

    def _api_sendPhoto(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_for_sending(p["chat_id"])
        reply = self._reply_target(chat, p)
        caption, text, entities, html = self._caption(p)
        stored = self._store_file(p["photo"], "photo")
        content: dict[str, Any] = {"photo": self._photo_sizes(stored), **caption}
        if p.get("has_spoiler"):
            content["has_media_spoiler"] = True
        message = self._send(
            p,
            kind="photo",
            content=content,
            text=text,
            entities=entities,
            html=html,
            chat=chat,
            reply=reply,
            ephemeral_ok=True,
        )
        return message.raw

    def _api_sendDocument(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_for_sending(p["chat_id"])
        reply = self._reply_target(chat, p)
        caption, text, entities, html = self._caption(p)
        stored = self._store_file(p["document"], "document")
        content: dict[str, Any] = {"document": self._document(stored), **caption}
        message = self._send(
            p,
            kind="document",
            content=content,
            text=text,
            entities=entities,
            html=html,
            chat=chat,
            reply=reply,
            ephemeral_ok=True,
        )
        return message.raw

    def _api_sendMediaGroup(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        chat = self._chat_for_sending(p["chat_id"])
        reply = self._reply_target(chat, p)
        prepared = []
        for item in p["media"]:
            if item["type"] not in ("photo", "document", "video"):
                raise bad_request(f"media type {item['type']!r} is not supported by the emulator")
            caption, text, entities, html = self._caption(item)
            stored = self._store_file(item["media"], item["type"])
            media: Any = (
                self._photo_sizes(stored)
                if item["type"] == "photo"
                else self._video(stored)
                if item["type"] == "video"
                else self._document(stored)
            )
            prepared.append((item["type"], {item["type"]: media, **caption}, text, entities, html))
        group_id = str(7_000_000_000_000_000 + next(self._ids))
        result = []
        for kind, content, text, entities, html in prepared:
            content["media_group_id"] = group_id
            message = self._new_message(
                chat,
                self.bot_user,
                kind=kind,
                content=content,
                text=text,
                entities=entities,
                html=html,
                markup=None,
                reply=reply,
                params=p,
            )
            result.append(message.raw)
        return result

    def _api_sendPoll(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_for_sending(p["chat_id"])
        reply = self._reply_target(chat, p)
        poll_type = p.get("type", "regular")
        if poll_type not in ("regular", "quiz"):
            raise bad_request("poll type is invalid")
        question, question_entities = apply_parse_mode(
            p["question"], p.get("question_parse_mode"), strict_html=self.strict_html
        )
        options = []
        for i, option in enumerate(p["options"]):
            text, entities = apply_parse_mode(
                option["text"], option.get("text_parse_mode"), strict_html=self.strict_html
            )
            item: dict[str, Any] = {"persistent_id": str(i), "text": text, "voter_count": 0}
            custom = [e for e in entities if e["type"] == "custom_emoji"]
            if custom:
                item["text_entities"] = custom
            options.append(item)
        if len({o["text"] for o in options}) != len(options):
            raise bad_request("poll options must be unique")
        correct = p.get("correct_option_ids")
        if poll_type == "quiz" and (not correct or any(not 0 <= i < len(options) for i in correct)):
            raise bad_request("wrong correct option ids specified")
        poll_id = str(5_000_000_000_000_000 + next(self._ids))
        poll: dict[str, Any] = {
            "id": poll_id,
            "question": question,
            "options": options,
            "total_voter_count": 0,
            "is_closed": bool(p.get("is_closed", False)),
            "is_anonymous": bool(p.get("is_anonymous", True)),
            "type": poll_type,
            "allows_multiple_answers": bool(p.get("allows_multiple_answers", False)),
            "allows_revoting": bool(p.get("allows_revoting", poll_type != "quiz")),
            "members_only": bool(p.get("members_only", False)),
        }
        custom_question = [e for e in question_entities if e["type"] == "custom_emoji"]
        if custom_question:
            poll["question_entities"] = custom_question
        if poll_type == "quiz" and correct:
            poll["correct_option_ids"] = list(correct)
        if p.get("explanation"):
            explanation, explanation_entities, _ = self._formatted(
                p["explanation"], p.get("explanation_parse_mode"), p.get("explanation_entities")
            )
            poll["explanation"] = explanation
            if explanation_entities:
                poll["explanation_entities"] = explanation_entities
        for key in ("open_period", "close_date"):
            if key in p:
                poll[key] = p[key]
        if p.get("description"):
            description, description_entities, _ = self._formatted(
                p["description"], p.get("description_parse_mode"), p.get("description_entities")
            )
            poll["description"] = description
            if description_entities:
                poll["description_entities"] = description_entities
        message = self._send(
            p,
            kind="poll",
            content={"poll": poll},
            text=question,
            entities=[],
            html=None,
            chat=chat,
            reply=reply,
        )
        self._polls[poll_id] = _Poll(poll=poll, chat_id=chat.id, message_id=message.message_id)
        return message.raw

    def _api_stopPoll(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(p["chat_id"])
        self._require_member(chat)
        message = chat.by_id.get(p["message_id"])
        if message is None or message.deleted or message.kind != "poll":
            raise bad_request("message with poll to stop not found")
        if not message.from_bot:
            raise bad_request("poll can't be stopped")
        poll = message.raw["poll"]
        if poll["is_closed"]:
            raise bad_request("poll has already been closed")
        poll["is_closed"] = True
        if "reply_markup" in p:
            self._set_markup(message, p["reply_markup"])
        return copy.deepcopy(poll)

    def _api_sendInvoice(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_for_sending(p["chat_id"])
        reply = self._reply_target(chat, p)
        currency = p["currency"]
        prices = p["prices"]
        if currency == "XTR":
            if len(prices) != 1:
                raise bad_request("STARS_INVOICE_INVALID: payments in Telegram Stars need 1 price")
            if p.get("provider_token"):
                raise bad_request("provider_token must be empty for payments in Telegram Stars")
        elif not p.get("provider_token"):
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        if not prices:
            raise bad_request('field "prices" must contain at least one price')
        total = sum(int(price["amount"]) for price in prices)
        if total <= 0:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        invoice = {
            "title": p["title"],
            "description": p["description"],
            "start_parameter": p.get("start_parameter", ""),
            "currency": currency,
            "total_amount": total,
        }
        message = self._send(
            p,
            kind="invoice",
            content={"invoice": invoice},
            text=p["title"],
            entities=[],
            html=None,
            chat=chat,
            reply=reply,
        )
        # Telegram ignores the address, name and phone flags for payments in Stars
        asks = {
            flag: bool(p.get(flag)) and currency != "XTR"
            for flag in ("need_name", "need_phone_number", "need_shipping_address", "is_flexible")
        }
        self._invoices[(chat.id, message.message_id)] = {
            "payload": p["payload"],
            "currency": currency,
            "total_amount": total,
            "prices": prices,
            **asks,
        }
        return message.raw

    def _api_createInvoiceLink(self, p: dict[str, Any]) -> str:
        currency = p["currency"]
        prices = p["prices"]
        if currency == "XTR" and len(prices) != 1:
            raise bad_request("STARS_INVOICE_INVALID: payments in Telegram Stars need 1 price")
        total = sum(int(price["amount"]) for price in prices)
        if total <= 0:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        period = p.get("subscription_period")
        if period is not None:
            if currency != "XTR":
                raise bad_request("SUBSCRIPTION_CURRENCY_INVALID: subscriptions are in Stars")
            if period != SUBSCRIPTION_PERIOD:
                raise bad_request("SUBSCRIPTION_PERIOD_INVALID")
            if total > SUBSCRIPTION_MAX_STARS:
                raise bad_request("SUBSCRIPTION_PRICE_INVALID")
        link = f"https://t.me/$EMU{secrets.token_urlsafe(12)}"
        self.invoice_links[link] = {
            "title": p["title"],
            "description": p["description"],
            "payload": p["payload"],
            "currency": currency,
            "total_amount": total,
            "subscription_period": int(period or 0),
        }
        return link

    def _api_editUserStarSubscription(self, p: dict[str, Any]) -> bool:
        subscription = self._subscription_of(p["telegram_payment_charge_id"])
        if subscription is None or subscription["user_id"] != p["user_id"]:
            raise bad_request("CHARGE_NOT_FOUND")
        if p["is_canceled"]:
            subscription["canceled_by"] = subscription["canceled_by"] or "bot"
        elif subscription["canceled_by"] == "bot":
            subscription["canceled_by"] = "bot_lifted"  # the user may turn it back on
        return True

    def _api_answerPreCheckoutQuery(self, p: dict[str, Any]) -> bool:
        query = self._pre_checkouts.get(p["pre_checkout_query_id"])
        if query is None or query.answered:
            raise bad_request(_QUERY_TOO_OLD)
        if not p["ok"] and not p.get("error_message"):
            raise bad_request('field "error_message" is required when "ok" is false')
        query.answered = True
        query.ok = bool(p["ok"])
        query.error_message = p.get("error_message")
        self.pre_checkout_answers[query.id] = dict(p)
        return True

    def _api_answerShippingQuery(self, p: dict[str, Any]) -> bool:
        query = self._shipping_queries.get(p["shipping_query_id"])
        if query is None or query.answered:
            raise bad_request(_QUERY_TOO_OLD)
        if self.clock() - query.asked_at > SHIPPING_QUERY_SECONDS:
            # too late: the user already saw an error, and no later answer counts either
            raise bad_request(_QUERY_TOO_OLD)
        if p["ok"] and not p.get("shipping_options"):
            raise bad_request('field "shipping_options" is required when "ok" is true')
        if not p["ok"] and not p.get("error_message"):
            raise bad_request('field "error_message" is required when "ok" is false')
        query.answered = True
        query.ok = bool(p["ok"])
        query.error_message = p.get("error_message")
        query.options = list(p.get("shipping_options") or [])
        self.shipping_answers[query.id] = dict(p)
        return True

    def _api_refundStarPayment(self, p: dict[str, Any]) -> bool:
        payment = self.payments.get(p["telegram_payment_charge_id"])
        if payment is None or payment["user_id"] != p["user_id"]:
            raise bad_request("CHARGE_NOT_FOUND")
        if payment["currency"] != "XTR":
            raise bad_request("CHARGE_ID_INVALID: not a Telegram Stars payment")
        if payment["refunded"]:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        payment["refunded"] = True
        return True

    def _api_sendChatAction(self, p: dict[str, Any]) -> bool:
        self._chat_for_sending(p["chat_id"])
        if p["action"] not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _api_copyMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        source = self._chat(p["from_chat_id"])
        original = source.by_id.get(p["message_id"])
        if original is None or original.deleted:
            raise bad_request("message to copy not found")
        if original.kind in ("service", "invoice"):
            raise bad_request("the message can't be copied")
        chat = self._chat_for_sending(p["chat_id"])
        reply = self._reply_target(chat, p)
        skip = {
            "message_id",
            "from",
            "chat",
            "date",
            "reply_to_message",
            "reply_markup",
            "edit_date",
            "forward_origin",
            "caption",
            "caption_entities",
        }
        content = {k: copy.deepcopy(v) for k, v in original.raw.items() if k not in skip}
        text, entities, html = original.text, original.entities, original.html
        if original.kind in ("photo", "document"):
            if "caption" in p:
                caption, text, entities, html = self._caption(p)
            else:
                caption = {
                    k: copy.deepcopy(original.raw[k])
                    for k in ("caption", "caption_entities")
                    if k in original.raw
                }
            content.update(caption)
        if original.kind == "poll":
            poll = content["poll"]
            poll["id"] = str(5_000_000_000_000_000 + next(self._ids))
            poll["total_voter_count"] = 0
            poll["is_closed"] = False
            for option in poll["options"]:
                option["voter_count"] = 0
        message = self._send(
            p,
            kind=original.kind,
            content=content,
            text=text,
            entities=list(entities),
            html=html,
            chat=chat,
            reply=reply,
        )
        if original.kind == "poll":
            poll = message.raw["poll"]
            self._polls[poll["id"]] = _Poll(poll, chat.id, message.message_id)
        return {"message_id": message.message_id}

    def _api_forwardMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        source = self._chat(p["from_chat_id"])
        original = source.by_id.get(p["message_id"])
        if original is None or original.deleted:
            raise bad_request("message to forward not found")
        if original.kind in ("service", "invoice"):
            raise bad_request("the message can't be forwarded")
        chat = self._chat_for_sending(p["chat_id"])
        skip = {
            "message_id",
            "from",
            "chat",
            "date",
            "reply_to_message",
            "reply_markup",
            "edit_date",
            "forward_origin",
        }
        content = {k: copy.deepcopy(v) for k, v in original.raw.items() if k not in skip}
        content["forward_origin"] = copy.deepcopy(
            original.raw.get("forward_origin")
            or {"type": "user", "sender_user": original.from_user, "date": original.date}
        )
        message = self._new_message(
            chat,
            self.bot_user,
            kind=original.kind,
            content=content,
            text=original.text,
            entities=list(original.entities),
            html=original.html,
            markup=None,
            reply=None,
            params=p,
        )
        return message.raw

    # -- editing ---------------------------------------------------------------------------
    def _api_editMessageText(self, p: dict[str, Any]) -> dict[str, Any]:
        _, message = self._message_for_edit(p)
        self._edit_text(message, p)
        return message.raw

    def _edit_text(self, message: StoredMessage, p: dict[str, Any]) -> None:
        """Replace a text message's text, entities and buttons as editMessageText does."""
        if "text" not in p:
            raise bad_request("message text is empty")
        if message.kind != "text":
            raise bad_request("there is no text in the message to edit")
        text, entities, html = self._formatted(p["text"], p.get("parse_mode"), p.get("entities"))
        if not text:
            raise bad_request("message text is empty")
        markup = p.get("reply_markup")
        if (
            text == message.text
            and entities == message.entities
            and markup == _inline_markup(message.reply_markup)
        ):
            raise bad_request(_NOT_MODIFIED)
        message.text, message.entities, message.html = text, entities, html
        message.raw["text"] = text
        if entities:
            message.raw["entities"] = entities
        else:
            message.raw.pop("entities", None)
        self._set_markup(message, markup)
        self._mark_edited(message)

    def _api_editMessageCaption(self, p: dict[str, Any]) -> dict[str, Any]:
        _, message = self._message_for_edit(p)
        if message.kind not in ("photo", "document"):
            raise bad_request("there is no caption in the message to edit")
        caption, text, entities, html = self._caption(p)
        markup = p.get("reply_markup")
        if (
            text == message.text
            and entities == message.entities
            and markup == _inline_markup(message.reply_markup)
        ):
            raise bad_request(_NOT_MODIFIED)
        for key in ("caption", "caption_entities", "show_caption_above_media"):
            message.raw.pop(key, None)
        message.raw.update(caption)
        message.text, message.entities, message.html = text, entities, html
        self._set_markup(message, markup)
        self._mark_edited(message)
        return message.raw

    def _api_editMessageReplyMarkup(self, p: dict[str, Any]) -> dict[str, Any]:
        _, message = self._message_for_edit(p)
        markup = p.get("reply_markup")
        if markup == _inline_markup(message.reply_markup):
            raise bad_request(_NOT_MODIFIED)
        self._set_markup(message, markup)
        self._mark_edited(message)
        return message.raw

    def _api_deleteMessage(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_member(chat)
        message = chat.by_id.get(p["message_id"])
        if message is None or message.deleted:
            raise bad_request("message to delete not found")
        if chat.type != "private" and not message.from_bot and chat.bot_status not in _ADMINS:
            raise bad_request("message can't be deleted")
        message.deleted = True
        return True

    def _api_deleteMessages(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_member(chat)
        for message_id in p["message_ids"]:
            message = chat.by_id.get(message_id)
            if message is None or message.deleted:
                continue
            if chat.type == "private" or message.from_bot or chat.bot_status in _ADMINS:
                message.deleted = True
        return True

    # -- ephemeral messages (Bot API 10.2) --------------------------------------------------
    def _ephemeral(self, p: Mapping[str, Any], missing: str) -> StoredMessage:
        chat = self._chat(p["chat_id"])
        self._require_member(chat)
        message = chat.ephemeral.get((p["receiver_user_id"], p["ephemeral_message_id"]))
        if message is None or message.deleted:
            raise bad_request(missing)
        return message

    def _api_deleteEphemeralMessage(self, p: dict[str, Any]) -> bool:
        message = self._ephemeral(p, "message to delete not found")
        message.deleted = True
        return True

    def _api_editEphemeralMessageText(self, p: dict[str, Any]) -> bool:
        message = self._ephemeral(p, "message to edit not found")
        self._edit_text(message, p)
        return True

    def _api_editEphemeralMessageReplyMarkup(self, p: dict[str, Any]) -> bool:
        message = self._ephemeral(p, "message to edit not found")
        markup = p.get("reply_markup")
        if markup == _inline_markup(message.reply_markup):
            raise bad_request(_NOT_MODIFIED)
        self._set_markup(message, markup)
        self._mark_edited(message)
        return True

    def _api_setMessageReaction(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_member(chat)
        message = chat.by_id.get(p["message_id"])
        if message is None or message.deleted:
            raise bad_request("message to react not found")
        return True

    def _api_pinChatMessage(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_admin(chat, "not enough rights to manage pinned messages in the chat")
        message = chat.by_id.get(p["message_id"])
        if message is None or message.deleted:
            raise bad_request("message to pin not found")
        if message.message_id not in chat.pinned:
            chat.pinned.append(message.message_id)
        return True

    def _api_unpinChatMessage(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_admin(chat, "not enough rights to manage pinned messages in the chat")
        message_id = p.get("message_id") or (chat.pinned[-1] if chat.pinned else None)
        if message_id in chat.pinned:
            chat.pinned.remove(message_id)
        return True

    def _api_unpinAllChatMessages(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_admin(chat, "not enough rights to manage pinned messages in the chat")
        chat.pinned.clear()
        return True

    # -- callbacks -------------------------------------------------------------------------
    def _api_answerCallbackQuery(self, p: dict[str, Any]) -> bool:
        query = self._callbacks.get(p["callback_query_id"])
        if query is None or query.answered:
            raise bad_request(_QUERY_TOO_OLD)
        query.answered = True
        self.callback_answers[query.id] = dict(p)
        return True

    # -- chats -----------------------------------------------------------------------------
    def _api_getChat(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(p["chat_id"])
        info = chat.as_dict()
        info["accent_color_id"] = 0
        info["max_reaction_count"] = 11
        info["accepted_gift_types"] = {
            name: False for name in self.spec.required_fields("AcceptedGiftTypes")
        }
        if chat.type != "private":
            info["permissions"] = {"can_send_messages": True}
        if chat.pinned:
            pinned = chat.by_id.get(chat.pinned[-1])
            if pinned is not None and not pinned.deleted:
                info["pinned_message"] = copy.deepcopy(pinned.raw)
        return info

    def _status_in(self, chat: _Chat, user_id: int) -> str:
        if user_id == self.bot_user["id"]:
            return chat.bot_status
        if chat.type == "private":
            if user_id != chat.id:
                raise bad_request("user not found")
            return "member"
        return chat.members.get(user_id, "left")

    def _any_user(self, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_user["id"]:
            return self.bot_user
        user = self._users.get(user_id)
        if user is None:
            raise bad_request("user not found")
        return user

    def _api_getChatMember(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(p["chat_id"])
        user = self._any_user(p["user_id"])
        return self._member(user, self._status_in(chat, p["user_id"]))

    def _api_getChatAdministrators(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        chat = self._chat(p["chat_id"])
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        result = []
        for wanted in ("creator", "administrator"):
            for user_id, status in chat.members.items():
                if status == wanted:
                    result.append(self._member(self._users[user_id], status))
            if chat.bot_status == wanted:
                result.append(self._member(self.bot_user, wanted))
        return result

    def _api_getChatMemberCount(self, p: dict[str, Any]) -> int:
        chat = self._chat(p["chat_id"])
        if chat.type == "private":
            return 2
        count = sum(1 for status in chat.members.values() if status in _ACTIVE)
        return count + (1 if chat.bot_status in _ACTIVE else 0)

    def _join_request(self, p: Mapping[str, Any]) -> tuple[_Chat, int]:
        chat = self._chat(p["chat_id"])
        if chat.type == "private":
            raise bad_request("method is available for supergroup and channel chats only")
        self._require_admin(chat, "not enough rights to manage join requests")
        user_id = p["user_id"]
        self._any_user(user_id)
        if user_id not in chat.join_requests:
            raise bad_request("HIDE_REQUESTER_MISSING")
        del chat.join_requests[user_id]
        return chat, user_id

    def _api_approveChatJoinRequest(self, p: dict[str, Any]) -> bool:
        chat, user_id = self._join_request(p)
        self._member_moves(chat.id, user_id, "member")
        return True

    def _api_declineChatJoinRequest(self, p: dict[str, Any]) -> bool:
        self._join_request(p)
        return True

    def _api_leaveChat(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        self._require_member(chat)
        self._bot_status_update(chat, self.bot_user, "left")
        return True

    def _api_banChatMember(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_admin(chat, "not enough rights to restrict/unrestrict chat member")
        if chat.type == "private":
            raise bad_request("can't ban members in private chats")
        user_id = p["user_id"]
        self._any_user(user_id)
        if chat.members.get(user_id) == "creator":
            raise bad_request("can't remove chat owner")
        chat.members[user_id] = "kicked"
        return True

    def _api_unbanChatMember(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_admin(chat, "not enough rights to restrict/unrestrict chat member")
        user_id = p["user_id"]
        self._any_user(user_id)
        status = chat.members.get(user_id)
        unban = status == "kicked"
        remove = not p.get("only_if_banned") and status in _ACTIVE and status not in _ADMINS
        if unban or remove:
            chat.members[user_id] = "left"
        return True

    def _api_createChatInviteLink(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(p["chat_id"])
        if chat.type == "private":
            raise bad_request("can't invite members to a private chat")
        self._require_admin(chat, "not enough rights to manage chat invite link")
        if p.get("creates_join_request") and p.get("member_limit"):
            raise bad_request("member_limit can't be specified for links requiring approval")
        link: dict[str, Any] = {
            "invite_link": f"https://t.me/+EMU{secrets.token_urlsafe(12)}",
            "creator": copy.deepcopy(self.bot_user),
            "creates_join_request": bool(p.get("creates_join_request", False)),
            "is_primary": False,
            "is_revoked": False,
        }
        for key in ("name", "expire_date", "member_limit"):
            if key in p:
                link[key] = p[key]
        chat.invite_links.append(link)
        return link

    def _api_getUserProfilePhotos(self, p: dict[str, Any]) -> dict[str, Any]:
        self._any_user(p["user_id"])
        return {"total_count": 0, "photos": []}

    # -- files -----------------------------------------------------------------------------
    def _api_getFile(self, p: dict[str, Any]) -> dict[str, Any]:
        stored = self._files.get(p["file_id"])
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    # -- bot settings ----------------------------------------------------------------------
    def _check_scope(self, scope: Mapping[str, Any] | None) -> None:
        if scope and scope.get("chat_id") is not None:
            chat = self._chat(scope["chat_id"])
            if scope["type"] != "chat" and chat.type == "private":
                raise bad_request("can't use chat administrators scope in private chats")
        if scope and scope.get("user_id") is not None:
            self._any_user(scope["user_id"])

    def _api_setMyCommands(self, p: dict[str, Any]) -> bool:
        scope = p.get("scope")
        self._check_scope(scope)
        key = self._commands_key(scope, p.get("language_code", ""))
        self.commands[key] = [dict(command) for command in p["commands"]]
        return True

    def _api_deleteMyCommands(self, p: dict[str, Any]) -> bool:
        scope = p.get("scope")
        self._check_scope(scope)
        self.commands.pop(self._commands_key(scope, p.get("language_code", "")), None)
        return True

    def _api_getMyCommands(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        key = self._commands_key(p.get("scope"), p.get("language_code", ""))
        return copy.deepcopy(self.commands.get(key, []))

    def _api_setChatMenuButton(self, p: dict[str, Any]) -> bool:
        chat_id = p.get("chat_id")
        if chat_id is not None:
            chat = self._chat(chat_id)
            if chat.type != "private":
                raise bad_request("menu button can be set only in private chats")
        self.menu_buttons[chat_id] = dict(p.get("menu_button") or {"type": "default"})
        return True

    def _api_getChatMenuButton(self, p: dict[str, Any]) -> dict[str, Any]:
        chat_id = p.get("chat_id")
        button = self.menu_buttons.get(chat_id) or self.menu_buttons.get(None)
        return copy.deepcopy(button or {"type": "default"})

    def _set_bot_text(self, kind: str, p: dict[str, Any], value: str | None) -> bool:
        key = (kind, p.get("language_code", ""))
        if value:
            self.bot_texts[key] = value
        else:
            self.bot_texts.pop(key, None)
        return True

    def _api_setMyName(self, p: dict[str, Any]) -> bool:
        return self._set_bot_text("name", p, p.get("name"))

    def _api_getMyName(self, p: dict[str, Any]) -> dict[str, Any]:
        name = self.bot_texts.get(("name", p.get("language_code", "")))
        return {"name": name or self.bot_user["first_name"]}

    def _api_setMyDescription(self, p: dict[str, Any]) -> bool:
        return self._set_bot_text("description", p, p.get("description"))

    def _api_getMyDescription(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"description": self.bot_texts.get(("description", p.get("language_code", "")), "")}

    def _api_setMyShortDescription(self, p: dict[str, Any]) -> bool:
        return self._set_bot_text("short_description", p, p.get("short_description"))

    def _api_getMyShortDescription(self, p: dict[str, Any]) -> dict[str, Any]:
        key = ("short_description", p.get("language_code", ""))
        return {"short_description": self.bot_texts.get(key, "")}
