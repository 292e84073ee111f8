"""Leader credit for staff, in private: a leader's record (/leader_record), the limits staff set
on them (/leader_limit), and "Suspend for review" from the record."""

from __future__ import annotations

from enum import StrEnum
from functools import partial
from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.member import named_member
from handlers.views.role import group_names, leader_notice, member_name
from handlers.views.stats import duration_text
from handlers.views.text import (
    N_,
    BackgroundSender,
    CallbackId,
    CommitHook,
    HandlerSettings,
    counted,
    esc,
    format_amounts,
    format_money,
)
from models.base import Clock
from models.role import LEADER_ACTIVE, LEADER_SUSPENDED
from services.audit import record_action
from services.credit import (
    COMPLAINT_RATING,
    LIMIT_GROUPBUYS,
    LIMIT_ORDER,
    CreditError,
    LeaderRecord,
    Limits,
    clear_limits,
    get_limits,
    leader_record,
    set_limit,
)
from services.member import MemberView, get_member
from services.money import InvalidAmount, parse_currency
from services.parsing import parse_amount
from services.role import LeaderError, Role, suspend_leader
from services.ticket import TicketStats, ticket_stats
from services.validation import number

router = Router(name="credit")
MAX_LIMIT_AMOUNT = 10**12  # minor units: the highest order limit staff can type
MAX_LIMIT_GROUPBUYS = 1000  # the most open group-buys at once a limit can allow


class CreditAction(StrEnum):
    SUSPEND = "suspend"


class CreditCallback(CallbackData, prefix="crd"):
    """The "Suspend for review" button under a leader's record."""

    action: CreditAction
    member_id: CallbackId


async def _named(
    message: Message, command: CommandObject, session: AsyncSession
) -> MemberView | None:
    """The member named by the command's first word (@username or id); replies with what to
    fix and returns None when there is none."""
    words = (command.args or "").split()
    if not words:
        await message.answer(
            _("Tell me which leader, for example /{command} @alice.").format(
                command=command.command
            )
        )
        return None
    return await named_member(session, words[0], message.answer)


def limits_text(limits: Limits | None, locale: str) -> str:
    """The leader's limits in one line."""
    if limits is None:
        return _("Limits: none.")
    parts = []
    if limits.max_open_groupbuys is not None:
        parts.append(
            _("open group-buys at once: at most {count}").format(count=limits.max_open_groupbuys)
        )
    if limits.max_cash_order is not None:
        parts.append(
            _("orders marked paid by hand up to {amount}").format(
                amount=format_money(limits.max_cash_order, limits.currency, locale)
            )
        )
    return _("Limits: {limits}.").format(limits=_("; ").join(parts))


async def record_text(
    session: AsyncSession,
    record: LeaderRecord,
    leader: MemberView,
    *,
    locale: str,
    timezone: str,
    overdue_days: int,
    tickets: TicketStats | None = None,
) -> str:
    """The leader's record as staff read it: short, one subject a line."""
    lines = [_("📋 Leader record of {name}").format(name=member_name(leader))]
    leading = [c for c, status in record.groups if status == LEADER_ACTIVE]
    suspended = [c for c, status in record.groups if status == LEADER_SUSPENDED]
    if leading:
        lines.append(_("Leads: {groups}").format(groups=await group_names(session, leading)))
    if suspended:
        lines.append(
            _("Suspended in: {groups}").format(groups=await group_names(session, suspended))
        )
    if not record.groups:
        lines.append(_("Leads no group now."))
    lines.append(
        _(
            "Group-buys: {run} run · {open} open · {formed} formed · {failed} failed · "
            "{cancelled} cancelled"
        ).format(
            run=record.groupbuys_run,
            open=record.groupbuys_open,
            formed=record.groupbuys_formed,
            failed=record.groupbuys_failed,
            cancelled=record.groupbuys_cancelled,
        )
    )
    lines.append(
        _(
            "Orders paid: {paid} · picked up late (over {days}): {late} · "
            "never picked up: {never} · reservations expired unpaid: {expired}"
        ).format(
            paid=record.orders_paid,
            days=counted("day", record.late_days),
            late=record.picked_up_late,
            never=record.never_picked_up,
            expired=record.expired_unpaid,
        )
    )
    refunds = _("Refunds: {count}").format(count=record.refunds)
    if record.refunded:
        refunds = _("Refunds: {count} ({amounts})").format(
            count=record.refunds, amounts=format_amounts(record.refunded, locale)
        )
    complaints = _("complaints (reviews of {stars} or fewer): {count}").format(
        stars=counted("star", COMPLAINT_RATING), count=record.complaints
    )
    detractors = _("NPS detractors: {count}").format(count=record.detractors)
    lines.append(" · ".join([refunds, complaints, detractors]))
    if tickets is not None and tickets.opened:
        lines.append(
            _(
                "After-sales tickets: {opened} · overdue: {overdue} · first answer in {answer} · "
                "resolution in {resolve}"
            ).format(
                opened=tickets.opened,
                overdue=tickets.overdue,
                answer=duration_text(tickets.answer_seconds),
                resolve=duration_text(tickets.resolve_seconds),
            )
        )
    lines += _cash_lines(record, locale=locale, timezone=timezone, overdue_days=overdue_days)
    lines.append(limits_text(record.limits, locale))
    return "\n".join(lines)


