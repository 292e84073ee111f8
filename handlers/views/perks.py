"""How points, tiers and their perks read, in the reader's locale (shared by the loyalty,
points, tiers and rewards routers, the order router and the member-care job).
The screens of /checkin, /me, /points, /rewards, /tiers and the points history, and the
review usage and refusals, are here too: those routers, my-orders and the main menu show them."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from aiogram.filters.callback_data import CallbackData
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.labels import POINT_REASON, label
from handlers.views.menu import MenuCallback, MenuScreen, with_back
from handlers.views.paging import PAGE_SIZE, page_counter, with_page_row
from handlers.views.text import (
    N_,
    NC_,
    CallbackId,
    HandlerSettings,
    counted,
    discount_figures,
    esc,
    esc_name,
    format_money,
    pgettext,
)
from services.community import CommunityView
from services.coupons import held_coupons
from services.ledger import movements
from services.loyalty import (
    CheckInResult,
    ReviewRefusal,
    check_in,
    current_streak,
    local_day,
)
from services.member import (
    MemberView,
)
from services.membership import membership_offered
from services.points import (
    PointsError,
    PointsRefusal,
    member_points,
    points_balance,
)
from services.rewards import (
    list_rewards,
)
from services.tiers import (
    TierChange,
    TierView,
    list_tiers,
    standing,
)
from services.validation import number

# the default tiers' names, translated (a tier's code says it is a default); tiers staff
# named themselves show their own name. "tier" tells "Member" the tier (普通会员) from
# "Member" the person (会员) in the catalogs.
TIER_CONTEXT = "tier"
TIER_NAMES = {
    "member": NC_("tier", "Member"),
    "silver": NC_("tier", "Silver"),
    "gold": NC_("tier", "Gold"),
    "diamond": NC_("tier", "Diamond"),
}


def points_text(points: int, locale: str) -> str:
    """A number of points with its noun: "1 point", "2 points", "1 积分"."""
    return ngettext("{points} point", "{points} points", abs(points)).format(
        points=format_decimal(points, locale=locale)
    )


# why points could not move (a gift, a donation, a redemption, a reward added), as staff and
# members read it
BAD_POINTS = N_("The number of points must be a whole number from 1 to 1,000,000,000.")
POINTS_ERRORS: dict[str, str] = {
    PointsRefusal.NOT_ENOUGH: N_("You do not have enough points for that."),
    PointsRefusal.SELF: N_("You cannot give points to yourself."),
    PointsRefusal.OVER_CAP: N_("That is more than you may give away today (at most {cap} a day)."),
    PointsRefusal.BAD_AMOUNT: BAD_POINTS,
    PointsRefusal.OUT_OF_STOCK: N_("Sorry, that reward is out of stock."),
    PointsRefusal.NO_REWARD: N_("That reward is not available any more."),
    PointsRefusal.REPEATED: N_("That reward was already redeemed with this tap."),
    PointsRefusal.BAD_TITLE: N_("The reward needs a title of at most 128 characters."),
    PointsRefusal.BAD_STOCK: N_(
        "The stock must be a whole number from 0 to 1,000,000, or left out."
    ),
    PointsRefusal.BUSY: N_("Too many things happened at once. Please try again."),
    PointsRefusal.COUPON_EXPIRED: N_("The coupon of that reward has expired."),
    PointsRefusal.COUPON_LIMIT_REACHED: N_(
        "You already hold as many of that reward's coupons as allowed."
    ),
    PointsRefusal.COUPON_NO_COUPON: N_("That reward is not available any more."),
}


def whole_number_arg(text: str) -> int | None:
    """A whole number as typed after a command, thousands separators allowed (1,000 or 1_000)."""
    return number(text.strip().replace(",", "").replace("_", ""), prefix="")


def points_error_text(exc: PointsError, settings: HandlerSettings, locale: str) -> str:
    """Why points could not move, with the daily cap on gifts where it says so."""
    template = POINTS_ERRORS.get(exc.reason, BAD_POINTS)
    return _(template).format(cap=points_text(settings.gift_daily_cap, locale))


def by_points(settings: HandlerSettings) -> bool:
    return settings.tier_basis == "points"


def tier_amount(value: int, settings: HandlerSettings, locale: str) -> str:
    """A tier threshold or progress: money in the tier currency, or points (TIER_BASIS)."""
    if by_points(settings):
        return points_text(value, locale)
    return format_money(value, settings.tier_currency, locale)


def tier_label(code: str, name: str) -> str:
    """A tier's name in the current locale, not escaped: a default tier's translated name, or
    the name staff gave it, as typed."""
    label = TIER_NAMES.get(code)
    return pgettext(TIER_CONTEXT, label) if label else name


def tier_name(tier: TierView) -> str:
    """A tier's name for an HTML message (escaped)."""
    return esc(tier_label(tier.code, tier.name))


