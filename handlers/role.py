"""Staff: the owner grants and revokes staff, staff list themselves, the owner reads the audit
log. Leaders are changed in handlers/role_leaders.py and apply in handlers/role_apply.py."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.audit import action_label, detail_text
from handlers.views.commands import sync_private_commands
from handlers.views.member import named_member
from handlers.views.paging import PAGE_SIZE, PageCallback, page_counter, with_page_row
from handlers.views.role import (
    audit_role_change,
    command_target,
    member_name,
)
from handlers.views.text import (
    N_,
    HandlerSettings,
    esc,
    esc_name,
)
from models.base import Clock
from services.audit import audit_page
from services.member import MemberView, get_member
from services.period import InvalidPeriod, parse_period
from services.role import (
    Role,
    grant_staff,
    menu_role,
    revoke_staff,
    staff_ids,
)
from services.zones import local_today, show, staff_zone

log = logging.getLogger(__name__)
router = Router(name="role")
STAFF_WELCOME = N_("You are now brand staff. Send /help to see the staff commands.")


async def _notify(bot: Bot, i18n: I18n, member: MemberView, text: str) -> None:
    """Tells the member in private, in their language; fine if they never opened the chat."""
    try:
        with i18n.use_locale(member.locale):
            await bot.send_message(member.id, i18n.gettext(text))
    except TelegramAPIError as exc:
        log.info("could not notify member %s: %s", member.id, exc)


async def _staff_change(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
    *,
    change: Callable[[MemberView], Awaitable[bool]],
    audit_action: str,
    unchanged: str,
    done: str,
) -> MemberView | None:
    """Grants or revokes staff for the member the command names, audits it and says so; the
    member changed, or None when nobody is named or nothing changed (`unchanged` is said)."""
    target = await command_target(message, command, session)
    if target is None:
        return None
    if not await change(target):
        await message.answer(unchanged.format(name=member_name(target)))
        return None
    await audit_role_change(
        session, member, message.chat.id, audit_action, Role.OWNER, target, now=clock()
    )
    await message.answer(done.format(name=member_name(target)))
    return target


@router.message(Command("grant_staff"), PRIVATE, RoleFilter(Role.OWNER, "staff.grant"))
async def grant_staff_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    clock: Clock,
    member: MemberView,
) -> None:
    """Makes the named member brand staff and gives them the staff menu."""
    target = await _staff_change(
        message,
        command,
        session,
        member,
        clock,
        change=lambda who: grant_staff(session, member_id=who.id, granted_by=member.id),
        audit_action="staff.granted",
        unchanged=_("{name} is already staff."),
        done=_("{name} is now brand staff."),
    )
    if target is None:
        return
    await _notify(bot, i18n, target, STAFF_WELCOME)
    await sync_private_commands(bot, i18n, chat_id=target.id, role=Role.STAFF, locale=target.locale)


@router.message(Command("revoke_staff"), PRIVATE, RoleFilter(Role.OWNER, "staff.revoke"))
async def revoke_staff_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    clock: Clock,
    member: MemberView,
) -> None:
    """Ends the named member's staff role and gives them the member menu again."""
    target = await _staff_change(
        message,
        command,
        session,
        member,
        clock,
        change=lambda who: revoke_staff(session, member_id=who.id, revoked_by=member.id),
        audit_action="staff.revoked",
        unchanged=_("{name} is not staff."),
        done=_("{name} is no longer staff."),
    )
    if target is None:
        return
    role = await menu_role(session, member_id=target.id, owner_ids=settings.owner_ids)
    await sync_private_commands(bot, i18n, chat_id=target.id, role=role, locale=target.locale)


@router.message(Command("staff"), PRIVATE, RoleFilter(Role.STAFF, "staff.list"))
async def list_staff(message: Message, session: AsyncSession) -> None:
    """Lists the current brand staff."""
    ids = await staff_ids(session)
    if not ids:
        await message.answer(_("There is no staff yet. The owner adds staff with /grant_staff."))
        return
    lines = [_("Brand staff:")]
    for member_id in ids:
        found = await get_member(session, member_id)
        lines.append("• " + (member_name(found) if found else f"<code>{member_id}</code>"))
    await message.answer("\n".join(lines))