def _cash_lines(
    record: LeaderRecord, *, locale: str, timezone: str, overdue_days: int
) -> list[str]:
    """The cash the leader owes the brand, a line per currency with the oldest date, the
    overdue ones marked."""
    lines: list[str] = []
    if not record.cash:
        lines.append(_("Cash owed to the brand: none."))
    zone = ZoneInfo(timezone)
    for held in record.cash:
        line = _("Cash owed to the brand: {amount}, oldest since {date}").format(
            amount=format_money(held.owed, held.currency, locale),
            date=f"{held.oldest_at.astimezone(zone):%Y-%m-%d}",
        )
        if held.overdue:
            line = (
                "⚠️ "
                + line
                + " — "
                + _("overdue (more than {days})").format(days=counted("day", overdue_days))
            )
        lines.append(line)
    return lines


def _record_keyboard(record: LeaderRecord) -> InlineKeyboardMarkup | None:
    if not any(status == LEADER_ACTIVE for _c, status in record.groups):
        return None
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("⏸ Suspend for review"),
        callback_data=CreditCallback(action=CreditAction.SUSPEND, member_id=record.leader_id),
    )
    return builder.as_markup()


@router.message(Command("leader_record"), PRIVATE, RoleFilter(Role.STAFF, "leader.record"))
async def leader_record_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: HandlerSettings,
    locale: str,
    clock: Clock,
) -> None:
    """Shows a leader's record (group-buys, pickups, refunds, complaints, cash, limits), with a
    button to suspend them for review."""
    leader = await _named(message, command, session)
    if leader is None:
        return
    record = await leader_record(
        session,
        leader_id=leader.id,
        now=clock(),
        late_days=settings.late_pickup_days,
        overdue_days=settings.cash_overdue_days,
    )
    text = await record_text(
        session,
        record,
        leader,
        locale=locale,
        timezone=settings.default_timezone,
        overdue_days=settings.cash_overdue_days,
        tickets=await ticket_stats(
            session, start=None, end=clock(), leader_id=leader.id, now=clock()
        ),
    )
    await message.answer(text, reply_markup=_record_keyboard(record))


@router.callback_query(CreditCallback.filter(), RoleFilter(Role.STAFF, "leader.suspend"))
async def suspend_button(
    query: CallbackQuery,
    callback_data: CreditCallback,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    notifier: BackgroundSender,
    clock: Clock,
    after_commit: CommitHook,
) -> None:
    """Suspends the leader in every group they lead, for review of their record; they are told
    why in their language, and the record's message says who did it."""
    leader = await get_member(session, callback_data.member_id)
    if leader is None:
        await query.answer(_("I do not know that member."), show_alert=True)
        return
    with i18n.use_locale(leader.locale):
        reason = _("the brand's staff are reviewing your record as leader")
    try:
        changed = await suspend_leader(
            session,
            member_id=leader.id,
            community_id=None,
            staff_id=member.id,
            reason=reason,
            now=clock(),
        )
    except LeaderError:  # the reason is fixed text: never empty or too long
        changed = []
    if not changed:
        await query.answer(
            _("{name} is not an active leader of any group.").format(name=leader.display_name),
            show_alert=True,
        )
        return
    for community_id in changed:
        await record_action(
            session,
            actor_id=member.id,
            chat_id=community_id,
            action="leader.suspended",
            allowed=True,
            now=clock(),
            required_role="staff",
            detail=f"{leader.id}: {reason}",
        )
    groups = await group_names(session, changed)
    done = _("{name} is suspended as leader of {groups}.").format(
        name=member_name(leader), groups=groups
    )
    if leader.started:
        with i18n.use_locale(leader.locale):
            notifier.send(leader.id, leader_notice("suspend", groups, reason))
        done += "\n" + _("I told them in private.")
    else:
        done += "\n" + _("They have no private chat with me: please tell them yourself.")
    after_commit.add(partial(query.answer, _("Done.")))
    if isinstance(query.message, Message) and query.message.text is not None:
        after_commit.add(
            partial(
                bot.edit_message_text,
                text=esc(query.message.text) + "\n\n" + done,
                chat_id=query.message.chat.id,
                message_id=query.message.message_id,
            )
        )


