"""/product_new: staff create a product step by step, with Back, Skip (description, photo,
stock) and Cancel as in every wizard (handlers/views/wizard.py); nothing is stored until Create."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message
from aiogram.utils.i18n import gettext as _
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.content import OFFER, TYPING, ContentDraft, ContentSteps, preview_lines
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.lint import (
    MAX_REASON,
    audit_override,
    claims,
    covered,
    extra_words_of,
    reason_error,
    wizard_findings,
    wizard_texts,
    words_of,
)
from handlers.views.product import (
    MAX_STOCK,
    VARIANTS_EXAMPLE,
    amount_error,
    product_error_text,
    variant_lines,
    variant_unreadable_text,
)
from handlers.views.text import N_, HandlerSettings, esc, esc_name, format_money, sentences
from handlers.views.wizard import NOT_OPEN, Target, Wizard, drop_buttons, read_draft, save_draft
from models.product import PAYMENT_OFFLINE, PAYMENT_TELEGRAM
from services.compliance import Finding
from services.ledger import STARS
from services.member import MemberView
from services.money import InvalidAmount, parse_currency
from services.parsing import VariantUnreadable, parse_amount, parse_variants
from services.product import (
    PRODUCT_FIELDS,
    ProductError,
    ProductPhoto,
    VariantSpec,
    check_variants,
    create_product,
)
from services.role import Role
from services.validation import number

router = Router(name="product_wizard")
router.message.filter(PRIVATE)


class NewProduct(StatesGroup):
    """The steps of /product_new."""

    title = State()
    description = State()
    photo = State()
    price = State()
    stock = State()
    mode = State()
    confirm = State()
    translate = State()  # "Add a translation?", from the last look (handlers/views/content.py)
    translation = State()  # the title or description in the chosen language
    override = State()  # why the texts may go out despite the lint's findings (logged)
    # sizes, flavours...: NAME=PRICE:STOCK, ..., from the last look's 🧩 Variants (optional)
    variants = State()


class ProductDraft(ContentDraft):
    """What /product_new has collected so far (nothing is stored until ✅ Create)."""

    title: str | None = None
    description: str | None = None  # "": skipped
    # the largest size sent; a bare file id: a wizard begun before sizes were kept
    photo: ProductPhoto | str | None = None
    price: int | None = None  # in minor units of `currency`
    currency: str | None = None
    stock: int | None = None  # None: no limit (or skipped, or each variant has its own)
    mode: str | None = None  # how members pay: models/product.py PAYMENT_*
    variants: list[VariantSpec] = Field(default_factory=list)  # from the last look's 🧩 Variants
    override: str | None = None  # why the lint's findings may be ignored (logged)
    override_words: list[str] = Field(default_factory=list)  # the words that reason covers


TEXT_FIELDS = ("title", "description")  # the draft's texts the lint reads


def _texts(draft: ProductDraft) -> list[str]:
    """The product's texts in every language, for the lint."""
    return wizard_texts(draft.model_dump(), TEXT_FIELDS)


def _covered(found: list[tuple[str, list[Finding]]], draft: ProductDraft) -> bool:
    """Whether the draft's override reason was given for these very findings."""
    return covered(found, draft.model_dump())


class ProductWizardChoice(StrEnum):
    OFFLINE = "offline"
    TELEGRAM = "telegram"
    CREATE = "create"
    OVERRIDE = "override"
    VARIANTS = "variants"  # the variants asked next


class WizardCallback(CallbackData, prefix="pw"):
    """A button of the product wizard's own (Back, Skip and Cancel are the wizards' shared)."""

    choice: ProductWizardChoice


WIZARD = Wizard(NewProduct, optional=("description", OFFER, TYPING, "photo", "stock", "variants"))
PRICE_PROMPT = N_("The price and currency, for example 35.90 CNY (XTR for Stars).")


def _skip_hint() -> str:
    return _("(send /skip to leave it out, /cancel to stop)")


def mode_keyboard() -> InlineKeyboardBuilder:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("Pay the leader offline"),
        callback_data=WizardCallback(choice=ProductWizardChoice.OFFLINE),
    )
    builder.button(
        text=_("Telegram invoice"),
        callback_data=WizardCallback(choice=ProductWizardChoice.TELEGRAM),
    )
    builder.adjust(1)
    return builder


