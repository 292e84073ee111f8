"""A member's coupons as they read them: one coupon's offer and the page of them (/coupons and
the main menu's Coupons button)."""

from __future__ import annotations

from datetime import datetime

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.menu import with_back
from handlers.views.paging import PAGE_SIZE, page_counter, with_page_row
from handlers.views.text import (
    HandlerSettings,
    discount_figures,
    format_money,
)
from models.coupons import COUPON_PERCENT
from services.coupons import (
    TemplateView,
    coupon_page,
    template_count,
)
from services.member import MemberView
from services.role import is_staff
from services.zones import private_zone, show


def describe(template: TemplateView, locale: str, *, zone: str, reader: str | None) -> str:
    """What the coupon takes off, as a member reads it; its expiry on the clock of `zone`,
    named when that is not the reader's own (`reader`: the zone the reader picked, if any)."""
    if template.kind == COUPON_PERCENT:
        # Translators: {zhe} may stand for {percent} (the share paid: 98 for 2% off, as in 98折)
        off = _("{percent} off").format(**discount_figures(template.value, locale))
    else:
        off = _("{amount} off").format(
            amount=format_money(template.value, template.currency, locale)
        )
    parts = [off]
    if template.min_spend:
        parts.append(
            _("orders from {amount}").format(
                amount=format_money(template.min_spend, template.currency, locale)
            )
        )
    if template.expires_at is not None:
        parts.append(_("until {date}").format(date=show(template.expires_at, zone, reader=reader)))
    return ", ".join(parts)


async def coupons_page(
    session: AsyncSession, member: MemberView, settings: HandlerSettings, now: datetime, offset: int
) -> tuple[str, InlineKeyboardMarkup]:
    """A page of the member's coupons (staff: and every template on the first page), with the
    pages' Back / More and ⬅️ Back to the main menu (/coupons, and 🎟 Coupons in the menu)."""
    locale = member.locale
    zone = await private_zone(
        session, member_id=member.id, own=member.timezone, default=settings.default_timezone
    )
    page = await coupon_page(session, member_id=member.id, now=now, limit=PAGE_SIZE, offset=offset)
    lines = [_("<b>Your coupons</b>")]
    if page.total:
        lines[0] = _("<b>Your coupons</b> ({counter})").format(counter=page_counter(page))
        lines += [
            _("🎟 {code}: {description}").format(
                code=c.template.code,
                description=describe(c.template, locale, zone=zone, reader=member.timezone),
            )
            for c in page.items
        ]
        lines.append(_("Use one with /usecoupon CODE, or with its button when you order."))
    else:
        lines.append(_("You have no coupons right now."))
    if page.offset == 0 and (member.id in settings.owner_ids or await is_staff(session, member.id)):
        lines += [
            "",
            _("Coupon templates: {count}. See them with /coupon_templates.").format(
                count=await template_count(session)
            ),
        ]
    return "\n".join(lines), with_back(with_page_row(None, "coupons", page))
