"""Counting members' group messages and button taps without a statement per update.

The middleware adds each human's group message or callback tap to an in-process tally keyed
by (group, member, the group's local day); `InteractionCounter` writes the tally as one batched
upsert every INTERACTION_FLUSH_SECONDS and once more when the process stops. Every process
(webhook worker or poller) keeps and flushes its own tally: the upsert adds, so counts from
several processes sum. A flush that fails puts its counts back for the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.periodic import PeriodicJob
from services.interactions import add_interactions

log = logging.getLogger(__name__)
INTERACTION_JOB = "interaction-flush"

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class InteractionCounter(PeriodicJob):
    """The process's tally of messages and taps, flushed to `member_interaction`."""

    name = INTERACTION_JOB

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        seconds: int,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.interval = seconds
        self.counts: dict[tuple[int, int, date], list[int]] = {}

    def seconds(self) -> int:
        return self.interval

    def add(self, *, community_id: int, member_id: int, day: date, tap: bool) -> None:
        """One message (or, with `tap`, one button tap) of the member in the group that day."""
        tally = self.counts.setdefault((community_id, member_id, day), [0, 0])
        tally[1 if tap else 0] += 1

    async def run(self) -> int:
        """Write the tally so far; returns the rows written (their counts are put back for
        the next flush if the write fails)."""
        if not self.counts:
            return 0
        taken, self.counts = self.counts, {}
        try:
            async with self.sessions() as session, session.begin():
                written = await add_interactions(
                    session, counts={key: (v[0], v[1]) for key, v in taken.items()}
                )
        except BaseException:
            for key, (messages, taps) in taken.items():
                tally = self.counts.setdefault(key, [0, 0])
                tally[0] += messages
                tally[1] += taps
            log.exception("interaction counts not written; kept for the next flush")
            raise
        return written

    async def close(self) -> None:
        """Stop the schedule and write what is left (on shutdown)."""
        self.stop()
        try:
            await self.run()
        except Exception:  # shutdown goes on; the counts are lost with the process
            log.exception("interaction counts lost at shutdown")


class InteractionMiddleware(BaseMiddleware):
    """Tallies a human member's message or button tap in a group (after the context is
    recorded, so duplicates and updates from outside groups are never counted)."""

    def __init__(self, counter: InteractionCounter) -> None:
        self.counter = counter

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        community = data.get("community")
        member = data.get("member")
        if (
            isinstance(event, Update)
            and community is not None
            and member is not None
            and not member.is_bot
        ):
            tap = event.callback_query is not None
            message = event.message
            counted = tap or (
                message is not None
                and message.sender_chat is None
                and not message.new_chat_members
                and message.left_chat_member is None
            )
            if counted:
                day = self.counter.clock().astimezone(_zone(community.timezone)).date()
                self.counter.add(community_id=community.id, member_id=member.id, day=day, tap=tap)
        return await handler(event, data)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")
