"""Live group-buy cards: bursts of joins become at most one edit per interval per group."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from aiogram.methods import EditMessageCaption, EditMessageText
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.tasks import cancel_and_wait
from handlers.views.groupbuy import edit_card
from services.community import get_community
from services.groupbuy import claim_card_edit, get_groupbuy, posts
from services.zones import group_zone

log = logging.getLogger(__name__)

# how long a shutdown waits for the last card edits
CLOSE_SECONDS = 5.0


class CardRefresher:
    """Edits a group-buy's cards after changes, coalescing bursts.

    `touch` returns at once; one task per group-buy waits out the interval, then edits every
    card whose slot it can claim in the database (so several workers still edit a group at
    most once per interval) and comes back later for the rest.
    """

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        bot: Bot,
        i18n: I18n,
        clock: Callable[[], datetime],
        interval: float,
        default_zone: str,
    ) -> None:
        self.sessions = sessions
        self.bot = bot
        self.i18n = i18n
        self.clock = clock
        self.interval = interval
        self.default_zone = default_zone  # the brand's zone, for a card in an unknown group
        self._pending: dict[int, asyncio.Task[None]] = {}
        self._dirty: set[int] = set()

    def touch(self, groupbuy_id: int) -> None:
        """Note that the group-buy changed; its cards will be edited soon."""
        self._dirty.add(groupbuy_id)
        if groupbuy_id not in self._pending:
            self._pending[groupbuy_id] = asyncio.create_task(self._run(groupbuy_id))

    async def flush(self) -> None:
        """Edit every changed card now, without waiting for the interval (shutdown, tests)."""
        for task in list(self._pending.values()):
            await cancel_and_wait(task)
        for groupbuy_id in sorted(self._dirty):
            self._dirty.discard(groupbuy_id)
            with self.i18n.context():
                await self._edit(groupbuy_id, interval=0.0)

    async def close(self) -> None:
        """Edit the cards that changed since their last edit (within `CLOSE_SECONDS`), so a
        restart leaves no card showing an old count; then stop."""
        try:
            await asyncio.wait_for(self.flush(), timeout=CLOSE_SECONDS)
        except TimeoutError:
            log.warning("cards not edited before shutdown: %s", sorted(self._dirty))
        except Exception:  # shutdown goes on whatever Telegram or the database says
            log.exception("card edits before shutdown failed")
        for task in list(self._pending.values()):
            await cancel_and_wait(task)

    async def _run(self, groupbuy_id: int) -> None:
        try:
            while groupbuy_id in self._dirty:
                await asyncio.sleep(self.interval)
                self._dirty.discard(groupbuy_id)  # changes from here on need another edit
                try:
                    with self.i18n.context():
                        done = await self._edit(groupbuy_id, interval=self.interval)
                    if not done:
                        self._dirty.add(groupbuy_id)  # a slot was taken: try again later
                except asyncio.CancelledError:
                    # cancelled mid-edit (a flush, a shutdown): the card may not show the
                    # change yet, so whoever flushes next edits it
                    self._dirty.add(groupbuy_id)
                    raise
                except TelegramRetryAfter as exc:
                    await asyncio.sleep(exc.retry_after)
                    self._dirty.add(groupbuy_id)
                except Exception:  # a card edit must never take the bot down
                    log.exception("card refresh of group-buy %s failed", groupbuy_id)
        finally:
            self._pending.pop(groupbuy_id, None)

    async def _edit(self, groupbuy_id: int, *, interval: float) -> bool:
        """Edit every card whose slot is free; False when some must wait."""
        now = self.clock()  # the domain clock, for the text ("ends in ...")
        wall = datetime.now(UTC)  # real time, for Telegram's pace
        all_done = True
        # each card's edit (its caption when it is a photo, else its text), rendered in the
        # group's language
        edits: list[tuple[int, EditMessageCaption | EditMessageText]] = []
        async with self.sessions() as session, session.begin():
            gb = await get_groupbuy(session, groupbuy_id)
            if gb is None:
                return True
            for post in await posts(session, groupbuy_id):
                slot = await claim_card_edit(
                    session,
                    groupbuy_id=groupbuy_id,
                    chat_id=post.chat_id,
                    now=wall,
                    interval=interval,
                )
                if slot is None:
                    all_done = all_done and post.message_id is None
                    continue
                community = await get_community(session, post.chat_id)
                locale = community.locale if community else self.i18n.default_locale
                zone = group_zone(community.timezone if community else None, self.default_zone)
                with self.i18n.use_locale(locale):
                    edit = edit_card(
                        gb.at_pickup(post.pickup),
                        post.chat_id,
                        slot.message_id,
                        photo=slot.photo,
                        locale=locale,
                        timezone=zone,
                        now=now,
                    )
                edits.append((post.chat_id, edit))
        # the slots are claimed and committed: Telegram is asked with no transaction open
        for chat_id, edit in edits:
            try:
                await self.bot(edit)
            except TelegramRetryAfter:
                raise
            except TelegramAPIError as exc:  # e.g. "message is not modified"
                log.info("card %s in %s not edited: %s", groupbuy_id, chat_id, exc)
        return all_done