def tier_perks(tier: TierView, locale: str) -> list[str]:
    """What a tier gives, one line each."""
    lines = []
    if tier.discount_bps:
        # Translators: {zhe} may stand for {percent} (the share paid: 98 for 2% off, as in 98折)
        off = _("{percent} off every order")
        lines.append(off.format(**discount_figures(tier.discount_bps, locale)))
    if tier.multiplier_pct != 100:
        lines.append(
            _("{multiplier}× points on orders").format(
                multiplier=format_decimal(tier.multiplier_pct / 100, locale=locale)
            )
        )
    if tier.vip_access:
        lines.append(_("Early access to VIP group-buys"))
    if tier.birthday_points:
        lines.append(
            _("Birthday gift: {points}").format(points=points_text(tier.birthday_points, locale))
        )
    if tier.member_day_double:
        lines.append(_("Double points on the member day"))
    return lines


def moved_up_text(tier: TierView, i18n: I18n, locale: str) -> str:
    """The congratulations of a member who reached `tier`, with its perks, in their language."""
    with i18n.use_locale(locale):
        text = _("Congratulations! You are now {tier}.").format(tier=tier_name(tier))
        perks = tier_perks(tier, locale)
        if perks:
            text += "\n" + "\n".join(f"• {perk}" for perk in perks)
        return text


async def tier_news(change: TierChange, i18n: I18n, locale: str) -> str | None:
    """A message for a member whose tier changed, in their language; None when it did not."""
    if not change.moved_up:
        return None
    return moved_up_text(change.after, i18n, locale)


class RewardAction(StrEnum):
    ASK = "ask"  # show the cost and the balance after
    CONFIRM = "confirm"  # redeem
    CANCEL = "cancel"  # nothing


class RewardCallback(CallbackData, prefix="rw"):
    """A redeem button: in the catalog (ask), then under the confirmation (confirm, cancel)."""

    action: RewardAction
    reward_id: CallbackId


def check_in_text(result: CheckInResult, name: str, locale: str) -> str:
    if not result.new:
        return _("{name}, you have already checked in today. Streak: {streak}.").format(
            name=name, streak=counted("day", result.streak)
        )
    parts = [
        _("{name} checked in: +{points}. Streak: {streak}.").format(
            name=name,
            points=points_text(result.points, locale),
            streak=counted("day", result.streak),
        )
    ]
    if result.bonus:
        parts.append(
            _("Streak bonus included: {points}!").format(points=points_text(result.bonus, locale))
        )
    if result.doubled:
        parts.append(_("Member day: points doubled."))
    if result.capped:
        parts.append(_("You reached today's limit for check-in points."))
    return " ".join(parts)


def timezone_of(member: MemberView, settings: HandlerSettings) -> str:
    """The member's time zone, or the brand's default when they set none."""
    return member.timezone or settings.default_timezone


async def member_check_in(
    session: AsyncSession,
    member: MemberView,
    chat_id: int,
    community: CommunityView | None,
    settings: HandlerSettings,
    now: datetime,
) -> CheckInResult:
    """The member's check-in for today (the service's verb, with the settings filled in)."""
    return await check_in(
        session,
        member_id=member.id,
        chat_id=chat_id,
        now=now,
        timezone=None,  # the member's day wherever they check in: one check-in a day in all
        default_timezone=settings.default_timezone,
        own_timezone=member.timezone,
        base_points=settings.checkin_points,
        streak_bonus=settings.checkin_streak_bonus,
        cap=settings.points_daily_caps.get("checkin"),
        member_day=community.member_day if community else 0,
    )