def _summary(draft: ProductDraft, locale: str) -> str:
    """What Create will store, for a last look; the staff member's text escaped."""
    assert draft.title is not None and draft.price is not None and draft.currency is not None
    currency = draft.currency
    stock = _("no limit") if draft.stock is None else str(draft.stock)
    return "\n".join(
        [
            f"<b>{esc(draft.title)}</b>",
            esc(draft.description) if draft.description else "",
            *preview_lines(draft.translations, PRODUCT_FIELDS),
            _("Price: {price}").format(price=format_money(draft.price, currency, locale)),
            _("Stock: {stock}").format(stock=stock) if not draft.variants else _("Variants:"),
            *(
                "• "
                + esc(
                    f"{v.name} · {format_money(v.price, currency, locale)} · "
                    + _("{count} left").format(count=v.stock)
                )
                for v in draft.variants
            ),
            _("Payment: {mode}").format(
                mode=_("Telegram invoice")
                if draft.mode == PAYMENT_TELEGRAM
                else _("Pay the leader offline")
            ),
        ]
    ).replace("\n\n", "\n")


async def _ask(target: Target, step: str, data: dict[str, Any], *, error: str = "") -> None:
    """Moves the wizard to `step` and asks its question (the error, when there is one, in place
    of it: each error says what to send)."""
    if step in CONTENT.steps:
        await CONTENT.ask(target, step, data)
        return
    back = await WIZARD.enter(data["state"], step)
    above: InlineKeyboardBuilder | None = None
    if step == "title":
        text = _("New product. What is its title? (/cancel to stop)")
    elif step == "description":
        text = sentences(_("A short description?"), _skip_hint())
    elif step == "photo":
        text = sentences(_("Send a photo of it."), _skip_hint())
    elif step == "price":
        text = _(PRICE_PROMPT)
    elif step == "stock":
        text = _("How many are in stock? /skip for no limit.")
    elif step == "variants":
        text = sentences(
            _(
                "Does it come in variants (sizes, flavours, weights)? Send them as "
                "NAME=PRICE:STOCK, for example: {example}"
            ).format(example=esc(VARIANTS_EXAMPLE.removeprefix("variants "))),
            _skip_hint(),
        )
    elif step == "mode":
        text, above = _("How do members pay?"), mode_keyboard()
    elif step == "override":
        text = _("Why may it go out as it is? The reason is logged.")
    else:
        member: MemberView = data["member"]
        draft = await read_draft(data["state"], ProductDraft)
        found = claims(_texts(draft), extra_words_of(data))
        findings = wizard_findings(_texts(draft), extra_words_of(data))
        text = "\n".join([_summary(draft, member.locale), *findings])
        above = InlineKeyboardBuilder()
        if findings and not _covered(found, draft):
            above.button(
                text=_("⚠️ Send anyway"),
                callback_data=WizardCallback(choice=ProductWizardChoice.OVERRIDE),
            )
        else:
            above.button(
                text=_("✅ Create"), callback_data=WizardCallback(choice=ProductWizardChoice.CREATE)
            )
        above.row(
            InlineKeyboardButton(
                text=_("🧩 Variants"),
                callback_data=WizardCallback(choice=ProductWizardChoice.VARIANTS).pack(),
            )
        )
        above.row(CONTENT.button())
    await target.answer(error or text, reply_markup=WIZARD.keyboard(step, back=back, above=above))


async def _skip(target: Target, step: str, data: dict[str, Any]) -> None:
    """Skip: no description, no photo, no limit on the stock, or no (more) translation; then
    the next step."""
    if step in CONTENT.steps:
        await CONTENT.skip(target, step, data)
        return
    draft = await read_draft(data["state"], ProductDraft)
    if step == "variants":  # asked from the last look: back to it, without variants
        draft.variants = []
        await save_draft(data["state"], draft)
        await _ask(target, "confirm", data)
        return
    if step == "description":
        draft.description = ""
    elif step == "photo":
        draft.photo = None
    else:  # the stock: no limit
        draft.stock = None
    await save_draft(data["state"], draft)
    await _ask(target, WIZARD.steps[WIZARD.steps.index(step) + 1], data)


async def _after_translations(target: Target, data: dict[str, Any]) -> None:
    """Done with the translations: the last look again, showing each language."""
    await _ask(target, "confirm", data)


CONTENT = ContentSteps(WIZARD, PRODUCT_FIELDS, confirm="confirm", after=_after_translations)
WIZARD.register(router, ask=_ask, skip=_skip)
CONTENT.register(router)


@router.message(Command("product_new"), RoleFilter(Role.STAFF, "product.create"))
async def start(message: Message, state: FSMContext) -> None:
    """Step 1: the title."""
    await state.clear()
    await _ask(message, "title", {"state": state})


