"""Member perks in chat: check-in, points statement, /me, gifts, donations, tiers (rewards:
handlers/perks_rewards.py)."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE, AsOneself, OpenGroup, RoleFilter
from handlers.views import menu as screen
from handlers.views.member import ambiguous_text
from handlers.views.menu import with_back
from handlers.views.perks import (
    BAD_POINTS,
    REVIEW_ERRORS,
    REVIEW_USAGE,
    check_in_text,
    checkin_screen,
    full_statement,
    history_screen,
    member_check_in,
    photos_hint,
    points_error_text,
    points_screen,
    points_text,
    tiers_text,
    timezone_of,
    whole_number_arg,
)
from handlers.views.text import (
    N_,
    BackgroundSender,
    HandlerSettings,
    esc,
    sentences,
    unreadable_text,
)
from models.base import Clock
from models.ledger import POINTS
from services.community import CommunityView, InvalidTimezone, get_community, parse_timezone
from services.loyalty import (
    BirthdayError,
    ReviewError,
    local_day,
    parse_birthday,
    review_order,
    set_birthday,
)
from services.member import (
    AmbiguousMember,
    MemberView,
    find_member,
    get_member,
    set_member_timezone,
)
from services.money import InvalidAmount
from services.parsing import parse_amount, zone_label
from services.points import (
    MAX_POINTS,
    PointsError,
    charity_pool,
    donate,
    gift,
)
from services.role import Role
from services.tiers import (
    MAX_SPEND,
    TierError,
    TierRefusal,
    TierView,
    list_tiers,
    renamed,
    save_tier,
    standing,
)
from services.validation import number
from services.zones import home_group_zones, member_zone

router = Router(name="perks")

TIER_ERRORS: dict[str, str] = {
    TierRefusal.BAD_RANK: N_("Tiers are numbered from 0 up, without gaps, at most 7."),
    TierRefusal.BAD_NAME: N_("The tier needs a name of at most 32 characters."),
    TierRefusal.BAD_SPEND: N_("The spend must be an amount from 0 up; tier 0 always starts at 0."),
    TierRefusal.BAD_MULTIPLIER: N_("The points multiplier must be from 1 to 10, like 1.5."),
    TierRefusal.BAD_DISCOUNT: N_("The discount must be a percentage from 0 to 50, like 5."),
    TierRefusal.BAD_BIRTHDAY: N_("The birthday gift must be a whole number of points."),
    TierRefusal.NOT_ASCENDING: N_("Each tier must need more spend than the tier below it."),
}
TIER_USAGE = N_(
    "Send /tier_set RANK name=Gold spend=2000 discount=5 multiplier=1.5 birthday=200 vip=yes "
    "double=yes (any of them)."
)


class CheckInAction(StrEnum):
    IN = "in"


class CheckInCallback(CallbackData, prefix="ck"):
    """The check-in button under a group's check-in message."""

    action: CheckInAction = CheckInAction.IN


# the last word of /gift by which the giver consents to be named to the recipient
SIGNED_WORDS = frozenset({"signed", "署名", "具名"})


def check_in_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("✅ Check in"), callback_data=CheckInCallback())
    return builder.as_markup()


