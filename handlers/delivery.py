"""Delivery in chat: the brand's shipping options, the shipping query of a provider invoice,
the address asked in private for Stars and offline orders, /ship with a tracking number and
the list of orders to ship."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    LabeledPrice,
    Message,
    ShippingOption,
    ShippingQuery,
)
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.delivery import (
    DELIVERED,
    SHIPPED,
    Address,
    AddressDraft,
    DeliveryAction,
    DeliveryCallback,
    ask_address,
    refusal,
)
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.order import invoice
from handlers.views.product import amount_error
from handlers.views.text import N_, BackgroundSender, HandlerSettings, esc, format_money
from handlers.views.wizard import read_draft, save_draft
from models.order import DELIVERY_SHIP, OPEN_STATUSES
from models.product import PAYMENT_TELEGRAM
from services.delivery import (
    DeliveryError,
    DeliveryRefusal,
    ShippingOptionView,
    add_shipping_option,
    asked_in_invoice,
    check_lines,
    check_name,
    check_phone,
    choose_delivery,
    give_address,
    options_for_invoice,
    orders_to_ship,
    parse_countries,
    remove_shipping_option,
    ship_order,
    shipping_options,
)
from services.member import MemberView, get_member
from services.money import InvalidAmount, parse_currency
from services.order import OrderError, OrderView, get_order, mark_fulfilled, start_invoice
from services.parsing import parse_amount
from services.role import Role
from services.tables import csv_header, csv_lines
from services.validation import number

log = logging.getLogger(__name__)
router = Router(name="delivery")

OPTION_USAGE = N_(
    "Send /shipping_option_add Name | price currency | countries (optional), for example:\n"
    "/shipping_option_add SF Express | 12 CNY | CN, HK"
)


@router.shipping_query()
async def shipping_query(
    query: ShippingQuery, session: AsyncSession, i18n: I18n, member: MemberView
) -> None:
    """Answers Telegram with the brand's options to the address given, or why not (at once:
    Telegram waits only a few seconds)."""
    try:
        offered = await options_for_invoice(
            session,
            payload=query.invoice_payload,
            member_id=query.from_user.id,
            country=query.shipping_address.country_code,
        )
    except DeliveryError as exc:
        with i18n.use_locale(member.locale):
            text = refusal(exc)
        try:
            await query.answer(ok=False, error_message=text)
        except TelegramBadRequest:
            log.warning("shipping query %s answered too late", query.id)
        return
    try:
        await query.answer(
            ok=True,
            shipping_options=[
                ShippingOption(
                    id=str(option.id),
                    title=option.name,
                    prices=[LabeledPrice(label=option.name, amount=option.price)],
                )
                for option in offered
            ],
        )
    except TelegramBadRequest:  # answered too late: Telegram already showed the member an error
        log.warning("shipping query %s answered too late", query.id)


@router.callback_query(DeliveryCallback.filter(F.action == DeliveryAction.DELIVER))
async def deliver_instead(
    callback: CallbackQuery,
    callback_data: DeliveryCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    state: FSMContext,
    i18n: I18n,
) -> None:
    """The member chose delivery: a provider invoice asks the address anew; otherwise the
    address is asked in private."""
    try:
        order = await choose_delivery(session, order_id=callback_data.order_id, member_id=member.id)
        if asked_in_invoice(order):
            order = await start_invoice(session, order_id=order.id, member_id=member.id)
    except (DeliveryError, OrderError) as exc:
        reason = exc if isinstance(exc, DeliveryError) else DeliveryError(DeliveryRefusal.NOT_OPEN)
        await callback.answer(refusal(reason), show_alert=True)
        return
    if not member.started:
        await callback.answer(
            _("Please send me /start in private first, then /address {id}.").format(id=order.id),
            show_alert=True,
        )
        return
    await callback.answer(_("I will ask your address in private."))
    if asked_in_invoice(order):
        with i18n.use_locale(member.locale):
            await bot(invoice(order, settings))
        return
    await ask_address(bot, state, member, order.id, i18n)


@router.message(Command("address"), PRIVATE)
async def address_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    state: FSMContext,
    i18n: I18n,
) -> None:
    """Gives (or corrects, before shipping) the address of one's delivery order: /address ID."""
    order_id = number(command.args or "")
    order = await get_order(session, order_id) if order_id is not None else None
    if order is None or order.member_id != member.id or order.delivery != DELIVERY_SHIP:
        await message.answer(_("Send /address ORDER, the number of your order to deliver."))
        return
    if order.shipped_at is not None:
        await message.answer(
            refusal(DeliveryError(DeliveryRefusal.ALREADY_SHIPPED, order.tracking_number))
        )
        return
    if asked_in_invoice(order):
        await message.answer(
            _("The invoice of order #{id} asks your address when you pay.").format(id=order.id)
        )
        return
    await ask_address(bot, state, member, order.id, i18n)