async def checkin_screen(
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    chat_id: int,
    now: datetime,
) -> tuple[str, InlineKeyboardMarkup]:
    """Checks the member in on their own day (once a day wherever they check in) and says how
    it went, as /checkin in private and the menu's ✅ Check in show it."""
    result = await member_check_in(session, member, chat_id, None, settings, now)
    return check_in_text(result, esc(member.display_name), member.locale), with_back(None)


MAX_STATEMENT = 100_000  # movements in the full statement file


def point_reason(kind: str) -> str:
    return label(POINT_REASON, kind)


async def full_statement(
    message: Message, session: AsyncSession, member: MemberView, zone: ZoneInfo
) -> None:
    """Every movement of the member's points as a CSV file, oldest first, with the balance."""
    moves = await movements(session, [member_points(member.id)], limit=MAX_STATEMENT)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_("date"), _("points"), _("reason"), _("balance")])
    running = 0
    for _account, move in reversed(moves):
        running += move.amount
        when = move.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        writer.writerow([when, move.amount, point_reason(move.kind), running])
    await message.answer_document(
        BufferedInputFile(buffer.getvalue().encode("utf-8-sig"), filename="points.csv"),
        caption=_("Every movement of your points: {count}.").format(count=len(moves)),
    )


async def history_screen(
    session: AsyncSession, member: MemberView, settings: HandlerSettings
) -> tuple[str, InlineKeyboardMarkup]:
    """The balance and the latest movements, with a button for all of them as a file and Back
    to Points and perks (/points, and 📜 Points history under the menu)."""
    locale = member.locale
    balance = await points_balance(session, member.id)
    lines = [
        _("<b>Your points: {points}</b>").format(points=format_decimal(balance, locale=locale))
    ]
    recent = await movements(session, [member_points(member.id)], limit=30)
    zone = ZoneInfo(timezone_of(member, settings))
    if not recent:
        lines.append(_("No points yet. Check in daily with /checkin, or join a group-buy."))
    else:
        lines += ["", _("Latest movements:")]
        for _account, move in recent:
            reason = esc(point_reason(move.kind))
            when = move.created_at.astimezone(zone).strftime("%Y-%m-%d")
            sign = "+" if move.amount > 0 else "−"
            lines.append(
                f"{when}  {sign}{format_decimal(abs(move.amount), locale=locale)}  {reason}"
            )
        lines += ["", _("Send /points all for every movement as a file.")]
        builder = InlineKeyboardBuilder()
        builder.button(
            text=_("📄 Every movement as a file"),
            callback_data=MenuCallback(action=MenuScreen.HISTORY_FILE),
        )
        return "\n".join(lines), with_back(builder, MenuScreen.POINTS)
    return "\n".join(lines), with_back(None, MenuScreen.POINTS)


async def me_text(
    session: AsyncSession, member: MemberView, settings: HandlerSettings, now: datetime
) -> str:
    locale = member.locale
    place = await standing(session, member.id)
    balance = await points_balance(session, member.id)
    today = local_day(now, timezone_of(member, settings))
    streak = await current_streak(session, member_id=member.id, today=today)
    lines = [
        _("<b>{name}</b>").format(name=esc(member.display_name)),
        _("Tier: {tier}").format(tier=tier_name(place.tier)),
        _("Points: {points}").format(points=format_decimal(balance, locale=locale)),
        _("Check-in streak: {streak}").format(streak=counted("day", streak)),
        _("Coupons: {count} (see /coupons)").format(
            count=len(await held_coupons(session, member.id, now))
        ),
        (
            _("Points earned in the last 12 months: {amount}")
            if by_points(settings)
            else _("Spend in the last 12 months: {amount}")
        ).format(amount=tier_amount(place.spend, settings, locale)),
    ]
    if place.next_tier is not None:
        lines.append(
            (
                _("Earn {amount} more to reach {tier}.")
                if by_points(settings)
                else _("Spend {amount} more to reach {tier}.")
            ).format(
                amount=tier_amount(place.to_next, settings, locale),
                tier=tier_name(place.next_tier),
            )
        )
    else:
        lines.append(_("You are in the highest tier. Thank you!"))
    perks = tier_perks(place.tier, locale)
    lines += ["", _("Your perks:")]
    lines += [f"• {perk}" for perk in perks] if perks else [_("• Points for every order")]
    lines += ["", _("See every point with /points, and all tiers with /tiers.")]
    return "\n".join(lines)