@router.message(Command("checkin"), PRIVATE)
async def checkin_private(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Daily check-in in private, on the member's own day."""
    text, markup = await checkin_screen(session, member, settings, message.chat.id, clock())
    await message.answer(text, reply_markup=markup)


@router.message(Command("checkin"), GROUP, AsOneself(), OpenGroup())
async def checkin_group(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    community: CommunityView,
    settings: HandlerSettings,
    clock: Clock,
    locale: str,
) -> None:
    """Daily check-in in a group, on the group's day; the reply carries a button for others."""
    result = await member_check_in(session, member, message.chat.id, community, settings, clock())
    await message.reply(
        check_in_text(result, esc(member.display_name), locale), reply_markup=check_in_keyboard()
    )


@router.callback_query(
    CheckInCallback.filter(), F.message.chat.type != ChatType.PRIVATE, OpenGroup()
)
async def checkin_button(
    query: CallbackQuery,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    locale: str,
) -> None:
    """A member taps the group's check-in button: the answer is a toast, the chat stays quiet."""
    assert query.message is not None
    community = await get_community(session, query.message.chat.id)
    result = await member_check_in(
        session, member, query.message.chat.id, community, settings, clock()
    )
    await query.answer(check_in_text(result, member.display_name, locale)[:200], show_alert=False)


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


@router.message(Command("tiers"))
async def tiers_command(
    message: Message, session: AsyncSession, settings: HandlerSettings, locale: str
) -> None:
    """Every tier, what it needs and what it gives (in private with Back to Points and perks)."""
    private = message.chat.type == ChatType.PRIVATE
    await message.answer(
        await tiers_text(session, settings, locale),
        reply_markup=with_back(None, screen.POINTS) if private else None,
    )


def _parse_tier_options(
    words: list[str], base: TierView, currency: str, locale: str
) -> TierView | None:
    tier = base
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not value:
            return None
        key = key.lower()
        if key == "name":
            tier = renamed(tier, value.replace("_", " "))
        elif key == "spend":
            if value == "0":
                tier = replace(tier, min_spend=0)
                continue
            if currency == POINTS:
                points = whole_number_arg(value)
                if points is None:
                    return None
                tier = replace(tier, min_spend=points)
                continue
            try:
                tier = replace(
                    tier,
                    min_spend=parse_amount(value, currency, locale=locale, ceiling=MAX_SPEND),
                )
            except InvalidAmount:
                return None
        elif key == "discount":
            try:
                bps = round(float(value.rstrip("%").replace(",", ".")) * 100)
            except ValueError:
                return None
            tier = replace(tier, discount_bps=bps)
        elif key == "multiplier":
            try:
                pct = round(float(value.replace(",", ".")) * 100)
            except ValueError:
                return None
            tier = replace(tier, multiplier_pct=pct)
        elif key == "birthday":
            points = whole_number_arg(value)
            if points is None:
                return None
            tier = replace(tier, birthday_points=points)
        elif key in ("vip", "double"):
            flag = value.lower() in ("yes", "y", "true", "1", "on", "是")
            if not flag and value.lower() not in ("no", "n", "false", "0", "off", "否"):
                return None
            tier = (
                replace(tier, vip_access=flag)
                if key == "vip"
                else replace(tier, member_day_double=flag)
            )
        else:
            return None
    return tier


@router.message(Command("tier_set"), PRIVATE, RoleFilter(Role.STAFF, "perks.tiers"))
async def tier_set(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: HandlerSettings,
    locale: str,
) -> None:
    """Adds or changes one tier: /tier_set RANK name=... spend=... multiplier=... ..."""
    words = (command.args or "").split()
    rank = number(words[0], prefix="") if words else None
    if rank is None or rank > 99:
        await message.answer(_(TIER_USAGE))
        return
    tiers = {t.rank: t for t in await list_tiers(session)}
    base = tiers.get(rank) or TierView(
        rank=rank,
        code="",
        name=f"Tier {rank}",
        min_spend=0,
        discount_bps=0,
        multiplier_pct=100,
        birthday_points=0,
        vip_access=False,
        member_day_double=False,
    )
    tier = _parse_tier_options(words[1:], base, settings.tier_measure, locale)
    if tier is None:
        await message.answer(_(TIER_USAGE))
        return
    try:
        await save_tier(session, tier)
    except TierError as exc:
        await message.answer(_(TIER_ERRORS.get(exc.reason, TIER_USAGE)))
        return
    await message.answer(_("Saved. Members move to their new tier at the next recompute."))
    await tiers_command(message, session, settings, locale)


@router.message(Command("timezone"), PRIVATE)
async def timezone_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """Shows or sets the member's own time zone (private times, check-in days, birthdays)."""
    value = (command.args or "").strip()
    if not value and member.timezone:
        await message.answer(
            _("Your time zone: {timezone}. Change it with /timezone Asia/Shanghai.").format(
                timezone=esc(zone_label(member.timezone))
            )
        )
        return
    if not value:
        group = (await home_group_zones(session, [member.id])).get(member.id)
        used = member_zone(None, group, settings.default_timezone)
        text = (
            _("You have not set a time zone, so I show you times in {timezone}, your group's.")
            if group
            else _("You have not set a time zone, so I show you times in {timezone}, the brand's.")
        )
        await message.answer(
            sentences(
                text.format(timezone=esc(zone_label(used))),
                _("Set yours with /timezone Asia/Shanghai or /timezone UTC+8."),
            )
        )
        return
    try:
        name = parse_timezone(value)
    except InvalidTimezone:
        await message.answer(unreadable_text("zone", value))
        return
    await set_member_timezone(session, member_id=member.id, timezone=name)
    await message.answer(_("Your time zone is now {timezone}.").format(timezone=zone_label(name)))


@router.message(Command("birthday"), PRIVATE)
async def birthday_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
) -> None:
    """Sets the member's birthday (month and day only): /birthday 03-14, or /birthday off."""
    value = (command.args or "").strip()
    place = await standing(session, member.id)
    gift = place.tier.birthday_points
    if not value:
        await message.answer(
            _(
                "Tell me your birthday as month and day, like /birthday 03-14 (never the year). "
                "On the day you get your tier's birthday gift. /birthday off forgets it."
            )
        )
        return
    if value.lower() in ("off", "clear", "none", "-", "删除", "刪除"):
        await set_birthday(session, member_id=member.id, birthday=None)
        await message.answer(_("Your birthday is forgotten."))
        return
    try:
        month, day = parse_birthday(value)
    except BirthdayError:
        await message.answer(
            _("{value} is not a month and day I can read. Try /birthday 03-14.").format(
                value=f"<code>{esc(value[:40])}</code>"
            )
        )
        return
    await set_birthday(session, member_id=member.id, birthday=(month, day))
    text = _("Saved: your birthday is {birthday}.").format(birthday=f"{month:02d}-{day:02d}")
    if gift:
        gift_text = _("Your tier's birthday gift is {points}.").format(
            points=points_text(gift, member.locale)
        )
        text = sentences(text, gift_text)
    await message.answer(text)


@router.message(Command("review"), PRIVATE)
async def review_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Reviews an order after pickup: /review ORDER STARS [words]."""
    words = (command.args or "").split(maxsplit=2)
    order_id = number(words[0]) if words else None
    rating = number(words[1], prefix="") if len(words) >= 2 else None
    if order_id is None or rating is None:
        await message.answer(_(REVIEW_USAGE))
        return
    try:
        earned = await review_order(
            session,
            order_id=order_id,
            member_id=member.id,
            rating=rating,
            comment=words[2] if len(words) == 3 else "",
            points=settings.review_points,
            cap=settings.points_daily_caps.get("review"),
            now=clock(),
        )
    except ReviewError as exc:
        await message.answer(_(REVIEW_ERRORS.get(exc.reason, REVIEW_USAGE)))
        return
    text = _("Thank you for your review!")
    if earned:
        earned_text = _("It earned you {points}.").format(points=points_text(earned, member.locale))
        text = sentences(text, earned_text)
    await message.answer(sentences(text, photos_hint(settings, member.locale)))


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
        await message.reply(
            _("I do not know that member yet. They need to talk to me or in a group first.")
        )
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