@router.message(StateFilter(Address), Command("cancel"))
async def address_cancel(message: Message, state: FSMContext) -> None:
    """Leaves the address questions; nothing is kept."""
    await state.clear()
    await message.answer(_("Cancelled. Nothing was changed."))


async def _keep_answer(
    message: Message, state: FSMContext, check: Callable[[str], str], field: str
) -> AddressDraft | None:
    """Checks one answer to the address questions and keeps it in the draft as `field`: the
    draft, or None when the answer was refused (the member is told why)."""
    try:
        value = check(message.text or "")
    except DeliveryError as exc:
        await message.answer(refusal(exc))
        return None
    draft = await read_draft(state, AddressDraft)
    setattr(draft, field, value)
    await save_draft(state, draft)
    return draft


@router.message(Address.name, PRIVATE, F.text)
async def address_name(message: Message, state: FSMContext) -> None:
    """The recipient's name; then the phone."""
    if await _keep_answer(message, state, check_name, "name") is not None:
        await state.set_state(Address.phone)
        await message.answer(_("The recipient's phone number?"))


@router.message(Address.phone, PRIVATE, F.text)
async def address_phone(message: Message, state: FSMContext) -> None:
    """The phone; then the address."""
    if await _keep_answer(message, state, check_phone, "phone") is not None:
        await state.set_state(Address.address)
        await message.answer(_("The address: street and number, city, post code."))


@router.message(Address.address, PRIVATE, F.text)
async def address_lines(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    state: FSMContext,
    locale: str,
) -> None:
    """The address; then the shipping option, when the brand offers one in the order's
    currency (none: free)."""
    draft = await _keep_answer(message, state, check_lines, "address")
    if draft is None:
        return
    order = await get_order(session, draft.order_id)
    offered = await shipping_options(session, currency=order.currency) if order else []
    if order is not None and offered and order.status in OPEN_STATUSES:
        await state.set_state(Address.option)
        builder = InlineKeyboardBuilder()
        for option in offered:
            builder.button(
                text=f"{option.name} · {format_money(option.price, option.currency, locale)}",
                callback_data=DeliveryCallback(
                    action=DeliveryAction.OPTION, order_id=order.id, option_id=option.id
                ),
            )
        builder.adjust(1)
        await message.answer(_("How shall we ship it?"), reply_markup=builder.as_markup())
        return
    await _finish(message, bot, session, member, settings, state, locale, option_id=None)


@router.callback_query(DeliveryCallback.filter(F.action == DeliveryAction.OPTION), Address.option)
async def address_option(
    callback: CallbackQuery,
    callback_data: DeliveryCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    state: FSMContext,
    locale: str,
) -> None:
    """The shipping option chosen: the address is kept with the order."""
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.edit_reply_markup(reply_markup=None)
    await _finish(
        callback.message if isinstance(callback.message, Message) else None,
        bot,
        session,
        member,
        settings,
        state,
        locale,
        option_id=callback_data.option_id or None,
    )


