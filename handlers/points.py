"""Points in chat: the points statement, /me (Points and perks), gifts between members,
donations and the charity pool."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, AsOneself, OpenGroup, RoleFilter
from handlers.views.member import ambiguous_text, unknown_text
from handlers.views.perks import (
    BAD_POINTS,
    full_statement,
    history_screen,
    points_error_text,
    points_screen,
    points_text,
    timezone_of,
    whole_number_arg,
)
from handlers.views.text import BackgroundSender, HandlerSettings, esc
from models.base import Clock
from services.loyalty import local_day
from services.member import AmbiguousMember, MemberView, find_member, get_member
from services.points import MAX_POINTS, PointsError, charity_pool, donate, gift
from services.role import Role

router = Router(name="points")

# the last word of /gift by which the giver consents to be named to the recipient
SIGNED_WORDS = frozenset({"signed", "署名", "具名"})


@router.message(Command("points"), PRIVATE)
async def points_statement(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """The member's points and where every recent one came from or went; /points all sends
    every movement as a file."""
    if (command.args or "").strip().lower() in ("all", "全部"):
        await full_statement(message, session, member, ZoneInfo(timezone_of(member, settings)))
        return
    text, markup = await history_screen(session, member, settings)
    await message.answer(text, reply_markup=markup)


@router.message(Command("me"), PRIVATE)
async def me(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """The member's tier, progress, points, streak and perks."""
    text, markup = await points_screen(session, member, settings, clock())
    await message.answer(text, reply_markup=markup)


@router.message(Command("gift"), AsOneself(), OpenGroup())
async def gift_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    i18n: I18n,
    clock: Clock,
    locale: str,
) -> None:
    """Gives points to another member: /gift @username N, or /gift N in reply to them; with
    "signed" at the end the recipient is told who gave them, else "a member"."""
    words = (command.args or "").split()
    signed = bool(words) and words[-1].lower() in SIGNED_WORDS
    if signed:
        words = words[:-1]
    reply = message.reply_to_message
    target: MemberView | None = None
    amount_text = ""
    if len(words) == 2:
        try:
            target = await find_member(session, words[0])
        except AmbiguousMember as exc:
            await message.reply(ambiguous_text(exc))
            return
        amount_text = words[1]
    elif len(words) == 1 and reply is not None and reply.from_user is not None:
        target = await get_member(session, reply.from_user.id)
        amount_text = words[0]
    usage = _(
        "Send /gift @username 50, or reply to someone's message with /gift 50. Add signed at "
        "the end to be named to them; without it they read that a member gave them points."
    )
    if not amount_text:
        await message.reply(usage)
        return
    amount = whole_number_arg(amount_text)
    if amount is None or amount == 0 or amount > MAX_POINTS:
        await message.reply(_(BAD_POINTS))
        return
    if target is None:
        await message.reply(unknown_text())
        return
    now = clock()
    try:
        await gift(
            session,
            sender_id=member.id,
            recipient_id=target.id,
            points=amount,
            key=f"gift:{message.chat.id}:{message.message_id}",
            day=local_day(now, timezone_of(member, settings)),
            daily_cap=settings.gift_daily_cap,
            signed=signed,
        )
    except PointsError as exc:
        await message.reply(points_error_text(exc, settings, locale))
        return
    await message.reply(
        _("You gave {points} to {name}.").format(
            points=points_text(amount, locale), name=esc(target.display_name)
        )
    )
    if target.started:
        with i18n.use_locale(target.locale):
            points = points_text(amount, target.locale)
            notifier.send(
                target.id,
                _("{name} gave you {points}. See /points.").format(
                    name=esc(member.display_name), points=points
                )
                if signed  # the giver consented to be named
                else _("A member gave you {points}. See /points.").format(points=points),
            )


@router.message(Command("donate"), PRIVATE)
async def donate_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
) -> None:
    """Donates points to the charity pool: /donate N."""
    amount = whole_number_arg(command.args or "")
    if amount is None or amount == 0 or amount > MAX_POINTS:
        await message.answer(
            _("Send /donate 100 to give 100 of your points to the community's charity pool.")
        )
        return
    try:
        await donate(
            session,
            member_id=member.id,
            points=amount,
            key=f"donate:{message.chat.id}:{message.message_id}",
        )
    except PointsError as exc:
        await message.answer(points_error_text(exc, settings, locale))
        return
    await message.answer(
        _("Thank you! You donated {points} to the charity pool.").format(
            points=points_text(amount, member.locale)
        )
    )


@router.message(Command("charity"), PRIVATE, RoleFilter(Role.STAFF, "perks.charity"))
async def charity_command(message: Message, session: AsyncSession, locale: str) -> None:
    """How many points members have donated, for the brand to turn into a donation."""
    total = await charity_pool(session)
    await message.answer(
        _("The charity pool holds {points} donated by members.").format(
            points=points_text(total, locale)
        )
    )
