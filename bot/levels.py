"""Group sizes on a schedule: the bot reads each approved group's member count
(getChatMemberCount, outside any transaction), keeps it, and warns the group's leader and
staff once when the group reaches 90% of GROUP_SIZE_LIMIT, suggesting the next group.

The warning is claimed by a conditional UPDATE (services/levels.py record_member_count), so
two schedulers or a restart never warn twice for one crossing; the notices leave after commit.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Unpack

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.periodic import JobBasics, SweepJob
from bot.scheduler import JobNotices, each
from bot.transactions import unit_of_work
from handlers.views.levels import size_warning_text
from services.levels import groups_to_count, record_member_count
from services.member import get_member
from services.role import staff_locales

log = logging.getLogger(__name__)
SIZE_JOB = "group-sizes"


class GroupSizeWatch(SweepJob):
    """Reads the groups' member counts and warns of groups nearing their limit."""

    name = SIZE_JOB

    def __init__(self, *, bot: Bot, **basics: Unpack[JobBasics]) -> None:
        super().__init__(**basics)
        self.bot = bot

    def seconds(self) -> int:
        return self.settings.group_size_check_seconds

    async def run(self) -> int:
        """Count every approved group; returns how many warnings went out."""
        async with self.delivering() as sent:
            warned = await each(
                await self.due(groups_to_count),
                lambda community_id: self._count(community_id, sent),
                log,
                "member count of %s not kept; the next run retries",
            )
        return len(warned)

    async def _count(self, community_id: int, sent: list[asyncio.Task[None]]) -> bool:
        """Read the group's member count (no transaction open), then keep it and warn once
        committed; False when it could not be read or no warning is due."""
        try:
            count = await self.bot.get_chat_member_count(community_id)
        except TelegramAPIError as exc:  # the bot was removed meanwhile, a passing failure
            log.info("member count of %s not read: %s", community_id, exc)
            return False
        async with unit_of_work(self.sessions) as unit:
            warning = await record_member_count(
                unit.session,
                community_id=community_id,
                count=count,
                limit=self.settings.group_size_limit,
                now=self.clock(),
            )
            if warning is None:
                return False
            notices = JobNotices(self.notifier, unit, sent)
            recipients = dict(
                await staff_locales(
                    unit.session,
                    owner_ids=self.settings.owner_ids,
                    default_locale=self.settings.default_locale,
                )
            )
            for leader_id in warning.leader_ids:
                leader = await get_member(unit.session, leader_id)
                recipients[leader_id] = leader.locale if leader else self.settings.default_locale
            for member_id, locale in sorted(recipients.items()):
                with self.i18n.context(), self.i18n.use_locale(locale):
                    notices.send(member_id, size_warning_text(warning))
        return True