@router.message(Command("audit"), PRIVATE, RoleFilter(Role.OWNER, "audit.read"))
async def audit_log(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Shows privileged actions, allowed and refused, newest first: /audit [@actor] [period]."""
    words = (command.args or "").split()
    actor = None
    if words and (words[0].startswith("@") or words[0].lstrip("-").isdecimal()):
        actor = await named_member(
            session, words[0], message.answer, _("I do not know that member.")
        )
        if actor is None:
            return
        words = words[1:]
    start = end = None
    zone = staff_zone(member.timezone, settings.default_timezone)
    if words:
        today = local_today(clock(), zone)
        try:
            period = parse_period(" ".join(words), timezone=zone, today=today)
        except InvalidPeriod:
            await message.answer(
                _("Send /audit, /audit @member, /audit 7d or /audit @member 2026-11-01 2026-11-30.")
            )
            return
        start, end = period.start, period.end
    scope = AuditScope(actor.id if actor else None, start, end)
    text, markup = await _audit_screen(session, scope, 0, _reader(member, settings))
    await message.answer(text, reply_markup=markup)


@dataclass(frozen=True, slots=True)
class AuditScope:
    """What /audit was asked for: one actor's actions, within [start, end), or all of them.
    Its page buttons carry it as `audit.<actor>.<start>.<end>` (epoch seconds in base 36), so
    More shows more of the same list."""

    actor_id: int | None
    start: datetime | None
    end: datetime | None

    def page_name(self) -> str:
        def moment(at: datetime | None) -> str:
            return "" if at is None else _base36(int(at.timestamp()))

        actor = "" if self.actor_id is None else str(self.actor_id)
        return f"{AUDIT_PAGES}.{actor}.{moment(self.start)}.{moment(self.end)}"

    @classmethod
    def of_page_name(cls, name: str) -> AuditScope | None:
        parts = name.split(".")
        if len(parts) != 4 or parts[0] != AUDIT_PAGES:
            return None
        try:
            actor = int(parts[1]) if parts[1] else None
            start, end = (
                datetime.fromtimestamp(int(part, 36), UTC) if part else None for part in parts[2:]
            )
        except (ValueError, OverflowError, OSError):
            return None
        return cls(actor, start, end)


AUDIT_PAGES = "audit"


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if not number:
            return text


def _reader(member: MemberView, settings: HandlerSettings) -> tuple[str, str | None]:
    """The zone a staff report is shown in, and the reader's own zone (None: not set)."""
    return staff_zone(member.timezone, settings.default_timezone), member.timezone


async def _audit_screen(
    session: AsyncSession, scope: AuditScope, offset: int, reader: tuple[str, str | None]
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A page of the privileged actions in scope, newest first, their count, Previous / More."""
    page = await audit_page(
        session,
        limit=PAGE_SIZE,
        offset=offset,
        actor_id=scope.actor_id,
        start=scope.start,
        end=scope.end,
    )
    lines = [_("Privileged actions (newest first, {counter}):").format(counter=page_counter(page))]
    if not page.items:
        lines = [_("Privileged actions (newest first):"), _("None in that range.")]
    for row in page.items:
        mark = "✅" if row.allowed else "⛔"
        where = ""  # where it happened: the group's title when known, else its id
        if row.chat_id is not None:
            where = f" @ {esc(row.chat_title)}" if row.chat_title else f" @{row.chat_id}"
        detail = f" {esc(detail_text(row.detail))}" if row.detail else ""
        who = f"<code>{row.actor_id}</code>"
        if row.actor_name:  # "Bob (102)", "Bob（102）": the name, and the id it stands for
            who = _("{name} ({id})").format(name=esc_name(row.actor_name), id=who)
        lines.append(
            f"{mark} {esc(show(row.at, reader[0], reader=reader[1]))} {who} "
            f"{esc(action_label(row.action))}{where}{detail}"
        )
    return "\n".join(lines), with_page_row(None, scope.page_name(), page)


@router.callback_query(
    PageCallback.filter(F.name.startswith(AUDIT_PAGES + ".")), RoleFilter(Role.OWNER, "audit.read")
)
async def audit_more(
    query: CallbackQuery,
    callback_data: PageCallback,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """Previous or More under /audit: the same actor and period, another page."""
    scope = AuditScope.of_page_name(callback_data.name)
    if scope is None or not isinstance(query.message, Message):
        await query.answer()
        return
    text, markup = await _audit_screen(
        session, scope, callback_data.offset, _reader(member, settings)
    )
    await query.answer()
    with contextlib.suppress(TelegramBadRequest):  # the same page again
        await query.message.edit_text(text, reply_markup=markup)


# ---------------------------------------------------------------- leaders ----------------
