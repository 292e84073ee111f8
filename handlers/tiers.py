"""Tiers in chat: every tier and what it gives (/tiers), and staff's /tier_set."""

from __future__ import annotations

from dataclasses import replace

from aiogram import Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.menu import MenuScreen, with_back
from handlers.views.perks import tiers_text, whole_number_arg
from handlers.views.text import N_, HandlerSettings
from models.ledger import POINTS
from services.money import InvalidAmount
from services.parsing import parse_amount
from services.role import Role
from services.tiers import (
    MAX_SPEND,
    TierError,
    TierRefusal,
    TierView,
    list_tiers,
    renamed,
    save_tier,
)
from services.validation import number

router = Router(name="tiers")

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


@router.message(Command("tiers"))
async def tiers_command(
    message: Message, session: AsyncSession, settings: HandlerSettings, locale: str
) -> None:
    """Every tier, what it needs and what it gives (in private with Back to Points and perks)."""
    private = message.chat.type == ChatType.PRIVATE
    await message.answer(
        await tiers_text(session, settings, locale),
        reply_markup=with_back(None, MenuScreen.POINTS) if private else None,
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