@router.message(NewProduct.title, F.text)
async def got_title(message: Message, state: FSMContext) -> None:
    """Step 2: the description."""
    title = (message.text or "").strip()
    data = {"state": state}
    if not title or title.startswith("/") or len(title) > 128:
        error = _("The title must be 1-128 characters. What is its title?")
        await _ask(message, "title", data, error=error)
        return
    draft = await read_draft(state, ProductDraft)
    draft.title = title
    await save_draft(state, draft)
    await _ask(message, "description", data)


@router.message(NewProduct.description, F.text)
async def got_description(message: Message, state: FSMContext) -> None:
    """Step 3: the photo."""
    draft = await read_draft(state, ProductDraft)
    draft.description = (message.text or "").strip()[:1024]
    await save_draft(state, draft)
    await _ask(message, "photo", {"state": state})


@router.message(NewProduct.photo, F.photo)
async def got_photo(message: Message, state: FSMContext) -> None:
    """Step 4 (with a photo): the price."""
    assert message.photo
    largest = message.photo[-1]
    draft = await read_draft(state, ProductDraft)
    draft.photo = ProductPhoto(largest.file_id, largest.width, largest.height)
    await save_draft(state, draft)
    await _ask(message, "price", {"state": state})


@router.message(NewProduct.price, F.text)
async def got_price(
    message: Message, state: FSMContext, member: MemberView, settings: HandlerSettings
) -> None:
    """Step 5: the stock."""
    words = (message.text or "").split()
    data = {"state": state}
    if len(words) != 2:
        await _ask(message, "price", data)
        return
    try:
        currency = parse_currency(words[1])
        price = parse_amount(
            words[0], currency, locale=member.locale, ceiling=settings.max_order_amount
        )
    except InvalidAmount as exc:
        await _ask(message, "price", data, error=amount_error(exc.reason))
        return
    draft = await read_draft(state, ProductDraft)
    draft.price, draft.currency = price, currency
    await save_draft(state, draft)
    await _ask(message, "stock", data)


@router.message(NewProduct.stock, F.text)
async def got_stock(message: Message, state: FSMContext) -> None:
    """Step 6: how members pay."""
    text = (message.text or "").strip()
    stock = number(text, prefix="")
    if stock is None or stock > MAX_STOCK:
        error = _("Stock must be a whole number, like: stock 100")
        await _ask(message, "stock", {"state": state}, error=error)
        return
    draft = await read_draft(state, ProductDraft)
    draft.stock = stock
    await save_draft(state, draft)
    await _ask(message, "mode", {"state": state})


@router.message(NewProduct.variants, F.text)
async def got_variants(
    message: Message, state: FSMContext, member: MemberView, settings: HandlerSettings
) -> None:
    """The variants typed after 🧩 Variants: they replace the product's own stock (each
    variant has its own); then the last look again."""
    draft = await read_draft(state, ProductDraft)
    assert draft.currency is not None  # the price was asked before the last look
    asked = {"state": state}
    try:
        read = parse_variants(
            message.text or "",
            draft.currency,
            locale=member.locale,
            ceiling=settings.max_order_amount,
            max_stock=MAX_STOCK,
        )
        if not read:
            raise VariantUnreadable("shape", "")
        variants = [VariantSpec(v.name, v.price, v.stock) for v in read]
        check_variants(variants)
    except VariantUnreadable as exc:
        await _ask(message, "variants", asked, error=variant_unreadable_text(exc))
        return
    except ProductError as exc:
        await _ask(message, "variants", asked, error=product_error_text(exc))
        return
    draft.variants, draft.stock = variants, None
    await save_draft(state, draft)
    await _ask(message, "confirm", {**asked, "member": member, "settings": settings})


