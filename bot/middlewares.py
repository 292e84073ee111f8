"""Outer middlewares, in the order they wrap every update: FSM state, DB session, context,
throttle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import Chat, TelegramObject, Update, User
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.metrics import OUTCOME, OUTCOME_DUPLICATE, OUTCOME_THROTTLED, Metrics
from bot.redis import ResilientStorage, Throttle
from bot.transactions import UnitOfWork, unit_of_work
from handlers.views.text import N_
from services.community import ChatInfo, record_context
from services.idempotency import Claim
from services.member import UserInfo, locale_for_language_code

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
GROUP_TYPES = (ChatType.GROUP, ChatType.SUPERGROUP)


# the throttle's count of the update, when StateMiddleware took it with the state
THROTTLE_COUNT = "throttle_count"
# the state read StateMiddleware started and `settle_state` waits for
PENDING_STATE = "pending_state"
THROTTLED = N_("You are going a little fast. Please wait a few seconds and try again.")


class ThrottleMiddleware(BaseMiddleware):
    """Drops a user's updates beyond the configured rate, telling them once per window.

    It stands after the context middleware, so that on Redis the state and the count are read
    while the update's transaction begins and reads the member (`StateMiddleware`); a dropped
    update is claimed and its member recorded all the same, which costs one statement."""

    def __init__(self, throttle: Throttle, i18n: I18n) -> None:
        self.throttle = throttle
        self.i18n = i18n

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        await settle_state(data)
        key = throttled_as(event, data)
        if key is None:
            return await handler(event, data)
        count = data.get(THROTTLE_COUNT)
        if count is None:
            count = await self.throttle.hit(key)
        if count <= self.throttle.limit:
            return await handler(event, data)
        user: User | None = data.get("event_from_user")
        if count == self.throttle.limit + 1 and isinstance(event, Update) and user is not None:
            await self._tell(event, data["bot"], user)
        log.info("throttled update %s from %s", getattr(event, "update_id", "?"), key)
        data[OUTCOME] = OUTCOME_THROTTLED
        return None

    async def _tell(self, update: Update, bot: Bot, user: User) -> None:
        locale = locale_for_language_code(user.language_code, self.i18n.default_locale)
        text = self.i18n.gettext(THROTTLED, locale=locale)
        try:
            if update.callback_query is not None:
                await bot.answer_callback_query(update.callback_query.id, text=text)
            elif update.message is not None:
                await bot.send_message(update.message.chat.id, text)
        except TelegramAPIError as exc:
            log.info("could not tell user %s about throttling: %s", user.id, exc)


def throttled_as(event: TelegramObject, data: dict[str, Any]) -> int | None:
    """Whose count an update adds to: its user's, or the chat it speaks for; None for a bot."""
    sender = _sender_chat(event)
    if sender is not None:
        # a channel, or a group's anonymous admins: the user is Telegram's stand-in (a bot)
        # for everyone who writes that way, so the count is the chat's (negative ids never
        # meet a user's)
        return sender.id
    user: User | None = data.get("event_from_user")
    return None if user is None or user.is_bot else user.id


class StateMiddleware(FSMContextMiddleware):
    """aiogram's FSM middleware (it takes that one's place, before every other middleware of
    ours), which on Redis counts the update for the throttle in the same round trip as it
    reads the state.

    That round trip is only started here: it runs while the next middlewares begin the update's
    transaction and read its member and group, and `ThrottleMiddleware` waits for it
    (`settle_state`), before anything uses the state or the count. An update then waits for
    the slower of Redis and the database, not for both in turn."""

    def __init__(self, fsm: FSMContextMiddleware, throttle: Throttle) -> None:
        super().__init__(fsm.storage, fsm.events_isolation, fsm.strategy)
        self.throttle = throttle

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        storage = self.storage
        who = throttled_as(event, data)
        if who is None or not isinstance(storage, ResilientStorage):
            return await super().__call__(handler, event, data)
        data["fsm_storage"] = storage
        context = self.resolve_event_context(data["bot"], data)
        if context is None:
            return await handler(event, data)
        async with self.events_isolation.lock(key=context.key):
            data["state"] = context
            pending = asyncio.ensure_future(storage.state_and_hit(context.key, self.throttle, who))
            data[PENDING_STATE] = pending
            try:
                return await handler(event, data)
            finally:
                # an update that failed or was skipped before it needed the state
                data.pop(PENDING_STATE, None)
                if not pending.done():
                    await asyncio.wait((pending,))
                if not pending.cancelled():
                    pending.exception()  # retrieved; an error reading the state is Redis's own


