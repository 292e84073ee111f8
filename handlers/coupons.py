"""Coupons in chat: staff issue templates and grant coupons; members hold and use them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.coupons import coupons_page, describe
from handlers.views.member import named_member
from handlers.views.order import CouponCallback, send_invoice
from handlers.views.paging import PAGE_SIZE, PageCallback, page_counter, with_page_row
from handlers.views.perks import tier_name
from handlers.views.perks_pages import show_page
from handlers.views.text import (
    N_,
    BackgroundSender,
    HandlerSettings,
    esc,
    format_money,
)
from models.base import Clock
from models.coupons import COUPON_FIXED, COUPON_PERCENT
from models.product import PAYMENT_TELEGRAM
from services.coupons import (
    CouponError,
    CouponRefusal,
    TemplateView,
    apply_coupon,
    create_template,
    grant,
    held_coupons,
    newest_open_order,
    template_by_code,
    template_page,
    usable_coupon_by_code,
)
from services.member import MemberView
from services.money import InvalidAmount, parse_currency
from services.order import order_for_invoice
from services.parsing import parse_amount
from services.role import Role
from services.tiers import list_tiers
from services.validation import number
from services.zones import private_zone, staff_zone

log = logging.getLogger(__name__)
router = Router(name="coupons")
MAX_DAYS = 3660

NO_COUPON = N_("You do not have that coupon.")
COUPON_ERRORS: dict[str, str] = {
    CouponRefusal.BAD_CODE: N_("A coupon code is 3-32 letters, digits, - or _, like WELCOME10."),
    CouponRefusal.BAD_VALUE: N_(
        "The coupon must take off more than zero, and a percentage at most 100%."
    ),
    CouponRefusal.BAD_LIMIT: N_("The limit per member must be a whole number from 1 to 100."),
    CouponRefusal.EXPIRED: N_("That coupon has expired."),
    CouponRefusal.CODE_TAKEN: N_("There is already a coupon with that code."),
    CouponRefusal.NO_COUPON: NO_COUPON,
    CouponRefusal.LIMIT_REACHED: N_(
        "That member already holds as many of these coupons as allowed."
    ),
    CouponRefusal.NOT_YOUR_ORDER: N_("That is not one of your orders."),
    CouponRefusal.ORDER_NOT_OPEN: N_("Coupons can only be used on orders not yet paid."),
    CouponRefusal.ORDER_HAS_COUPON: N_("That order already uses a coupon."),
    CouponRefusal.USED: N_("That coupon has already been used."),
    CouponRefusal.WRONG_CURRENCY: N_("That coupon is for orders in {detail}."),
    CouponRefusal.BELOW_MIN_SPEND: N_("That coupon needs an order of at least {detail}."),
    CouponRefusal.TIER_TOO_LOW: N_("That coupon is for members of a higher tier."),
    CouponRefusal.NOTHING_OFF: N_("That coupon would take nothing off this order."),
    CouponRefusal.ORDER_CHANGED: N_("The order changed just now. Please try again."),
}
COUPON_USAGE = N_(
    "Send /coupon_new CODE 10.00 CNY or /coupon_new CODE 10%, then any of min=100 days=30 "
    "limit=1 tier=gold. For example: /coupon_new WELCOME10 10% min=50 days=30"
)


def coupon_error(exc: CouponError, template: TemplateView | None, locale: str) -> str:
    text = _(COUPON_ERRORS.get(exc.reason, NO_COUPON))
    detail = ""
    if template is not None and exc.reason == CouponRefusal.BELOW_MIN_SPEND:
        detail = format_money(template.min_spend, template.currency, locale)
    elif template is not None and exc.reason == CouponRefusal.WRONG_CURRENCY:
        detail = template.currency
    return text.format(detail=detail)


@router.message(Command("coupon_new"), PRIVATE, RoleFilter(Role.STAFF, "coupons.create"))
async def coupon_new(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    locale: str,
) -> None:
    """Creates a coupon template from one line."""
    words = (command.args or "").split()
    if len(words) < 2:
        await message.answer(_(COUPON_USAGE))
        return
    code, value_text, rest = words[0], words[1], words[2:]
    currency = settings.tier_currency
    if rest and "=" not in rest[0]:
        try:
            currency = parse_currency(rest[0])
        except InvalidAmount:
            await message.answer(_(COUPON_USAGE))
            return
        rest = rest[1:]
    now = clock()
    try:
        # the last day ends at midnight on the clock of the staff member who creates it
        zone = staff_zone(member.timezone, settings.default_timezone)
        terms = await _coupon_terms(
            session,
            value_text,
            rest,
            currency,
            locale=locale,
            settings=settings,
            zone=zone,
            now=now,
        )
    except (InvalidAmount, ValueError):
        await message.answer(_(COUPON_USAGE))
        return
    try:
        template = await create_template(
            session,
            code=code,
            kind=terms.kind,
            value=terms.value,
            currency=currency,
            min_spend=terms.min_spend,
            expires_at=terms.expires_at,
            per_member_limit=terms.limit,
            min_rank=terms.min_rank,
            created_by=member.id,
            now=now,
        )
    except CouponError as exc:
        await message.answer(coupon_error(exc, None, locale))
        return
    await message.answer(
        _(
            "Coupon {code} created: {description}. Give it with /coupon_grant {code} @member."
        ).format(
            code=template.code,
            description=describe(template, locale, zone=zone, reader=member.timezone),
        )
    )


@dataclass(frozen=True)
class _CouponTerms:
    """What /coupon_new's line says about the coupon, besides its code and currency."""

    kind: str
    value: int
    min_spend: int
    expires_at: datetime | None
    limit: int
    min_rank: int