async def _finish(
    message: Message | None,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    state: FSMContext,
    locale: str,
    *,
    option_id: int | None,
) -> None:
    """Keeps the address with the order; a Stars order then gets its invoice (with the
    shipping cost), an offline one is paid to the leader as before."""
    draft = await read_draft(state, AddressDraft)
    await state.clear()
    try:
        order = await give_address(
            session,
            order_id=draft.order_id,
            member_id=member.id,
            name=draft.name or "",
            phone=draft.phone or "",
            address=draft.address or "",
            option_id=option_id,
        )
        sendable = order.payment_mode == PAYMENT_TELEGRAM and order.status in OPEN_STATUSES
        if sendable:
            order = await start_invoice(session, order_id=order.id, member_id=member.id)
    except DeliveryError as exc:
        await bot.send_message(member.id, refusal(exc))
        return
    except OrderError:
        await bot.send_message(member.id, refusal(DeliveryError(DeliveryRefusal.NOT_OPEN)))
        return
    text = _("Thank you! Order #{id} will be delivered to:\n{address}").format(
        id=order.id, address=esc(order.ship_address)
    )
    if order.shipping_cost:
        text += "\n" + _("Shipping: {cost}. Total: {total}.").format(
            cost=format_money(order.shipping_cost, order.currency, locale),
            total=format_money(order.total, order.currency, locale),
        )
    await bot.send_message(member.id, text)
    if sendable:
        await bot(invoice(order, settings))


# ------------------------------------------------------------------ staff ----------------


@router.message(
    Command("shipping_option_add"), PRIVATE, RoleFilter(Role.STAFF, "delivery.option_add")
)
async def option_add(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
    clock: Callable[[], datetime],
) -> None:
    """Adds a shipping option: /shipping_option_add Name | price currency | countries."""
    parts = [part.strip() for part in (command.args or "").split("|")]
    if len(parts) not in (2, 3) or len(parts[1].split()) != 2:
        await message.answer(_(OPTION_USAGE))
        return
    amount, code = parts[1].split()
    try:
        currency = parse_currency(code)
        price = (
            0
            if amount in ("0", "free")
            else parse_amount(amount, currency, locale=locale, ceiling=settings.max_order_amount)
        )
        countries = parse_countries(parts[2]) if len(parts) == 3 else ()
        option = await add_shipping_option(
            session,
            name=parts[0],
            price=price,
            currency=currency,
            countries=countries,
            actor_id=member.id,
            now=clock(),
        )
    except InvalidAmount as exc:
        await message.answer(amount_error(exc.reason))
        return
    except DeliveryError as exc:
        await message.answer(refusal(exc))
        return
    await message.answer(
        _("Shipping option #{id} added: {line}").format(
            id=option.id, line=option_line(option, locale)
        )
    )


def option_line(option: ShippingOptionView, locale: str) -> str:
    """One option as staff read it."""
    where = ", ".join(option.countries) if option.countries else _("everywhere")
    return f"{esc(option.name)} · {format_money(option.price, option.currency, locale)} · {where}"


@router.message(Command("shipping_options"), PRIVATE, RoleFilter(Role.STAFF, "delivery.options"))
async def options_list(message: Message, session: AsyncSession, locale: str) -> None:
    """Lists the shipping options offered."""
    offered = await shipping_options(session)
    if not offered:
        await message.answer(_("No shipping options yet. Add one:") + "\n" + _(OPTION_USAGE))
        return
    lines = [f"#{option.id} {option_line(option, locale)}" for option in offered]
    await message.answer(_("Shipping options:") + "\n" + "\n".join(lines))


@router.message(
    Command("shipping_option_remove"), PRIVATE, RoleFilter(Role.STAFF, "delivery.option_remove")
)
async def option_remove(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    clock: Callable[[], datetime],
) -> None:
    """Stops offering a shipping option: /shipping_option_remove ID."""
    option_id = number(command.args or "")
    if option_id is None:
        await message.answer(_("Send /shipping_option_remove ID (see /shipping_options)."))
        return
    try:
        option = await remove_shipping_option(
            session, option_id=option_id, actor_id=member.id, now=clock()
        )
    except DeliveryError as exc:
        await message.answer(refusal(exc))
        return
    await message.answer(_("Shipping option #{id} is no longer offered.").format(id=option.id))


