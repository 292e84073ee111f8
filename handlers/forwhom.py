"""Orders for someone else (代订): the member's "👤 For someone else" button in My orders asks
in private whom the order is for (a one-step wizard), and /for ORDER TEXT lets the group's
leader or staff (or the member) set it in one line; empty text makes the order the member's
own again."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.myorders import MyOrderAction, MyOrderCallback
from handlers.views.text import N_, BackgroundSender, HandlerSettings, counted, esc_name
from handlers.views.wizard import Draft, Target, Wizard, drop_buttons, read_draft, save_draft
from models.base import Clock
from models.order import FOR_WHOM_MAX
from services.forwhom import (
    BY_MEMBER,
    SETTABLE_STATUSES,
    ForWhomError,
    ForWhomRefusal,
    ForWhomSet,
    set_for_whom,
)
from services.member import MemberView, get_member
from services.order import get_order
from services.validation import number

router = Router(name="forwhom")

USAGE = N_(
    "Send /for ORDER TEXT to say whom an order is for, for example /for 12 Mom, building 3. "
    "/for 12 alone makes it the member's own order again."
)
ERRORS: dict[str, str] = {
    ForWhomRefusal.NOT_FOUND: N_("There is no order #{id}."),
    ForWhomRefusal.NOT_YOURS: N_(
        "You cannot change order #{id}: a member changes their own orders, a leader the "
        "orders of the groups they lead."
    ),
    ForWhomRefusal.CLOSED: N_(
        "Order #{id} was picked up or is no longer open, so whom it is for cannot change."
    ),
    ForWhomRefusal.TOO_LONG: N_("That is too long: at most {limit}. Send a shorter text."),
}
QUESTION = N_(
    "Whom is order #{id} {title} for? Send a name and where to find them, for example "
    "“Mom, building 3” (at most {limit}). Tap 🙋 For me to make it yours again."
)
FOR_ME = N_("🙋 For me")
# what the member is told when their leader or staff set it on their order
TOLD_SET = N_(
    "Order #{id} {title} is now noted as for {name}. To change it, send /orders and tap "
    "👤 For someone else."
)
TOLD_CLEARED = N_("Order #{id} {title} is noted as for you again.")


class ForWhom(StatesGroup):
    """The member tapped 👤 For someone else and is asked whom the order is for."""

    name = State()


class ForWhomDraft(Draft):
    """The question's draft: the order it is about."""

    for_whom_order: int = 0  # 0: none (the button that asks sets it)


WIZARD = Wizard(ForWhom)


def error_text(exc: ForWhomError, order_id: int, *, own: bool = False) -> str:
    """Why whom the order is for was not set, in the reader's words (`own`: asked from My
    orders, where only the member's own orders are offered)."""
    if own and exc.reason == ForWhomRefusal.NOT_YOURS:
        return _("That is not one of your orders.")
    return _(ERRORS.get(exc.reason, ERRORS[ForWhomRefusal.NOT_YOURS])).format(
        id=order_id, limit=counted("character", FOR_WHOM_MAX)
    )


def done_text(done: ForWhomSet) -> str:
    """What the person who set it reads."""
    if not done.for_whom:
        return _("Order #{id} {title} is for its member again.").format(
            id=done.order_id, title=esc_name(done.title)
        )
    return _("Order #{id} {title} is now for {name}. It shows on the pickup sheet.").format(
        id=done.order_id, title=esc_name(done.title), name=esc_name(done.for_whom)
    )


async def _ask(target: Target, step: str, data: dict[str, Any]) -> None:
    """Asks whom the order is for, with 🙋 For me above ✖️ Cancel."""
    state: FSMContext = data["state"]
    order_id = (await read_draft(state, ForWhomDraft)).for_whom_order
    order = await get_order(data["session"], order_id)
    back = await WIZARD.enter(state, "name")
    above = InlineKeyboardBuilder()
    above.button(
        text=_(FOR_ME), callback_data=MyOrderCallback(action=MyOrderAction.FOR_ME, id=order_id)
    )
    await target.answer(
        _(QUESTION).format(
            id=order_id,
            title=esc_name(order.title if order else ""),
            limit=counted("character", FOR_WHOM_MAX),
        ),
        reply_markup=WIZARD.keyboard("name", back=back, above=above),
    )


