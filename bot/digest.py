"""The weekly digest on a schedule: from Monday's DIGEST_HOUR in the brand's time zone, every
staff member and leader who has not opted out gets last week's five biggest movers with a
chart, once. The chart is drawn in a worker thread.

Each digest is claimed by inserting its (member, week) row, and sent as a photo only after
that row committed; a sweep that comes again, a restart or a second scheduler finds the row and
sends nothing. Figures are read in short read-only sessions, one report per scope (staff share
one), and the sends go through the background sender (bot.sender.Notifier: the bot's paced
session, each call tried again on a passing Telegram failure), so the job never holds up
updates and a 5xx does not lose the week's digest.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Unpack

from aiogram import Bot
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.periodic import JobBasics, SweepJob
from bot.transactions import unit_of_work
from handlers.views.digest import digest_chart, digest_keyboard, digest_text
from handlers.views.text import CAPTION_LIMIT, visible_length
from services.analytics import Scope
from services.digest import (
    Digest,
    Recipient,
    build_digest,
    claim_digest,
    digest_recipients,
    digest_week,
    sent_this_week,
)

log = logging.getLogger(__name__)
DIGEST_JOB = "weekly-digest"


@dataclass
class DigestRun:
    week: date | None = None
    sent: int = 0
    failed: int = 0


class WeeklyDigest(SweepJob):
    """Sends the week's digests that are due and not sent; `run` is safe to call often."""

    name = DIGEST_JOB

    def __init__(
        self, *, readers: async_sessionmaker[AsyncSession], bot: Bot, **basics: Unpack[JobBasics]
    ) -> None:
        # `sessions` for the claims; `notifier` for the sends, tried again while Telegram
        # fails in passing
        super().__init__(**basics)
        self.readers = readers  # the figures (never the write lock on SQLite)
        self.bot = bot

    def seconds(self) -> int:
        return self.settings.digest_sweep_seconds

    async def run(self) -> DigestRun:
        now = self.clock()
        zone = self.settings.default_timezone
        run = DigestRun(week=digest_week(now, timezone=zone, hour=self.settings.digest_hour))
        if run.week is None:
            return run
        async with self.readers() as session:
            recipients = await digest_recipients(
                session,
                owner_ids=self.settings.owner_ids,
                default_locale=self.settings.default_locale,
            )
            done = await sent_this_week(session, week=run.week)
        digests: dict[Scope, Digest] = {}
        for recipient in recipients:
            if recipient.member_id in done:
                continue
            try:
                if recipient.scope not in digests:
                    async with self.readers() as session:
                        digests[recipient.scope] = await build_digest(
                            session,
                            week=run.week,
                            timezone=zone,
                            currency=self.settings.tier_currency,
                            scope=recipient.scope,
                        )
                if await self._send(recipient, digests[recipient.scope], now):
                    run.sent += 1
            except Exception:  # one reader must not stop the others
                run.failed += 1
                log.exception("digest for %s failed; the next sweep retries", recipient.member_id)
        if run.sent:
            log.info("weekly digest of %s: %s sent", run.week, run.sent)
        return run

    def _render(
        self, recipient: Recipient, digest: Digest
    ) -> tuple[str, bytes | None, InlineKeyboardMarkup]:
        """The digest's text, chart image and opt-out button in the reader's language."""
        with self.i18n.context(), self.i18n.use_locale(recipient.locale):
            return (
                digest_text(digest, recipient.locale),
                digest_chart(digest, recipient.locale),
                digest_keyboard(on=False),
            )

    async def _send(self, recipient: Recipient, digest: Digest, now: datetime) -> bool:
        """Claim the reader's digest, then send it (after the claim committed)."""
        # drawing the chart takes a while: off the event loop, so updates are not held up
        text, chart, keyboard = await asyncio.to_thread(self._render, recipient, digest)
        async with unit_of_work(self.sessions) as unit:
            if not await claim_digest(
                unit.session, member_id=recipient.member_id, week=digest.week, now=now
            ):
                return False
        if digest.empty:  # claimed, so no sweep builds it again, but a page of zeros says nothing
            return False
        # the claim committed: the sends go to the background sender, which tries each again
        # on a passing failure; a second sweep finds the claim and sends nothing
        member_id = recipient.member_id
        if chart is None:
            self.notifier.send(member_id, text, reply_markup=keyboard)
            return True
        photo = BufferedInputFile(chart, filename=f"digest_{digest.week}.png")
        if visible_length(text) <= CAPTION_LIMIT:
            send = partial(
                self.bot.send_photo, member_id, photo, caption=text, reply_markup=keyboard
            )
            self.notifier.send_steps(member_id, send)
            return True
        # a leader of many groups: their names make the text too long for a caption
        self.notifier.send_steps(
            member_id,
            partial(self.bot.send_photo, member_id, photo),
            partial(self.bot.send_message, member_id, text, reply_markup=keyboard),
        )
        return True