@router.message(Command("ship"), PRIVATE, RoleFilter(Role.STAFF, "delivery.ship"))
async def ship(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    notifier: BackgroundSender,
    i18n: I18n,
    clock: Callable[[], datetime],
) -> None:
    """Marks a paid delivery order shipped, once: /ship ORDER CARRIER TRACKING."""
    words = (command.args or "").split()
    order_id = number(words[0]) if words else None
    if len(words) < 3 or order_id is None:
        await message.answer(
            _("Send /ship ORDER CARRIER TRACKING, for example: /ship 12 SF SF1234567890")
        )
        return
    try:
        order = await ship_order(
            session,
            order_id=order_id,
            actor_id=member.id,
            carrier=" ".join(words[1:-1]),
            tracking=words[-1],
            now=clock(),
        )
    except DeliveryError as exc:
        await message.answer(refusal(exc))
        return
    await message.answer(
        _("Order #{id} shipped: {carrier}, {tracking}. The member was told.").format(
            id=order.id, carrier=esc(order.carrier), tracking=esc(order.tracking_number)
        )
    )
    await _tell_member(session, notifier, i18n, order, SHIPPED)


async def _tell_member(
    session: AsyncSession, notifier: BackgroundSender, i18n: I18n, order: OrderView, text: str
) -> None:
    buyer = await get_member(session, order.member_id)
    locale = buyer.locale if buyer else i18n.default_locale
    notifier.send(
        order.member_id,
        i18n.gettext(text, locale=locale).format(
            id=order.id, carrier=esc(order.carrier), tracking=esc(order.tracking_number)
        ),
    )


@router.message(Command("delivered"), PRIVATE, RoleFilter(Role.STAFF, "delivery.delivered"))
async def delivered(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    notifier: BackgroundSender,
    i18n: I18n,
    clock: Callable[[], datetime],
) -> None:
    """Marks a shipped order delivered: /delivered ORDER."""
    order_id = number(command.args or "")
    order = await get_order(session, order_id) if order_id is not None else None
    if order is None:
        await message.answer(_("Send /delivered ORDER, the number of a shipped order."))
        return
    if order.delivery != DELIVERY_SHIP or order.shipped_at is None:
        await message.answer(
            _("Order #{id} was not shipped, so it cannot be delivered.").format(id=order.id)
        )
        return
    try:
        order = await mark_fulfilled(
            session, order_id=order.id, actor_id=member.id, now=clock(), note="delivered"
        )
    except OrderError:
        await message.answer(refusal(DeliveryError(DeliveryRefusal.NOT_OPEN)))
        return
    await message.answer(_("Order #{id} marked delivered.").format(id=order.id))
    await _tell_member(session, notifier, i18n, order, DELIVERED)


@router.message(Command("to_ship"), PRIVATE, RoleFilter(Role.STAFF, "delivery.list"))
async def to_ship(message: Message, session: AsyncSession, locale: str) -> None:
    """The paid delivery orders not shipped yet, as a CSV file to print or import."""
    rows = await orders_to_ship(session)
    if not rows:
        await message.answer(_("No order is waiting to be shipped."))
        return
    header = ["order", "title", "quantity", "name", "phone", "address", "shipping"]
    lines = [
        [
            row.order.id,
            row.order.title,
            row.order.quantity,
            row.name,
            row.phone,
            row.address,
            format_money(row.order.shipping_cost, row.order.currency, locale),
        ]
        for row in rows
    ]
    await message.answer_document(
        BufferedInputFile(csv_header(header) + csv_lines(lines), filename="to_ship.csv"),
        caption=ngettext("{count} order to ship.", "{count} orders to ship.", len(rows)).format(
            count=len(rows)
        ),
    )
