"""The emulated Telegram world's constants and records: stored messages, chats, polls,
queries, files and faults."""

from __future__ import annotations

import random
import struct
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from .spec import ApiError

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