async def settle_state(data: dict[str, Any]) -> None:
    """Put the state and the throttle's count that `StateMiddleware` is reading in the handler
    data, once read (nothing to do when it read none)."""
    pending = data.pop(PENDING_STATE, None)
    if pending is None:
        return
    raw_state, count = await pending
    data["raw_state"] = raw_state
    if count is not None:
        data[THROTTLE_COUNT] = count


def _sender_chat(event: TelegramObject) -> Chat | None:
    """The chat a message speaks for (`sender_chat`: a channel, or anonymous admins)."""
    if not isinstance(event, Update):
        return None
    message = event.message or event.edited_message
    return message.sender_chat if message is not None else None


def delivery_of(update: Update) -> str | None:
    """What identifies the update's content on Telegram's side, whatever its update id."""
    if update.callback_query is not None:
        return f"callback:{update.callback_query.id}"
    if update.pre_checkout_query is not None:
        return f"pre_checkout:{update.pre_checkout_query.id}"
    if update.shipping_query is not None:
        return f"shipping:{update.shipping_query.id}"
    if update.message is not None:
        return f"message:{update.message.chat.id}:{update.message.message_id}"
    return None


class CommittedNotifier:
    """The background sender as a handler sees it: a message is queued only once the update's
    transaction committed, so a failed update that Telegram redelivers tells nobody twice and
    nothing is told about writes a rollback took back."""

    def __init__(self, notifier: Any, after: UnitOfWork) -> None:
        self.notifier = notifier
        self.after = after

    def send(self, chat_id: int, text: str, **kwargs: Any) -> None:
        async def queue() -> None:
            self.notifier.send(chat_id, text, **kwargs)

        self.after.add(queue)

    def send_steps(self, chat_id: int, *steps: Callable[[], Awaitable[object]]) -> None:
        async def queue() -> None:
            self.notifier.send_steps(chat_id, *steps)

        self.after.add(queue)


class DbSessionMiddleware(BaseMiddleware):
    """One session per update, whose transaction (a `UnitOfWork`) ends before the handler
    first talks to Telegram: committed there or when the handler returns, rolled back on error.
    The update is claimed in it (`ContextMiddleware`).

    On SQLite (`one_writer`) every transaction takes the single write lock when it begins, so
    updates handled at once would only wait on each other in SQLite's busy loop, and under a
    burst some would wait past the busy timeout and fail: they queue here instead, in order,
    each only until its transaction commits (never while its reply is sent).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        one_writer: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self.sessions = sessions
        self.writer = asyncio.Lock() if one_writer else None
        self.metrics = metrics

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        failed = self.metrics.effects_failed.inc if self.metrics is not None else None
        async with unit_of_work(self.sessions, writer=self.writer, failed=failed) as unit:
            data["session"] = unit.session
            data["after_commit"] = unit
            if "notifier" in data:
                data["notifier"] = CommittedNotifier(data["notifier"], unit)
            return await handler(event, data)


class ContextMiddleware(BaseMiddleware):
    """Claims the update, records the member and the group behind it and picks the reply
    locale.

    The update id, and the callback query or message it carries, are claimed in the update's
    transaction, so a redelivered update is skipped (even under a new update id) and one that
    failed before it committed anything stays claimable. On PostgreSQL the claim and the
    reading of the member and the group are one statement."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session: AsyncSession = data["session"]
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        person = UserInfo.of(user) if user is not None and not _joins_self(event, user) else None
        group = None
        if chat is not None and chat.type in GROUP_TYPES:
            group = ChatInfo(id=chat.id, title=chat.title or "", chat_type=chat.type)
        # the member, the group and that the member is in it: one SELECT when nothing changed
        recorded = await record_context(
            session,
            user=person,
            chat=group,
            started=chat is not None and chat.type == ChatType.PRIVATE,
            default_locale=self.settings.default_locale,
            default_timezone=self.settings.default_timezone,
            now=data["clock"](),  # the domain clock, as every verb the handlers call
            claim=Claim(event.update_id, delivery_of(event)) if isinstance(event, Update) else None,
        )
        if not recorded.claimed:
            log.info("update %s was already handled; skipped", getattr(event, "update_id", "?"))
            data[OUTCOME] = OUTCOME_DUPLICATE
            return None
        member, community = recorded.member, recorded.community
        data["member"] = member
        data["community"] = community
        if community is not None:
            data["locale"] = community.locale
        elif member is not None:
            data["locale"] = member.locale
        else:
            data["locale"] = self.settings.default_locale
        return await handler(event, data)


def _joins_self(event: TelegramObject, user: User) -> bool:
    """A "joined the group" service message about the sender: the chat_member update of the
    same join records them. Telegram does not order the two, and a referral through a group
    invite link needs the chat_member update to be the first the bot sees of a newcomer."""
    message = event.message if isinstance(event, Update) else None
    joined = message.new_chat_members if message is not None else None
    return bool(joined) and any(new.id == user.id for new in joined or ())