@router.callback_query(
    NewProduct.mode,
    WizardCallback.filter(
        F.choice.in_({ProductWizardChoice.OFFLINE, ProductWizardChoice.TELEGRAM})
    ),
)
async def got_mode(
    query: CallbackQuery,
    callback_data: WizardCallback,
    bot: Bot,
    state: FSMContext,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """Step 7: the summary to confirm."""
    draft = await read_draft(state, ProductDraft)
    mode = (
        PAYMENT_TELEGRAM
        if callback_data.choice == ProductWizardChoice.TELEGRAM
        else PAYMENT_OFFLINE
    )
    if mode == PAYMENT_TELEGRAM and draft.currency != STARS and settings.provider_token is None:
        await query.answer(
            _(
                "Telegram payments in {currency} need PAYMENT_PROVIDER_TOKEN in the bot's "
                "settings. Use XTR (Telegram Stars) or offline payment instead."
            ).format(currency=draft.currency),
            show_alert=True,
        )
        return
    draft.mode = mode
    await save_draft(state, draft)
    await query.answer()
    await drop_buttons(bot, query)
    if query.message is not None:
        data = {"state": state, "member": member, "settings": settings}
        await _ask(query.message, "confirm", data)


def _saved_photo(saved: ProductPhoto | str | None) -> ProductPhoto | None:
    """The photo the wizard kept: its file id and size (a file id alone in a wizard begun
    before sizes were kept)."""
    if isinstance(saved, str):
        return ProductPhoto(saved) if saved else None
    return saved if saved is not None and saved.file_id else None


@router.callback_query(
    NewProduct.confirm, WizardCallback.filter(F.choice == ProductWizardChoice.CREATE)
)
async def create(
    query: CallbackQuery,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Callable[[], datetime],
) -> None:
    """Creates the product and leaves the wizard (texts with findings only with a reason)."""
    draft = await read_draft(state, ProductDraft)
    found = claims(_texts(draft), settings.compliance_extra_words)
    if found and not _covered(found, draft):
        await query.answer(_(NOT_OPEN), show_alert=True)  # a stale Create: findings need a reason
        return
    # every step before the last look was answered (or skipped) to reach it
    assert draft.title is not None and draft.description is not None and draft.mode is not None
    assert draft.price is not None and draft.currency is not None
    product = await create_product(
        session,
        title=draft.title,
        description=draft.description,
        price=draft.price,
        currency=draft.currency,
        stock=draft.stock,
        payment_mode=draft.mode,
        created_by=member.id,
        photo=_saved_photo(draft.photo),
        translations=draft.translations,
        variants=draft.variants,
    )
    if found:
        await audit_override(
            session,
            actor_id=member.id,
            action="product.create",
            found=found,
            reason=str(draft.override),
            what=f"#{product.id}",
            now=clock(),
        )
    await state.clear()
    await query.answer()
    await drop_buttons(bot, query)
    if query.message is not None:
        created = _("Product #{id} created: {title}, {price}.").format(
            id=product.id,
            title=f"<b>{esc_name(product.title)}</b>",
            price=format_money(product.price, product.currency, member.locale),
        )
        await query.message.answer("\n".join([created, *variant_lines(product, member.locale)]))


@router.callback_query(
    NewProduct.confirm, WizardCallback.filter(F.choice == ProductWizardChoice.VARIANTS)
)
async def ask_variants(query: CallbackQuery, bot: Bot, state: FSMContext) -> None:
    """🧩 Variants on the last look: asks for them (sizes, flavours, weights)."""
    await query.answer()
    await drop_buttons(bot, query)
    if query.message is not None:
        await _ask(query.message, "variants", {"state": state})


@router.callback_query(
    NewProduct.confirm, WizardCallback.filter(F.choice == ProductWizardChoice.OVERRIDE)
)
async def ask_override(
    query: CallbackQuery, bot: Bot, state: FSMContext, settings: HandlerSettings
) -> None:
    """⚠️ Send anyway: asks why the findings may be ignored."""
    await query.answer()
    await drop_buttons(bot, query)
    if query.message is not None:
        await _ask(query.message, "override", {"state": state, "settings": settings})


@router.message(NewProduct.override, F.text)
async def got_override(
    message: Message, state: FSMContext, member: MemberView, settings: HandlerSettings
) -> None:
    """Notes the reason, then the last look again with ✅ Create."""
    reason = (message.text or "").strip()
    data = {"state": state, "member": member, "settings": settings}
    error = reason_error(reason)
    if error is not None:
        await _ask(message, "override", data, error=error)
        return
    draft = await read_draft(state, ProductDraft)
    found = claims(_texts(draft), settings.compliance_extra_words)
    draft.override, draft.override_words = reason[:MAX_REASON], words_of(found)
    await save_draft(state, draft)
    await _ask(message, "confirm", data)


@router.callback_query(WizardCallback.filter())
async def stale_button(query: CallbackQuery) -> None:
    """A choice or Create under a question that is not open any more."""
    await query.answer(_(NOT_OPEN), show_alert=True)


@router.message(NewProduct.photo)
async def not_a_photo(message: Message, state: FSMContext) -> None:
    """Asks again for a photo."""
    await _ask(message, "photo", {"state": state})