LIMIT_USAGE = N_(
    "Set a leader's limits: /leader_limit @alice groupbuys 2 (open group-buys at once), "
    "/leader_limit @alice order 500.00 (the largest order they may mark paid by hand), "
    "/leader_limit @alice off (no limits). /leader_limit @alice shows them."
)


@router.message(Command("leader_limit"), PRIVATE, RoleFilter(Role.STAFF, "leader.limit"))
async def leader_limit_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
    notifier: BackgroundSender,
    i18n: I18n,
    clock: Clock,
) -> None:
    """Sets, shows or lifts a leader's limits; the change is audited and the leader told."""
    words = (command.args or "").split()
    if not words:
        await message.answer(_(LIMIT_USAGE))
        return
    leader = await _named(message, command, session)
    if leader is None:
        return
    if len(words) == 1:
        limits = await get_limits(session, leader.id)
        await message.answer(member_name(leader) + "\n" + limits_text(limits, locale))
        return
    try:
        changed = await _change_limits(
            session,
            words,
            leader,
            staff_id=member.id,
            settings=settings,
            locale=locale,
            clock=clock,
        )
        if isinstance(changed, str):
            await message.answer(changed)
            return
        limits, detail = changed
    except InvalidAmount:
        await message.answer(
            _("Write the amount like 500.00, optionally with its currency: 500.00 CNY.")
        )
        return
    except CreditError as exc:
        if exc.reason == "not_leader":
            await message.answer(
                _("{name} leads no group, so there is nothing to limit.").format(
                    name=member_name(leader)
                )
            )
        else:
            await message.answer(_(LIMIT_USAGE))
        return
    await record_action(
        session,
        actor_id=member.id,
        chat_id=message.chat.id,
        action="leader.limit",
        allowed=True,
        now=clock(),
        required_role="staff",
        detail=f"{leader.id}: {detail}",
    )
    now_text = limits_text(limits, locale)
    await message.answer(_("Done. {name}").format(name=member_name(leader)) + "\n" + now_text)
    if leader.started:
        with i18n.use_locale(leader.locale):
            told = _(
                "The brand's staff changed the limits on your group-buys. {limits}\n"
                "When something you do would go over a limit, I tell you which one."
            ).format(limits=limits_text(limits, leader.locale))
        notifier.send(leader.id, told)


async def _change_limits(
    session: AsyncSession,
    words: list[str],
    leader: MemberView,
    *,
    staff_id: int,
    settings: HandlerSettings,
    locale: str,
    clock: Clock,
) -> tuple[Limits | None, str] | str:
    """Lift the leader's limits or set one (`groupbuys N` or `order AMOUNT [CURRENCY]`): the
    limits now and the audit's detail, or the answer when the words say nothing to change."""
    kind = words[1].lower()
    if kind == "off" and len(words) == 2:
        if not await clear_limits(session, leader_id=leader.id):
            return _("{name} has no limits to lift.").format(name=member_name(leader))
        return None, "off"
    if (
        kind == LIMIT_GROUPBUYS
        and len(words) == 3
        and (count := number(words[2], prefix="", maximum=MAX_LIMIT_GROUPBUYS)) is not None
    ):
        limits = await set_limit(
            session,
            leader_id=leader.id,
            kind=LIMIT_GROUPBUYS,
            value=count,
            currency="",
            staff_id=staff_id,
            now=clock(),
        )
        return limits, f"groupbuys={limits.max_open_groupbuys}"
    if kind == LIMIT_ORDER and len(words) in (3, 4):
        currency = parse_currency(words[3]) if len(words) == 4 else settings.tier_currency
        amount = parse_amount(words[2], currency, locale=locale, ceiling=MAX_LIMIT_AMOUNT)
        limits = await set_limit(
            session,
            leader_id=leader.id,
            kind=LIMIT_ORDER,
            value=amount,
            currency=currency,
            staff_id=staff_id,
            now=clock(),
        )
        return limits, f"order={amount} {currency}"
    return _(LIMIT_USAGE)
