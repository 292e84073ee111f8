"""The main menu's screens in private: each button edits the menu message into its screen, and
⬅️ Back edits it into the screen it came from. Each screen is rendered by the function its
command uses (/orders, /checkin, /me, /rewards, /points, /tiers, /invite, /referrals,
/coupons, /help, /language, /membership), so tapping and typing show the same thing.

`fallback` is the last router of all: private text that no handler and no wizard step took
gets a short hint with the menu, and a tap whose data no button of the bot reads (forged, or
outdated) a short answer, so the member's spinner stops.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE
from handlers.views.broadcast import BroadcastSettings, offers_screen
from handlers.views.commands import COMMANDS
from handlers.views.coupons import coupons_page
from handlers.views.language import language_keyboard
from handlers.views.membership import membership_screen
from handlers.views.menu import MenuCallback, MenuScreen, menu_keyboard, menu_text, with_back
from handlers.views.myorders import orders_screen
from handlers.views.perks import (
    checkin_screen,
    full_statement,
    history_screen,
    points_screen,
    rewards_page,
    tiers_text,
)
from handlers.views.referral import invite_screen, referrals_screen, send_invitation
from handlers.views.start import help_text
from handlers.views.text import HandlerSettings, pages_of_lines
from models.base import Clock
from services.member import MemberView
from services.zones import private_zone

log = logging.getLogger(__name__)
router = Router(name="menu")
# a menu lives in the private chat; a forged press elsewhere finds no screen
router.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)
fallback = Router(name="menu_fallback")


def _screen(action: MenuScreen) -> CallbackQueryFilter:
    return MenuCallback.filter(F.action == action)


async def show(
    query: CallbackQuery, bot: Bot, text: str, markup: InlineKeyboardMarkup | None
) -> None:
    """Answers the tap and edits the tapped message into the screen (a screen tapped twice
    is already there: Telegram says it is not modified, and nothing changes)."""
    await query.answer()
    if query.message is None:
        return
    try:
        await bot.edit_message_text(
            text=text,
            chat_id=query.message.chat.id,
            message_id=query.message.message_id,
            reply_markup=markup,
        )
    except TelegramBadRequest as exc:
        log.info("menu screen not edited: %s", exc)


@router.callback_query(_screen(MenuScreen.MAIN))
async def main_screen(query: CallbackQuery, bot: Bot, member: MemberView) -> None:
    """⬅️ Back: the greeting with the main menu, in place."""
    await show(query, bot, menu_text(member.display_name), menu_keyboard())


@router.callback_query(_screen(MenuScreen.ORDERS))
async def orders(
    query: CallbackQuery,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    i18n: I18n,
    locale: str,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """📦 My orders: the first page of the member's orders with their buttons."""
    text, markup = await orders_screen(session, i18n, locale, member, settings, clock())
    await show(query, bot, text, markup)


