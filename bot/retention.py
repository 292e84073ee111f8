"""Retention on a schedule: free texts members wrote (review comments, and any table listed in
models/privacy.py FREE_TEXTS) are erased once older than their retention period, and the
claims of handled updates older than PROCESSED_UPDATE_DAYS are pruned, and so are the
dashboard's login links, sessions and used Mini App initData once expired.

Each erasure is one conditional UPDATE (`text <> ''`): a rerun, a restart or a second
process erases each text once and then finds nothing left to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.periodic import PeriodicJob
from models.privacy import FREE_TEXTS
from services.dashboard import prune_expired
from services.idempotency import prune_claims
from services.privacy import erase_expired_text, retention_days

log = logging.getLogger(__name__)
RETENTION_JOB = "text-retention"


class TextRetention(PeriodicJob):
    """Erases free texts past their retention; `run` is the whole job, safe to call often."""

    name = RETENTION_JOB

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock

    async def run(self) -> dict[str, int]:
        """Erase what is due; returns how many texts were erased per free-text key."""
        now = self.clock()
        days = retention_days(self.settings.text_retention)
        erased: dict[str, int] = {}
        for text in FREE_TEXTS:
            try:
                async with self.sessions() as session, session.begin():
                    # several columns may share a key (an address's name, phone and lines)
                    erased[text.key] = erased.get(text.key, 0) + await erase_expired_text(
                        session, text=text, days=days[text.key], now=now
                    )
            except Exception:  # one table must not stop the others
                log.exception("retention of %s failed; the next run retries", text.key)
        if any(erased.values()):
            log.info("retention erased %s", erased)
        try:
            async with self.sessions() as session, session.begin():
                before = now - timedelta(days=self.settings.processed_update_days)
                pruned = await prune_claims(session, before=before)
            if pruned:
                log.info("retention pruned %s claims of handled updates", pruned)
        except Exception:
            log.exception("pruning the claims of handled updates failed; the next run retries")
        try:
            async with self.sessions() as session, session.begin():
                gone = await prune_expired(session, now=now)
            if any(gone.values()):
                log.info("retention deleted expired dashboard rows %s", gone)
        except Exception:
            log.exception("pruning expired dashboard rows failed; the next run retries")
        return erased

    def seconds(self) -> int:
        return self.settings.retention_seconds