WIZARD.register(router, ask=_ask)


@router.callback_query(MyOrderCallback.filter(F.action == MyOrderAction.FOR))
async def for_button(
    query: CallbackQuery,
    callback_data: MyOrderCallback,
    state: FSMContext,
    session: AsyncSession,
    member: MemberView,
) -> None:
    """👤 For someone else under an order in My orders: asks in private whom it is for."""
    order = await get_order(session, callback_data.id)
    if order is None or order.member_id != member.id:
        await query.answer(_("That is not one of your orders."), show_alert=True)
        return
    if order.status not in SETTABLE_STATUSES:
        await query.answer(_(ERRORS[ForWhomRefusal.CLOSED]).format(id=order.id), show_alert=True)
        return
    await query.answer()
    if query.message is None:
        return
    await WIZARD.start(state, "name")
    await save_draft(state, ForWhomDraft(for_whom_order=order.id))
    await _ask(query.message, "name", {"state": state, "session": session})


@router.callback_query(MyOrderCallback.filter(F.action == MyOrderAction.FOR_ME))
async def for_me_button(
    query: CallbackQuery,
    callback_data: MyOrderCallback,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
) -> None:
    """🙋 For me under the question: the order is the member's own again."""
    try:
        done = await set_for_whom(
            session,
            order_id=callback_data.id,
            actor_id=member.id,
            text="",
            chat_id=member.id,
            now=clock(),
            own_only=True,
        )
    except ForWhomError as exc:
        await query.answer(error_text(exc, callback_data.id, own=True), show_alert=True)
        return
    await state.clear()
    await query.answer()
    await drop_buttons(bot, query)
    if query.message is not None:
        await query.message.answer(done_text(done))


@router.message(ForWhom.name, PRIVATE, F.text, ~F.text.startswith("/"))  # commands pass
async def for_whom_answer(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
) -> None:
    """The member's answer: whom the order is for; too long is asked again."""
    order_id = (await read_draft(state, ForWhomDraft)).for_whom_order
    try:
        done = await set_for_whom(
            session,
            order_id=order_id,
            actor_id=member.id,
            text=message.text or "",
            chat_id=message.chat.id,
            now=clock(),
            own_only=True,
        )
    except ForWhomError as exc:
        if exc.reason != ForWhomRefusal.TOO_LONG:
            await state.clear()
        await message.answer(error_text(exc, order_id, own=True))
        return
    await state.clear()
    await message.answer(done_text(done))


@router.message(Command("for"))
async def for_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    clock: Clock,
) -> None:
    """Says whom an order is for: /for ORDER TEXT (a leader for their groups' orders, staff
    for any, a member for their own); /for ORDER alone clears it."""
    words = (command.args or "").strip().split(maxsplit=1)
    order_id = number(words[0]) if words else None
    if order_id is None:
        await message.reply(_(USAGE))
        return
    try:
        done = await set_for_whom(
            session,
            order_id=order_id,
            actor_id=member.id,
            text=words[1] if len(words) > 1 else "",
            chat_id=message.chat.id,
            now=clock(),
            owner_ids=settings.owner_ids,
        )
    except ForWhomError as exc:
        await message.reply(error_text(exc, order_id))
        return
    await message.reply(done_text(done))
    if done.by != BY_MEMBER:  # their leader or staff changed it: the member is told
        buyer = await get_member(session, done.member_id)
        locale = buyer.locale if buyer else i18n.default_locale
        told = i18n.gettext(TOLD_SET if done.for_whom else TOLD_CLEARED, locale=locale)
        notifier.send(
            done.member_id,
            told.format(id=done.order_id, title=esc_name(done.title), name=esc_name(done.for_whom)),
        )