async def points_screen(
    session: AsyncSession, member: MemberView, settings: HandlerSettings, now: datetime
) -> tuple[str, InlineKeyboardMarkup]:
    """Points and perks (/me and the menu): the member's standing, with buttons to the rewards
    catalog, the points history, the tiers and (when any is sold or held) paid membership, and
    Back to the main menu."""
    builder = InlineKeyboardBuilder()
    builder.button(text=_("🎁 Rewards"), callback_data=MenuCallback(action=MenuScreen.REWARDS))
    builder.button(
        text=_("📜 Points history"), callback_data=MenuCallback(action=MenuScreen.HISTORY)
    )
    builder.button(text=_("🏅 Tiers"), callback_data=MenuCallback(action=MenuScreen.TIERS))
    if await membership_offered(session, member.id):
        builder.button(
            text=_("💎 Membership"), callback_data=MenuCallback(action=MenuScreen.MEMBERSHIP)
        )
    builder.adjust(3)
    return await me_text(session, member, settings, now), with_back(builder)


async def tiers_text(session: AsyncSession, settings: HandlerSettings, locale: str) -> str:
    """Every tier, what it needs and what it gives."""
    lines = [_("<b>Membership tiers</b>")]
    for tier in await list_tiers(session):
        lines.append("")
        lines.append(
            (
                _("{rank}. {tier}: from {amount} earned in 12 months")
                if by_points(settings)
                else _("{rank}. {tier}: from {amount} spent in 12 months")
            ).format(
                rank=tier.rank,
                tier=tier_name(tier),
                amount=tier_amount(tier.min_spend, settings, locale),
            )
        )
        lines += [f"   • {perk}" for perk in tier_perks(tier, locale)]
    return "\n".join(lines)


REVIEW_USAGE = N_(
    "Send /review ORDER STARS [words], with 1 to 5 stars, for example /review 12 5 Lovely tea."
)


REVIEW_ERRORS: dict[str, str] = {
    ReviewRefusal.BAD_RATING: REVIEW_USAGE,
    ReviewRefusal.NOT_YOURS: N_("That is not one of your orders."),
    ReviewRefusal.NOT_PICKED_UP: N_("You can review an order once you have picked it up."),
    ReviewRefusal.ALREADY: N_("You have already reviewed that order. Thank you!"),
}


def photos_hint(settings: HandlerSettings, locale: str) -> str:
    """After a review: photos (晒单) may follow, and what approved photos earn."""
    if settings.review_photo_points:
        return _(
            "Send up to 5 photos (and one short video) here to show what you got; once the "
            "brand approves them they earn you {points}."
        ).format(points=points_text(settings.review_photo_points, locale))
    return _("Send up to 5 photos (and one short video) here to show what you got.")


async def rewards_page(
    session: AsyncSession, member: MemberView, offset: int
) -> tuple[str, InlineKeyboardMarkup]:
    """A page of the catalog with the member's balance, a Redeem button per reward in stock,
    the pages' Back / More, and ⬅️ Back to Points and perks."""
    locale = member.locale
    page = await list_rewards(session, limit=PAGE_SIZE, offset=offset)
    if not page.total:
        return _("There are no rewards to redeem yet."), with_back(None, MenuScreen.POINTS)
    balance = await points_balance(session, member.id)
    lines = [
        _("<b>Rewards</b> ({counter})").format(counter=page_counter(page)),
        _("You have {points}.").format(points=points_text(balance, locale)),
        "",
    ]
    builder = InlineKeyboardBuilder()
    for reward in page.items:
        stock = (
            _("{count} left").format(count=reward.stock)
            if reward.stock is not None
            else _("unlimited")
        )
        lines.append(
            _("#{id} {title}: {points} ({stock})").format(
                id=reward.id,
                title=esc_name(reward.title),
                points=points_text(reward.cost, locale),
                stock=stock,
            )
        )
        if reward.stock != 0:
            builder.button(
                text=_("Redeem {title}").format(title=reward.title[:40]),
                callback_data=RewardCallback(action=RewardAction.ASK, reward_id=reward.id),
            )
    builder.adjust(1)
    return "\n".join(lines), with_back(with_page_row(builder, "rewards", page), MenuScreen.POINTS)
