"""The card poster: posts the group-buy cards the promotion policy scheduled, each once.

A drop, a staff group-buy or a pre-sale card is not posted inside the update that opens it: the
update schedules one row per group (services.policy.schedule_cards), due now where the policy
lets the card go now and at the first allowed moment elsewhere. Once that update committed,
`post` posts the group-buy's cards due now; the rest wait for their time: a date job each, a
periodic sweep for anything missed, and the jobs rebuilt from the database at start (the
scheduler's `DeadlineCloser`). Each row is claimed by a conditional UPDATE before its card is
sent, so a sweep, a date job and the update itself (or two processes) never post it twice; the
card goes out with no transaction open, and its message is recorded in a transaction of its own.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.methods import SendPhoto
from sqlalchemy.ext.asyncio import AsyncSession

from bot.scheduler import DeadlineCloser
from handlers.views.groupbuy import post_card
from services.community import get_community
from services.groupbuy import get_groupbuy, posts
from services.policy import (
    card_failed,
    card_posted,
    claim_card,
    due_cards,
    expire_posting,
    pending_cards,
)
from services.zones import group_zone

log = logging.getLogger(__name__)

# a card claimed longer ago than this was left by a dead worker: failed, never sent again
LEASE = timedelta(minutes=10)


class CardPoster(DeadlineCloser):
    """Posts scheduled group-buy cards when they are due."""

    name = "card"

    async def pending(self, session: AsyncSession) -> list[tuple[int, datetime]]:
        return await pending_cards(session)

    async def close_due(self) -> int:
        """Post every due card, each once; returns how many went out."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            expired = await expire_posting(session, now=now, lease=LEASE)
        if expired:
            log.warning("%s scheduled cards were left claimed by a dead worker: failed", expired)
        async with self.sessions() as session:
            due = await due_cards(session, now=now)
        return await self._post(due, now)

    async def post(self, groupbuy_id: int) -> int:
        """Post the group-buy's cards due now (called once the update that opened it
        committed); returns how many went out."""
        now = self.clock()
        async with self.sessions() as session:
            due = await due_cards(session, now=now, groupbuy_id=groupbuy_id)
        return await self._post(due, now)

    async def _post(self, due: list[int], now: datetime) -> int:
        posted = 0
        for post_id in due:
            try:
                if await self.post_one(post_id, now):
                    posted += 1
            except Exception:  # one bad card must not stop the others
                log.exception("posting scheduled card %s failed", post_id)
        return posted

    async def post_one(self, post_id: int, now: datetime) -> bool:
        """Claim the card, post it with no transaction open, record its message; False when
        another worker had it, it can no longer go, or Telegram refused it."""
        async with self.sessions() as session, session.begin():
            card = await claim_card(session, post_id=post_id, now=now)
        if card is None:
            return False
        async with self.sessions() as session:
            found = await get_groupbuy(session, card.groupbuy_id)
            community = await get_community(session, card.chat_id)
            # a targeted drop may give this group its own pickup text
            pickup = next(
                (
                    p.pickup
                    for p in await posts(session, card.groupbuy_id)
                    if p.chat_id == card.chat_id
                ),
                "",
            )
        assert found is not None  # claim_card checked it is open
        gb = found.at_pickup(pickup)
        locale = community.locale if community else self.settings.default_locale
        zone = group_zone(community.timezone if community else None, self.settings.default_timezone)
        with self.i18n.context(), self.i18n.use_locale(locale):
            method = post_card(gb, card.chat_id, locale, zone, now)
            try:
                try:
                    sent = await self.bot(method)
                except TelegramBadRequest as exc:
                    if not isinstance(method, SendPhoto):
                        raise
                    # the photo is refused (a file id of another bot token): a text card
                    log.warning("group-buy %s: photo card refused (%s), posted as text", gb.id, exc)
                    method = post_card(
                        replace(gb, photo_file_id=None), card.chat_id, locale, zone, now
                    )
                    sent = await self.bot(method)
            except TelegramAPIError as exc:
                log.warning("group-buy %s: card in %s refused (%s)", gb.id, card.chat_id, exc)
                async with self.sessions() as session, session.begin():
                    await card_failed(session, post_id=post_id)
                return False
        async with self.sessions() as session, session.begin():
            await card_posted(
                session,
                card=card,
                message_id=sent.message_id,
                photo=isinstance(method, SendPhoto),
                now=self.clock(),
                sent_at=datetime.now(UTC),  # the pace of its edits runs on the real time
            )
        return True
