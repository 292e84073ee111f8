"""The refunder: sends committed Stars refunds to Telegram and books what Telegram answered.

Every process may run one: a refund is claimed with a lease in its own transaction, Telegram is
asked with no transaction open, and the answer is booked in a third. Outcomes:

- refunded, or CHARGE_ALREADY_REFUNDED (a refunder was killed after asking, before booking):
  booked once as paid back, and the member is told;
- 429, 5xx, or no answer: asked again later, with a backoff (the row stays pending);
- any other refusal (400, 403): the money stays owed on the ledger, the payment is marked for
  staff, who are told, and so is the member.

It runs at start (which finishes what a dead process left), whenever `wake` is called after a
refund was committed, and at least every `refund_poll_seconds`. Its times are real time (it
paces requests to Telegram), never the domain clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.tasks import cancel_and_wait
from bot.transactions import unit_of_work
from handlers.views.refund import owed_text, refund_due_text, returned_text
from handlers.views.text import BackgroundSender, later
from models.base import utcnow
from services.member import get_member
from services.refund import (
    DueRefund,
    claim_due_refunds,
    next_refund_due,
    refund_done,
    refund_refused,
    refund_retry,
)
from services.role import staff_locales

log = logging.getLogger(__name__)

ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"


class StarRefunder:
    """Carries out pending Stars refunds until each is booked or handed to staff."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        bot: Bot,
        i18n: I18n,
        settings: Settings,
        notifier: BackgroundSender,
    ) -> None:
        self.sessions = sessions
        self.bot = bot
        self.notifier = notifier
        self.i18n = i18n
        self.settings = settings
        # a claimed refund whose process died is taken over once this ran out
        self.lease = timedelta(seconds=settings.refund_lease_seconds)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """A refund was committed: look now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="star-refunder")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
                async with self.sessions() as session:
                    due = await next_refund_due(session)
            except Exception:  # the refunder must outlive a bad moment of the database
                log.exception("the refunder failed a round; it tries again")
                due = None
            wait = float(self.settings.refund_poll_seconds)
            if due is not None:
                wait = min(wait, max((due - utcnow()).total_seconds(), 0.05))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def run_once(self, now: datetime | None = None) -> int:
        """Ask Telegram for every refund due by `now` (real time when None); returns how many
        were answered for good."""
        answered = 0
        while True:
            async with self.sessions() as session, session.begin():
                due = await claim_due_refunds(session, now=now or utcnow(), lease=self.lease)
            if not due:
                return answered
            for refund in due:
                answered += await self._carry_out(refund)

    async def _carry_out(self, refund: DueRefund) -> int:
        try:
            await self.bot.refund_star_payment(refund.member_id, refund.charge_id)
        except TelegramBadRequest as exc:
            if ALREADY_REFUNDED not in exc.message:
                await self._refused(refund, exc.message)
                return 1
        except (TelegramRetryAfter, TelegramServerError, TelegramNetworkError) as exc:
            async with self.sessions() as session, session.begin():
                when = await refund_retry(session, refund=refund, now=utcnow(), error=str(exc))
            log.warning("refund of %s not answered (%s): again at %s", refund.charge_id, exc, when)
            return 0
        except TelegramAPIError as exc:  # 403 and the like: Telegram will not do it
            await self._refused(refund, str(exc))
            return 1
        async with unit_of_work(self.sessions) as unit:
            if await refund_done(unit.session, refund=refund, now=utcnow()):
                member = await get_member(unit.session, refund.member_id)
                if member is not None and member.started:
                    text = returned_text(
                        self.i18n,
                        member.locale,
                        reason=refund.reason,
                        order_id=refund.order_id,
                        amount=refund.amount,
                        currency=refund.currency,
                    )
                    unit.add(later(self.notifier.send, member.id, text))
        return 1

    async def _refused(self, refund: DueRefund, error: str) -> None:
        log.warning("Telegram refused the refund of %s: %s", refund.charge_id, error)
        async with unit_of_work(self.sessions) as unit:
            session = unit.session
            if not await refund_refused(session, refund=refund, now=utcnow(), error=error):
                return
            member = await get_member(session, refund.member_id)
            if member is not None and member.started:
                text = owed_text(
                    self.i18n,
                    member.locale,
                    order_id=refund.order_id,
                    amount=refund.amount,
                    currency=refund.currency,
                )
                unit.add(later(self.notifier.send, member.id, text))
            name = member.display_name if member is not None else str(refund.member_id)
            staff = await staff_locales(
                session,
                owner_ids=self.settings.owner_ids,
                default_locale=self.settings.default_locale,
            )
            for staff_id, locale in staff:
                text = refund_due_text(
                    self.i18n,
                    locale,
                    order_id=refund.order_id,
                    member=name,
                    amount=refund.amount,
                    currency=refund.currency,
                )
                unit.add(later(self.notifier.send, staff_id, text))
