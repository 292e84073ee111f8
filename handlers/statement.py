"""/statement [@leader] [period]: a leader's statement (对账单) in short, with its CSV attached.

A leader gets their own; staff and the owner anyone's; everyone else a polite refusal. Every
request is audited, allowed or refused, like the other exports."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE, current_role, refusal_text
from handlers.views.statement import statement_lines
from handlers.views.text import HandlerSettings, esc
from models.base import Clock
from services.audit import record_action
from services.member import MemberView, find_member
from services.period import InvalidPeriod, parse_period
from services.role import Role, led_communities
from services.statement import leader_statement, statement_csv, statement_filename
from services.validation import number

router = Router(name="statement")
ACTION = "statement.view"


def _names_someone(word: str) -> bool:
    """'@lee' or an id names a member ('²' is refused as a number); anything else a period."""
    return word.startswith("@") or number(word, prefix="") is not None


@router.message(Command("statement"), PRIVATE)
async def statement(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Sends a leader's statement for a period: a short text and the CSV as a document."""
    role = await current_role(bot, session, settings, member, None)
    staff = role >= Role.STAFF
    words = (command.args or "").split()
    asked_for = words[0] if words and _names_someone(words[0]) else None
    leads = bool(await led_communities(session, member_id=member.id))
    allowed = staff or leads
    target: MemberView | None = member
    if allowed and asked_for is not None:
        target = await find_member(session, asked_for)
        if target is not None and target.id != member.id and not staff:
            allowed = False
    await record_action(
        session,
        actor_id=member.id,
        chat_id=message.chat.id,
        action=ACTION,
        allowed=allowed,
        now=clock(),
        required_role=Role.LEADER.name.lower(),
        detail=f"of {target.id if target else asked_for} {' '.join(words)}".strip(),
    )
    if not allowed:
        if leads:  # a leader asking for someone else's
            await message.reply(_("You can see your own statement only: send /statement."))
        else:
            await message.reply(
                refusal_text(Role.LEADER, private=message.chat.type == ChatType.PRIVATE)
            )
        return
    if target is None:
        await message.answer(
            _("I do not know that member. Use their @username or their numeric id.")
        )
        return
    timezone = member.timezone or settings.default_timezone
    today = clock().astimezone(ZoneInfo(timezone)).date()
    period_words = words[1:] if asked_for is not None else words
    try:
        period = parse_period(" ".join(period_words), timezone=timezone, today=today)
    except InvalidPeriod:
        await message.answer(
            _(
                "I could not read that period. Send /statement for the last 30 days, "
                "/statement 7d, or /statement 2026-11-01..2026-11-30."
            )
        )
        return
    found = await leader_statement(session, leader_id=target.id, period=period)
    await message.answer("\n".join(statement_lines(found, target.display_name, member.locale)))
    await message.answer_document(
        BufferedInputFile(statement_csv(found), filename=statement_filename(found)),
        caption=_("Statement of {name}, {first} to {last} (CSV).").format(
            name=esc(target.display_name),
            first=period.first.isoformat(),
            last=period.last.isoformat(),
        ),
    )


@router.message(Command("statement"), GROUP)
async def statement_in_group(message: Message) -> None:
    """Money figures never go to a group: the leader is sent to the private chat."""
    await message.reply(_("Send /statement to me in private: a statement is yours alone."))