async def _coupon_terms(
    session: AsyncSession,
    value_text: str,
    rest: list[str],
    currency: str,
    *,
    locale: str,
    settings: HandlerSettings,
    zone: str,
    now: datetime,
) -> _CouponTerms:
    """The coupon's value and options (min=, days=, limit=, tier=); InvalidAmount or
    ValueError when the line cannot be read."""
    if value_text.endswith("%"):
        kind = COUPON_PERCENT
        percent = value_text[:-1].replace(",", ".")
        value = _basis_points(percent) if _is_number(percent) else 0
    else:
        kind = COUPON_FIXED
        value = parse_amount(value_text, currency, locale=locale, ceiling=settings.max_order_amount)
    options = dict(word.partition("=")[::2] for word in rest)
    if any(not key or not val for key, val in options.items()) or set(options) - {
        "min",
        "days",
        "limit",
        "tier",
    }:
        raise ValueError("option")
    min_spend = (
        parse_amount(options["min"], currency, locale=locale, ceiling=settings.max_order_amount)
        if "min" in options
        else 0
    )
    days_text = options.get("days", "1")
    days = number(days_text, prefix="") or -1  # above MAX_DAYS: refused below
    if not 0 < days <= MAX_DAYS:
        raise ValueError("days")
    expires_at = _end_of_day(now, days, zone) if "days" in options else None
    limit_text = options.get("limit", "1")
    limit = number(limit_text, prefix="") or 0
    if limit >= 10**5:  # five digits at most, as the usage says
        limit = 0
    min_rank = await _rank(session, options.get("tier", "0"))
    return _CouponTerms(kind, value, min_spend, expires_at, limit, min_rank)


