"""/product_new: staff create a product step by step; /cancel works at every step."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import RoleFilter
from handlers.product import amount_error
from handlers.text import HandlerSettings, esc, format_money
from models.product import PAYMENT_OFFLINE, PAYMENT_TELEGRAM
from services.ledger import STARS
from services.member import MemberView
from services.money import InvalidAmount, parse_currency
from services.parsing import parse_amount
from services.product import ProductPhoto, create_product
from services.role import Role

router = Router(name="product_wizard")
router.message.filter(F.chat.type == ChatType.PRIVATE)


class NewProduct(StatesGroup):
    """The steps of /product_new."""

    title = State()
    description = State()
    photo = State()
    price = State()
    stock = State()
    mode = State()
    confirm = State()


class WizardCallback(CallbackData, prefix="pw"):
    """A button of the product wizard."""

    choice: str  # offline, telegram, create, cancel


def _skip_hint() -> str:
    return _("(send /skip to leave it out, /cancel to stop)")


def mode_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Pay the leader offline"), callback_data=WizardCallback(choice="offline"))
    builder.button(text=_("Telegram invoice"), callback_data=WizardCallback(choice="telegram"))
    builder.adjust(1)
    return builder.as_markup()


def confirm_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("✅ Create"), callback_data=WizardCallback(choice="create"))
    builder.button(text=_("✖️ Cancel"), callback_data=WizardCallback(choice="cancel"))
    builder.adjust(2)
    return builder.as_markup()


@router.message(Command("product_new"), RoleFilter(Role.STAFF, "product.create"))
async def start(message: Message, state: FSMContext) -> None:
    """Step 1: the title."""
    await state.clear()
    await state.set_state(NewProduct.title)
    await message.answer(_("New product. What is its title? (/cancel to stop)"))


@router.message(NewProduct.title, F.text)
async def got_title(message: Message, state: FSMContext) -> None:
    """Step 2: the description."""
    title = (message.text or "").strip()
    if not title or title.startswith("/") or len(title) > 128:
        await message.answer(_("The title must be 1-128 characters. What is its title?"))
        return
    await state.update_data(title=title)
    await state.set_state(NewProduct.description)
    await message.answer(_("A short description?") + " " + _skip_hint())


@router.message(NewProduct.description, F.text)
async def got_description(message: Message, state: FSMContext) -> None:
    """Step 3: the photo."""
    text = (message.text or "").strip()
    await state.update_data(description="" if text == "/skip" else text[:1024])
    await state.set_state(NewProduct.photo)
    await message.answer(_("Send a photo of it.") + " " + _skip_hint())


@router.message(NewProduct.photo, F.photo)
async def got_photo(message: Message, state: FSMContext) -> None:
    """Step 4 (with a photo): the price."""
    assert message.photo
    largest = message.photo[-1]
    await state.update_data(
        photo={"file_id": largest.file_id, "width": largest.width, "height": largest.height}
    )
    await _ask_price(message, state)


@router.message(NewProduct.photo, F.text == "/skip")
async def skipped_photo(message: Message, state: FSMContext) -> None:
    """Step 4 (no photo): the price."""
    await state.update_data(photo=None)
    await _ask_price(message, state)


async def _ask_price(message: Message, state: FSMContext) -> None:
    await state.set_state(NewProduct.price)
    await message.answer(_("The price and currency, for example 35.90 CNY (XTR for Stars)."))


@router.message(NewProduct.price, F.text)
async def got_price(
    message: Message, state: FSMContext, member: MemberView, settings: HandlerSettings
) -> None:
    """Step 5: the stock."""
    words = (message.text or "").split()
    if len(words) != 2:
        await message.answer(_("The price and currency, for example 35.90 CNY (XTR for Stars)."))
        return
    try:
        currency = parse_currency(words[1])
        price = parse_amount(
            words[0], currency, locale=member.locale, ceiling=settings.max_order_amount
        )
    except InvalidAmount as exc:
        await message.answer(amount_error(exc.reason))
        return
    await state.update_data(price=price, currency=currency)
    await state.set_state(NewProduct.stock)
    await message.answer(_("How many are in stock? /skip for no limit."))


@router.message(NewProduct.stock, F.text)
async def got_stock(message: Message, state: FSMContext) -> None:
    """Step 6: how members pay."""
    text = (message.text or "").strip()
    if text != "/skip" and (not text.isdigit() or len(text) > 9):
        await message.answer(_("Stock must be a whole number, like: stock 100"))
        return
    await state.update_data(stock=None if text == "/skip" else int(text))
    await state.set_state(NewProduct.mode)
    await message.answer(_("How do members pay?"), reply_markup=mode_keyboard())


@router.callback_query(
    NewProduct.mode, WizardCallback.filter(F.choice.in_({"offline", "telegram"}))
)
async def got_mode(
    query: CallbackQuery,
    callback_data: WizardCallback,
    state: FSMContext,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """Step 7: the summary to confirm."""
    data = await state.get_data()
    mode = PAYMENT_TELEGRAM if callback_data.choice == "telegram" else PAYMENT_OFFLINE
    if mode == PAYMENT_TELEGRAM and data["currency"] != STARS and settings.provider_token is None:
        await query.answer(
            _(
                "Telegram payments in {currency} need PAYMENT_PROVIDER_TOKEN in the bot's "
                "settings. Use XTR (Telegram Stars) or offline payment instead."
            ).format(currency=data["currency"]),
            show_alert=True,
        )
        return
    await state.update_data(mode=mode)
    await state.set_state(NewProduct.confirm)
    await query.answer()
    stock = _("no limit") if data["stock"] is None else str(data["stock"])
    summary = "\n".join(
        [
            f"<b>{esc(data['title'])}</b>",
            esc(data["description"]) if data["description"] else "",
            _("Price: {price}").format(
                price=format_money(data["price"], data["currency"], member.locale)
            ),
            _("Stock: {stock}").format(stock=stock),
            _("Payment: {mode}").format(
                mode=_("Telegram invoice")
                if mode == PAYMENT_TELEGRAM
                else _("Pay the leader offline")
            ),
        ]
    ).replace("\n\n", "\n")
    if query.message is not None:
        await query.message.answer(summary, reply_markup=confirm_keyboard())


def _saved_photo(saved: object) -> ProductPhoto | None:
    """The photo the wizard kept: its file id and size (a file id alone in a wizard begun
    before sizes were kept)."""
    if isinstance(saved, dict) and saved.get("file_id"):
        return ProductPhoto(str(saved["file_id"]), saved.get("width"), saved.get("height"))
    return ProductPhoto(saved) if isinstance(saved, str) and saved else None


@router.callback_query(NewProduct.confirm, WizardCallback.filter(F.choice == "create"))
async def create(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, member: MemberView
) -> None:
    """Creates the product and leaves the wizard."""
    data = await state.get_data()
    product = await create_product(
        session,
        title=data["title"],
        description=data["description"],
        price=data["price"],
        currency=data["currency"],
        stock=data["stock"],
        payment_mode=data["mode"],
        created_by=member.id,
        photo=_saved_photo(data.get("photo")),
    )
    await state.clear()
    await query.answer()
    if query.message is not None:
        await query.message.answer(
            _("Product #{id} created: {title}, {price}.").format(
                id=product.id,
                title=f"<b>{esc(product.title)}</b>",
                price=format_money(product.price, product.currency, member.locale),
            )
        )


@router.callback_query(WizardCallback.filter(F.choice == "cancel"))
async def cancel_button(query: CallbackQuery, state: FSMContext) -> None:
    """Leaves the wizard from its confirmation buttons."""
    await state.clear()
    await query.answer()
    if query.message is not None:
        await query.message.answer(_("Cancelled. Nothing was changed."))


@router.message(NewProduct.photo)
async def not_a_photo(message: Message) -> None:
    """Asks again for a photo."""
    await message.answer(_("Send a photo of it.") + " " + _skip_hint())