@router.callback_query(_screen(MenuScreen.CHECKIN))
async def checkin(
    query: CallbackQuery,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """✅ Check in: checks the member in (once a day) and says how it went."""
    chat_id = query.message.chat.id if query.message is not None else member.id
    text, markup = await checkin_screen(session, member, settings, chat_id, clock())
    await show(query, bot, text, markup)


@router.callback_query(_screen(MenuScreen.POINTS))
async def points(
    query: CallbackQuery,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """⭐ Points and perks: tier, points, streak and perks, with rewards, history and tiers."""
    text, markup = await points_screen(session, member, settings, clock())
    await show(query, bot, text, markup)


@router.callback_query(_screen(MenuScreen.REWARDS))
async def rewards(
    query: CallbackQuery, bot: Bot, session: AsyncSession, member: MemberView
) -> None:
    """🎁 Rewards: the first page of the catalog, a Redeem button per reward in stock."""
    text, markup = await rewards_page(session, member, 0)
    await show(query, bot, text, markup)


@router.callback_query(_screen(MenuScreen.HISTORY))
async def history(
    query: CallbackQuery,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """📜 Points history: the balance and the latest movements."""
    text, markup = await history_screen(session, member, settings)
    await show(query, bot, text, markup)


@router.callback_query(_screen(MenuScreen.HISTORY_FILE))
async def history_file(
    query: CallbackQuery, session: AsyncSession, member: MemberView, settings: HandlerSettings
) -> None:
    """📄 Every movement as a file: the CSV of /points all, sent under the history."""
    await query.answer()
    if isinstance(query.message, Message):
        zone = ZoneInfo(
            await private_zone(
                session, member_id=member.id, own=member.timezone, default=settings.default_timezone
            )
        )
        await full_statement(query.message, session, member, zone)


@router.callback_query(_screen(MenuScreen.TIERS))
async def tiers(
    query: CallbackQuery, bot: Bot, session: AsyncSession, settings: HandlerSettings, locale: str
) -> None:
    """🏅 Tiers: every tier, what it needs and what it gives."""
    await show(
        query, bot, await tiers_text(session, settings, locale), with_back(None, MenuScreen.POINTS)
    )


@router.callback_query(_screen(MenuScreen.MEMBERSHIP))
async def membership(
    query: CallbackQuery,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """💎 Membership: the member's memberships and the plans for sale."""
    text, markup = await membership_screen(session, member, settings)
    await show(query, bot, text, markup)


@router.callback_query(_screen(MenuScreen.INVITE))
async def invite(query: CallbackQuery, bot: Bot, session: AsyncSession, member: MemberView) -> None:
    """🤝 Invite friends: the link and code in place, then the invitation and the QR code."""
    screen = await invite_screen(bot, session, member)
    await show(query, bot, screen.text, screen.markup)
    if isinstance(query.message, Message):
        await send_invitation(query.message, member, screen)


@router.callback_query(_screen(MenuScreen.REFERRALS))
async def referrals(
    query: CallbackQuery, bot: Bot, session: AsyncSession, member: MemberView
) -> None:
    """👥 My referrals: friends invited, where they stand, what they earned."""
    text, markup = await referrals_screen(session, member)
    await show(query, bot, text, markup)


@router.callback_query(_screen(MenuScreen.COUPONS))
async def coupons(
    query: CallbackQuery,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """🎟 Coupons: the first page of the member's coupons."""
    text, markup = await coupons_page(session, member, settings, clock(), 0)
    await show(query, bot, text, markup)


@router.callback_query(_screen(MenuScreen.OFFERS))
async def offers(
    query: CallbackQuery,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
) -> None:
    """🔔 Offers: what opting in means with Yes, or, once opted in, a button to stop them."""
    text, markup = await offers_screen(session, member, settings)
    await show(query, bot, text, markup)


@router.callback_query(_screen(MenuScreen.HELP))
async def help_screen(
    query: CallbackQuery,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
) -> None:
    """❓ Help: the commands the member may use in private."""
    text = await help_text(bot, i18n, session, settings, member, None, private=True)
    first, *more = pages_of_lines(text)  # staff's list is longer than one message
    await show(query, bot, first, None if more else with_back(None))
    for number, page in enumerate(more, start=1):
        last = number == len(more)
        await bot.send_message(member.id, page, reply_markup=with_back(None) if last else None)


@router.callback_query(_screen(MenuScreen.LANGUAGE))
async def language(query: CallbackQuery, bot: Bot) -> None:
    """🌐 Language: the three languages as buttons."""
    await show(query, bot, _("Choose your language:"), language_keyboard())


def menu_data(query: CallbackQuery) -> bool:
    """Menu data in the shape of a menu button (a prefix and one field), the screen any name."""
    prefix, separator, screen = (query.data or "").partition(MenuCallback.__separator__)
    return prefix == MenuCallback.__prefix__ and separator != "" and separator not in screen


@router.callback_query(menu_data)
async def unknown_screen(query: CallbackQuery, bot: Bot, member: MemberView) -> None:
    """A menu button this version does not know (forged, or from a newer menu): the menu."""
    await show(query, bot, menu_text(member.display_name), menu_keyboard())


# commands some handler takes; one of them that reaches the fallback was refused by a filter
# that answered already (a role check), or is not offered in private (a group's command)
KNOWN_COMMANDS = frozenset({command.name for command in COMMANDS} | {"skip"})


def unknown_text(message: Message) -> bool:
    """Plain text, or a command that no handler knows (/frobnicate, /start_over)."""
    words = (message.text or "").split(maxsplit=1)
    if not words or not words[0].startswith("/"):
        return True
    return words[0][1:].partition("@")[0].casefold() not in KNOWN_COMMANDS


@fallback.message(PRIVATE, F.text, StateFilter(None), unknown_text)
async def not_understood(message: Message) -> None:
    """Private text (or an unknown command) that no handler took: a short hint with the menu.
    A wizard's step is never answered here: its router came first, and the state filter keeps
    any text a step left alone for the step to ask again."""
    await message.answer(
        _("I didn't understand that. Here is what I can do:"), reply_markup=menu_keyboard()
    )


def callback_data_classes() -> list[type[CallbackData]]:
    """Every CallbackData class the routers declare (they are all imported by now)."""
    found: list[type[CallbackData]] = []
    pending = list(CallbackData.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def no_button_reads(query: CallbackQuery) -> bool:
    """True when no button of the bot reads this data (forged, or from a version that had an
    action this one has not). Data some button reads but that reached this router was refused
    by a filter, which answered the tap itself."""
    for cls in callback_data_classes():
        try:
            cls.unpack(query.data or "")
        except (TypeError, ValueError):
            continue
        return False
    return True


@fallback.callback_query(no_button_reads)
async def button_not_taken(query: CallbackQuery) -> None:
    """A tap whose data no button of the bot reads: answered, so the member is not left with a
    spinner."""
    await query.answer(_("This button does not work any more."))