def _basis_points(percent: str) -> int:
    """A percentage as typed ('2', '12.5') in hundredths of a percent, exactly: decimal
    arithmetic, so '0.285' is 29 and never 28 as a binary float would round it."""
    return int((Decimal(percent) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _is_number(text: str) -> bool:
    head, _sep, tail = text.partition(".")
    return head.isdecimal() and (not tail or tail.isdecimal()) and len(text) <= 8


def _end_of_day(now: datetime, days: int, timezone: str) -> datetime:
    zone = ZoneInfo(timezone)
    last = (now.astimezone(zone) + timedelta(days=days)).date()
    return datetime.combine(last, time(23, 59, 59), tzinfo=zone)


async def _rank(session: AsyncSession, text: str) -> int:
    wanted = text.strip().lower()
    for tier in await list_tiers(session):
        if wanted in (str(tier.rank), tier.code, tier.name.lower()):
            return tier.rank
    raise ValueError("tier")


@router.message(Command("coupon_grant"), PRIVATE, RoleFilter(Role.STAFF, "coupons.grant"))
async def coupon_grant(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    i18n: I18n,
    clock: Clock,
    locale: str,
) -> None:
    """Gives one coupon to a member: /coupon_grant CODE @member."""
    words = (command.args or "").split()
    if len(words) != 2:
        await message.answer(_("Send /coupon_grant CODE @member."))
        return
    # the member first: a malformed id is named back before the code is looked at
    target = await named_member(session, words[1], message.answer)
    if target is None:
        return
    template = await template_by_code(session, words[0])
    if template is None:
        await message.answer(_("There is no coupon with that code."))
        return
    try:
        await grant(
            session,
            template_id=template.id,
            member_id=target.id,
            source=f"grant:{message.chat.id}:{message.message_id}",
            now=clock(),
        )
    except CouponError as exc:
        await message.answer(coupon_error(exc, template, locale))
        return
    await message.answer(
        _("{name} received coupon {code}.").format(
            name=esc(target.display_name), code=template.code
        )
    )
    if target.started:
        zone = await private_zone(
            session, member_id=target.id, own=target.timezone, default=settings.default_timezone
        )
        with i18n.use_locale(target.locale):
            notifier.send(
                target.id,
                _("You received coupon {code}: {description}. See /coupons.").format(
                    code=template.code,
                    description=describe(
                        template, target.locale, zone=zone, reader=target.timezone
                    ),
                ),
            )


async def templates_page(
    session: AsyncSession, member: MemberView, locale: str, settings: HandlerSettings, offset: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A page of the coupon templates with how many were given and used, their count, Back /
    More."""
    page = await template_page(session, limit=PAGE_SIZE, offset=offset)
    if not page.total:
        return _("No coupon templates yet. Create one with /coupon_new."), None
    tiers = {t.rank: t for t in await list_tiers(session)}
    zone = staff_zone(member.timezone, settings.default_timezone)
    lines = [_("<b>Coupon templates</b> ({counter})").format(counter=page_counter(page))]
    for template, given, used in page.items:
        tier = tiers.get(template.min_rank)
        lines.append(
            _("{code}: {description}; given {given}, used {used}").format(
                code=template.code,
                description=describe(template, locale, zone=zone, reader=member.timezone),
                given=given,
                used=used,
            )
            + (f" ({tier_name(tier)}+)" if template.min_rank and tier else "")
        )
    lines.append(_("Give one with /coupon_grant CODE @member."))
    return "\n".join(lines), with_page_row(None, "coupon_templates", page)


@router.message(Command("coupon_templates"), PRIVATE, RoleFilter(Role.STAFF, "coupons.list"))
async def coupon_templates(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
) -> None:
    """Every coupon template with how many were given out and used, a page at a time."""
    text, markup = await templates_page(session, member, locale, settings, 0)
    await message.answer(text, reply_markup=markup)


@router.callback_query(
    PageCallback.filter(F.name == "coupon_templates"), RoleFilter(Role.STAFF, "coupons.list")
)
async def coupon_templates_more(
    query: CallbackQuery,
    callback_data: PageCallback,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
) -> None:
    """Back or More under /coupon_templates."""
    text, markup = await templates_page(session, member, locale, settings, callback_data.offset)
    await show_page(query, text, markup)


@router.message(Command("coupons"), PRIVATE)
async def coupons_command(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """The member's coupons a page at a time; staff also see every template with its use."""
    text, markup = await coupons_page(session, member, settings, clock(), 0)
    await message.answer(text, reply_markup=markup)


@router.callback_query(PageCallback.filter(F.name == "coupons"))
async def coupons_more(
    query: CallbackQuery,
    callback_data: PageCallback,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Back or More under /coupons."""
    text, markup = await coupons_page(session, member, settings, clock(), callback_data.offset)
    await show_page(query, text, markup)


async def _use(
    session: AsyncSession,
    bot: Bot,
    settings: HandlerSettings,
    member: MemberView,
    coupon_id: int,
    order_id: int,
    now: datetime,
    locale: str,
) -> str:
    """Applies the coupon and says what happened; an online order gets a fresh invoice."""
    try:
        discount, total = await apply_coupon(
            session, coupon_id=coupon_id, order_id=order_id, member_id=member.id, now=now
        )
    except CouponError as exc:
        held = {c.id: c.template for c in await held_coupons(session, member.id, now)}
        return coupon_error(exc, held.get(coupon_id), locale)
    order = await order_for_invoice(session, order_id)
    assert order is not None
    if order.payment_mode == PAYMENT_TELEGRAM:
        await send_invoice(bot, order, settings)
    return _("Coupon used on order #{id}: −{discount}. New total: {total}.").format(
        id=order_id,
        discount=format_money(discount, order.currency, locale),
        total=format_money(total, order.currency, locale),
    )


@router.message(Command("usecoupon"), PRIVATE)
async def use_coupon_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Uses a coupon on an unpaid order: /usecoupon CODE [ORDER] (default: the newest)."""
    words = (command.args or "").split()
    typed_order = number(words[1]) if len(words) == 2 else None
    if not words or len(words) > 2 or (len(words) == 2 and typed_order is None):
        await message.answer(_("Send /usecoupon CODE, or /usecoupon CODE ORDER_ID."))
        return
    now = clock()
    coupon = await usable_coupon_by_code(session, member_id=member.id, code=words[0], now=now)
    if coupon is None:
        await message.answer(_(NO_COUPON))
        return
    if len(words) == 2:
        order_id: int | None = typed_order
    else:
        order_id = await newest_open_order(session, member.id)
    if order_id is None:
        await message.answer(_("You have no unpaid order to use it on."))
        return
    await message.answer(
        await _use(session, bot, settings, member, coupon.id, order_id, now, member.locale)
    )


@router.callback_query(CouponCallback.filter())
async def coupon_button(
    query: CallbackQuery,
    callback_data: CouponCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    locale: str,
) -> None:
    """A member taps a coupon offered under their order; anyone else is refused."""
    text = await _use(
        session,
        bot,
        settings,
        member,
        callback_data.coupon_id,
        callback_data.order_id,
        clock(),
        locale,
    )
    await query.answer(text[:200], show_alert=True)
