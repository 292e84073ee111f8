"""Joining a group-buy, shared by the group-buy, waitlist, my-orders, 接龙 and start routers: why
a join or a leave was refused, the prepayment invoice of a Telegram-paid group-buy, and what a
member who came from "Open the bot" sees after /start."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    Message,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.delivery import deliver_keyboard
from handlers.views.order import send_invoice
from handlers.views.text import (
    N_,
    HandlerSettings,
    default_locale,
    esc_name,
)
from models.order import DELIVERY_PICKUP
from models.product import FULFIL_BOTH, PAYMENT_TELEGRAM
from services.groupbuy import (
    GroupBuyError,
    GroupBuyRefusal,
    get_groupbuy,
    participants,
    prepayment_due,
    sync_prepayment,
)
from services.member import MemberView
from services.order import (
    start_invoice,
)

log = logging.getLogger(__name__)


REFUSALS: dict[str, str] = {
    GroupBuyRefusal.CLOSED: N_("This group-buy is closed."),
    GroupBuyRefusal.SOLD_OUT: N_("Sorry, it is sold out."),
    "too_few_left": N_("Sorry, only {left} left: take fewer."),
    GroupBuyRefusal.OVER_LIMIT: N_("That is more than the limit per member."),
    GroupBuyRefusal.NOT_JOINED: N_("You have not joined this group-buy."),
    GroupBuyRefusal.BAD_QUANTITY: N_("That quantity is not possible."),
    GroupBuyRefusal.NOT_FOUND: N_("This group-buy no longer exists."),
    GroupBuyRefusal.PREPAID: N_(
        "You have already paid for these units. Ask your leader if you must cancel."
    ),
    GroupBuyRefusal.CHOOSE_VARIANT: N_("Tap the Join button of the variant you want."),
    GroupBuyRefusal.OTHER_VARIANT: N_(
        "You joined with {variant}. Leave first to take another variant."
    ),
}


def refusal_text(exc: GroupBuyError) -> str:
    """Why a join or change was refused; a sell-out says how many units are left, if any."""
    if exc.reason == GroupBuyRefusal.SOLD_OUT and exc.detail.isdigit() and int(exc.detail) > 0:
        return _(REFUSALS["too_few_left"]).format(left=exc.detail)
    if exc.reason == GroupBuyRefusal.OTHER_VARIANT:
        return _(REFUSALS[GroupBuyRefusal.OTHER_VARIANT]).format(variant=exc.detail)
    return _(REFUSALS.get(exc.reason, REFUSALS[GroupBuyRefusal.CLOSED]))


async def start_on_groupbuy(
    message: Message,
    *,
    groupbuy_id: int,
    bot: Bot,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
) -> None:
    """After the welcome, for a member who came from "Open the bot" under their join
    confirmation: their place in the group-buy, and its invoice when it is paid in Telegram."""
    groupbuy = await get_groupbuy(session, groupbuy_id)
    place = next(
        (p for p in await participants(session, groupbuy_id) if p.member_id == member.id), None
    )
    if groupbuy is None or place is None:
        await message.answer(_(REFUSALS[GroupBuyRefusal.NOT_JOINED]))
        return
    joined = _("You joined {title}: quantity {quantity}, you are #{position}.").format(
        title=esc_name(groupbuy.in_language(member.locale, default_locale()).title),
        quantity=place.quantity,
        position=place.position,
    )
    await message.answer(
        joined + "\n" + _("From now on I send your confirmations and pickup details here.")
    )
    if groupbuy.payment_mode != PAYMENT_TELEGRAM:
        return
    order = await prepayment_due(
        session, groupbuy_id=groupbuy.id, member_id=member.id, chat_id=place.chat_id
    )
    if order is None:
        return
    invoice = await start_invoice(session, order_id=order.id, member_id=member.id)
    try:
        await send_invoice(bot, invoice, settings)
    except TelegramAPIError as exc:
        log.info("could not send the prepayment invoice of order %s: %s", order.id, exc)


async def prepay(
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    groupbuy_id: int,
    chat_id: int,
) -> None:
    """A Telegram-paid group-buy is paid when joining: the member's unpaid order follows their
    quantity, and a new one gets its invoice in private, in the member's language."""
    order = await sync_prepayment(
        session, groupbuy_id=groupbuy_id, member_id=member.id, chat_id=chat_id
    )
    if order is None or not member.started:
        return
    invoice = await start_invoice(session, order_id=order.id, member_id=member.id)
    groupbuy = await get_groupbuy(session, groupbuy_id)
    # offered both ways (the group-buy's own mode, or its product's): delivery is a tap away
    both = groupbuy is not None and groupbuy.fulfilment == FULFIL_BOTH
    try:
        with i18n.use_locale(member.locale):  # the join was in the group's language
            await send_invoice(bot, invoice, settings)
            if both and invoice.delivery == DELIVERY_PICKUP:
                await bot.send_message(
                    member.id,
                    _(
                        "Rather have order #{id} delivered? Tap below; a new invoice follows."
                    ).format(id=order.id),
                    reply_markup=deliver_keyboard(order.id).as_markup(),
                )
    except TelegramAPIError as exc:
        log.info("could not send the prepayment invoice of order %s: %s", order.id, exc)
