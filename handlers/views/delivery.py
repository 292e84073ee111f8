"""How delivery reads: why a delivery action was refused, and what the member is told when
their order is shipped or delivered (in chat and from the dashboard alike).
Also the address question and the buttons under a paid order that asks for delivery
(the order and group-buy routers)."""

from __future__ import annotations

from enum import StrEnum

from aiogram import Bot
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.labels import Labels
from handlers.views.text import N_, CallbackId, esc
from handlers.views.wizard import Draft, save_draft
from services.delivery import (
    DeliveryError,
    DeliveryRefusal,
)
from services.member import MemberView
from services.tables import SHIP_DELIVERED, SHIP_SHIPPED, SHIP_WAITING

# what to fix, by the reason services/delivery.py gives
DELIVERY_REFUSALS: dict[str, str] = {
    DeliveryRefusal.NOT_FOUND: N_("There is no such order of yours for delivery."),
    DeliveryRefusal.NOT_YOURS: N_("That order is not yours."),
    DeliveryRefusal.PICKUP_ONLY: N_("This product is picked up only; it cannot be delivered."),
    DeliveryRefusal.PICKUP_ORDER: N_("Order #{detail} is picked up, not delivered."),
    DeliveryRefusal.NOT_OPEN: N_("This order is closed, so its delivery cannot change."),
    DeliveryRefusal.NOT_PAID: N_("Order #{detail} is not paid yet: it is shipped once paid."),
    DeliveryRefusal.ALREADY_SHIPPED: N_(
        "This order was already shipped (tracking number {detail})."
    ),
    DeliveryRefusal.NO_ADDRESS: N_(
        "Order #{detail} has no address yet: the member has not given it."
    ),
    DeliveryRefusal.NO_OPTION: N_(
        "There is no shipping option #{detail}. Send /shipping_options to see them."
    ),
    DeliveryRefusal.NO_OPTIONS: N_("We do not deliver orders in {detail} yet."),
    DeliveryRefusal.NOT_SHIPPED_THERE: N_("Sorry, we do not ship to {detail}."),
    DeliveryRefusal.CHANGED_MEANWHILE: N_("The order changed meanwhile. Please try again."),
    DeliveryRefusal.NAME_EMPTY: N_("Please write the recipient's name."),
    DeliveryRefusal.NAME_TOO_LONG: N_("The name is too long. Characters allowed: {detail}."),
    DeliveryRefusal.PHONE_EMPTY: N_("Please write a phone number."),
    DeliveryRefusal.PHONE_TOO_LONG: N_(
        "The phone number is too long. Characters allowed: {detail}."
    ),
    DeliveryRefusal.PHONE_INVALID: N_(
        "That does not look like a phone number: digits, +, spaces and dashes."
    ),
    DeliveryRefusal.ADDRESS_EMPTY: N_("Please write the address."),
    DeliveryRefusal.ADDRESS_TOO_LONG: N_("The address is too long. Characters allowed: {detail}."),
    DeliveryRefusal.CARRIER: N_(
        "The carrier's name is empty or too long. Characters allowed: {detail}."
    ),
    DeliveryRefusal.TRACKING: N_(
        "The tracking number must be letters, digits and dashes, at most {detail}."
    ),
    DeliveryRefusal.COUNTRIES: N_(
        "Countries are two-letter codes separated by commas, like CN, HK."
    ),
    DeliveryRefusal.OPTION_NAME: N_("The option's name must be 1 to 64 characters."),
    DeliveryRefusal.OPTION_PRICE: N_("The price must be zero (free) or more."),
}
# what the member is told when staff ship, in the member's language
SHIPPED = N_("Order #{id} is on its way: {carrier}, tracking number {tracking}.")
DELIVERED = N_("Order #{id} was delivered. Thank you!")
# where a delivery order stands, as the dashboard's deliveries table reads it
DELIVERY_STATES: Labels = {
    SHIP_WAITING: N_("to ship"),
    SHIP_SHIPPED: N_("shipped"),
    SHIP_DELIVERED: N_("delivered"),
}


def refusal(exc: DeliveryError) -> str:
    """The localized reason a delivery action was refused."""
    text = DELIVERY_REFUSALS.get(exc.reason, DELIVERY_REFUSALS[DeliveryRefusal.NOT_FOUND])
    return _(text).format(detail=esc(exc.detail))


def shipped_notice(text: str, *, order_id: int, carrier: str, tracking: str) -> str:
    """SHIPPED or DELIVERED, translated in the current locale, for the member."""
    return _(text).format(id=order_id, carrier=esc(carrier), tracking=esc(tracking))


class Address(StatesGroup):
    """The address asked in private, one question at a time."""

    name = State()
    phone = State()
    address = State()
    option = State()


class AddressDraft(Draft):
    """The address questions' draft: the order, and the answers so far."""

    order_id: int = 0  # 0: none (set when the questions start)
    name: str | None = None  # the recipient's
    phone: str | None = None
    address: str | None = None  # street and number, city, post code


class DeliveryAction(StrEnum):
    DELIVER = "deliver"  # deliver instead of pickup
    OPTION = "option"  # a shipping option chosen (option_id 0: free, none offered)


class DeliveryCallback(CallbackData, prefix="dlv"):
    """A member's delivery button: deliver instead of pickup, or a shipping option chosen."""

    action: DeliveryAction
    order_id: CallbackId
    option_id: CallbackId = 0


def deliver_keyboard(order_id: int) -> InlineKeyboardBuilder:
    """The button under an order of a product offered both ways."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("🚚 Deliver to my address instead"),
        callback_data=DeliveryCallback(action=DeliveryAction.DELIVER, order_id=order_id),
    )
    return builder


def _private_state(bot: Bot, state: FSMContext, member_id: int) -> FSMContext:
    """The member's wizard state in their private chat, whichever chat they tapped in."""
    return FSMContext(
        storage=state.storage, key=StorageKey(bot_id=bot.id, chat_id=member_id, user_id=member_id)
    )


async def ask_address(
    bot: Bot, state: FSMContext, member: MemberView, order_id: int, i18n: I18n
) -> None:
    """Starts the address questions in the member's private chat, in their language."""
    private = _private_state(bot, state, member.id)
    await private.clear()  # whatever the member was doing there: the questions start afresh
    await private.set_state(Address.name)
    await save_draft(private, AddressDraft(order_id=order_id))
    with i18n.use_locale(member.locale):
        await bot.send_message(
            member.id,
            _(
                "Order #{id} is delivered to you. Who receives it? Write the recipient's name "
                "(or /cancel)."
            ).format(id=order_id),
        )
