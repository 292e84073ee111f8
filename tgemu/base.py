"""The emulator's state and what every Bot API area shares: the world's users and chats,
the update queue, rate limits, inspection and the helpers that build and store messages."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .html import find_bot_commands, sort_entities, strip_text
from .spec import ApiError, Converter, Spec, apply_parse_mode, bad_request, get_spec
from .world import (
    _ACTIVE,
    _ADMINS,
    _DEFAULT_EXCLUDED_UPDATES,
    _EXTRA_ADMIN_RIGHTS,
    _QUERY_TOO_OLD,
    EMULATOR_TOKEN,
    JOIN_REQUEST_WINDOW,
    StoredMessage,
    _CallbackQuery,
    _Chat,
    _Ephemeral,
    _Fault,
    _inline_markup,
    _now,
    _Poll,
    _PreCheckout,
    _RandomFaults,
    _ShippingQuery,
    _StoredFile,
)


class EmulatorBase:
    """What every area of the Bot API shares: the world, the update queue and the helpers."""

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
        #: Other tokens that reach the same bot, but whose calls are never rate limited nor
        #: counted against the bot's own limits: a baseline measured beside the bot (the
        #: benchmarks' bare aiogram) must not spend the budget the bot paces itself within.
        self.unmetered_tokens: set[str] = set()
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

    if TYPE_CHECKING:  # the Emulator delivers to the webhook (it dispatches the replies)

        def _ensure_webhook_worker(self) -> None: ...

    @property
    def spec(self) -> Spec:
        return get_spec()

    @property
    def supported_methods(self) -> list[str]:
        return sorted(self._impls)

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
