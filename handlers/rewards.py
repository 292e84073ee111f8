"""Rewards for points in chat: the catalogue (/rewards), redeeming, staff's hand-overs
(/fulfil) and the catalogue's upkeep (/reward_add, /reward_off)."""

from __future__ import annotations

from functools import partial

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.lint import clear_command, split_override
from handlers.views.paging import PAGE_SIZE, PageCallback, page_counter, with_page_row
from handlers.views.perks import (
    RewardAction,
    RewardCallback,
    points_error_text,
    points_text,
    rewards_page,
    whole_number_arg,
)
from handlers.views.perks_pages import show_page
from handlers.views.text import (
    BackgroundSender,
    CallbackId,
    CommitHook,
    HandlerSettings,
    esc,
    esc_name,
)
from models.base import Clock
from services.audit import record_action
from services.coupons import template_by_code
from services.member import (
    MemberView,
    get_member,
)
from services.points import (
    PointsError,
)
from services.rewards import (
    FulfilmentError,
    Redeemed,
    add_reward,
    hand_over,
    open_fulfilments,
    quote_redeem,
    redeem,
    set_reward_active,
)
from services.role import Role, staff_locales
from services.zones import show, staff_zone

router = Router(name="rewards")


class FulfilCallback(CallbackData, prefix="ff"):
    """A staff button under /fulfil: this member's physical reward is handed over."""

    fulfilment_id: CallbackId


@router.message(Command("rewards"), PRIVATE)
async def rewards_command(message: Message, session: AsyncSession, member: MemberView) -> None:
    """The redeem catalog with a button per reward, a page at a time."""
    text, markup = await rewards_page(session, member, 0)
    await message.answer(text, reply_markup=markup)


@router.callback_query(PageCallback.filter(F.name == "rewards"))
async def rewards_more(
    query: CallbackQuery, callback_data: PageCallback, session: AsyncSession, member: MemberView
) -> None:
    """Back or More under /rewards: the same message shows the other page."""
    text, markup = await rewards_page(session, member, callback_data.offset)
    await show_page(query, text, markup)


@router.callback_query(
    RewardCallback.filter(F.action == RewardAction.ASK), F.message.chat.type == ChatType.PRIVATE
)
async def redeem_asked(
    query: CallbackQuery,
    callback_data: RewardCallback,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
) -> None:
    """A Redeem button in the catalog: asks to confirm, with the cost and the balance after;
    nothing is spent yet."""
    try:
        quote = await quote_redeem(session, reward_id=callback_data.reward_id, member_id=member.id)
    except PointsError as exc:
        await query.answer(points_error_text(exc, settings, locale), show_alert=True)
        return
    if quote.after < 0:
        await query.answer(
            _("{title} costs {points}; you have {balance}.").format(
                title=quote.reward.title,
                points=points_text(quote.reward.cost, member.locale),
                balance=points_text(quote.balance, member.locale),
            ),
            show_alert=True,
        )
        return
    await query.answer()
    if query.message is None:
        return
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("✅ Confirm"),
        callback_data=RewardCallback(action=RewardAction.CONFIRM, reward_id=quote.reward.id),
    )
    builder.button(
        text=_("✖️ Cancel"),
        callback_data=RewardCallback(action=RewardAction.CANCEL, reward_id=quote.reward.id),
    )
    await query.message.answer(
        _("Redeem {title} for {points}? You will have {after} left.").format(
            title=f"“{esc_name(quote.reward.title)}”",
            points=points_text(quote.reward.cost, member.locale),
            after=points_text(quote.after, member.locale),
        ),
        reply_markup=builder.as_markup(),
    )


@router.callback_query(
    RewardCallback.filter(F.action == RewardAction.CANCEL), F.message.chat.type == ChatType.PRIVATE
)
async def redeem_cancelled(query: CallbackQuery) -> None:
    """Cancel under a confirmation: nothing is redeemed, and the question says so."""
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(
            query.message.html_text + "\n" + _("Cancelled: nothing was redeemed."),
            reply_markup=None,
        )


def redeemed_text(done: Redeemed, locale: str) -> str:
    """What the member reads once a reward is redeemed: where it is, and what they have left."""
    title, points = esc_name(done.reward.title), points_text(done.reward.cost, locale)
    balance = points_text(done.balance, locale)
    if done.coupon_code is not None:
        return _(
            "You redeemed {title} for {points}. Your coupon {code} is in /coupons: use it with "
            "/usecoupon {code}, or with its button when you order. You have {balance} left."
        ).format(title=title, points=points, code=esc(done.coupon_code), balance=balance)
    return _(
        "You redeemed {title} for {points} (redemption #{id}). Our staff will hand it to you "
        "and I will tell you when they have. You have {balance} left."
    ).format(title=title, points=points, id=done.redemption_id, balance=balance)


@router.callback_query(
    RewardCallback.filter(F.action == RewardAction.CONFIRM), F.message.chat.type == ChatType.PRIVATE
)
async def redeem_button(
    query: CallbackQuery,
    callback_data: RewardCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
    clock: Clock,
    i18n: I18n,
    notifier: BackgroundSender,
    after_commit: CommitHook,
) -> None:
    """Confirm under the question: redeems the reward once, however often it is tapped (the
    key is the question's message, so the ledger's unique key refuses a second spend).

    The toast, the edit and the outcome follow the commit, each on its own: none ever makes
    the tap fail (the member must never read "try again" about points already spent)."""
    if query.message is None:
        await query.answer()
        return
    chat_id, message_id = query.message.chat.id, query.message.message_id
    try:
        done = await redeem(
            session,
            reward_id=callback_data.reward_id,
            member_id=member.id,
            key=f"redeem:{member.id}:{chat_id}:{message_id}",
            now=clock(),
        )
    except PointsError as exc:
        await query.answer(points_error_text(exc, settings, locale), show_alert=True)
        return
    after_commit.add(partial(query.answer, _("Redeemed.")))
    # the question loses its buttons; the outcome is a message of its own, sent again after a
    # passing failure (an edit that fails would leave the member without it)
    after_commit.add(
        partial(
            bot.edit_message_reply_markup, chat_id=chat_id, message_id=message_id, reply_markup=None
        )
    )
    notifier.send(chat_id, redeemed_text(done, member.locale))
    if done.fulfilment_id is None:
        return
    staff = await staff_locales(
        session, owner_ids=settings.owner_ids, default_locale=settings.default_locale
    )
    for staff_id, staff_locale in staff:
        if staff_id == member.id:
            continue
        with i18n.use_locale(staff_locale):
            notifier.send(
                staff_id,
                _("🎁 {name} redeemed {title}: hand it over and mark it in /fulfil.").format(
                    name=esc(member.display_name), title=esc_name(done.reward.title)
                ),
            )


async def fulfil_page(
    session: AsyncSession, member: MemberView, settings: HandlerSettings, offset: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A page of the physical rewards to hand over, oldest first, with a button per task that
    names the member; times in the zone the staff member picked (else the brand's)."""
    page = await open_fulfilments(session, limit=PAGE_SIZE, offset=offset)
    if not page.total:
        return _("No reward is waiting to be handed over."), None
    zone = staff_zone(member.timezone, settings.default_timezone)
    lines = [_("<b>Rewards to hand over</b> ({counter})").format(counter=page_counter(page))]
    builder = InlineKeyboardBuilder()
    for task in page.items:
        who = await get_member(session, task.member_id)
        name = who.display_name if who is not None else str(task.member_id)
        lines.append(
            _("#{id} {name}: {title}, redeemed {date}").format(
                id=task.id,
                name=esc_name(name),
                title=esc_name(task.title),
                date=show(task.created_at, zone, reader=member.timezone),
            )
        )
        builder.button(
            text=_("✅ Handed over to {name}: {title}").format(
                name=name[:24], title=task.title[:24]
            ),
            callback_data=FulfilCallback(fulfilment_id=task.id),
        )
    builder.adjust(1)
    return "\n".join(lines), with_page_row(builder, "fulfil", page)


@router.message(Command("fulfil"), PRIVATE, RoleFilter(Role.STAFF, "perks.fulfil"))
async def fulfil_command(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
) -> None:
    """The physical rewards members redeemed and wait for, with a Handed over button each."""
    text, markup = await fulfil_page(session, member, settings, 0)
    await message.answer(text, reply_markup=markup)


@router.callback_query(
    PageCallback.filter(F.name == "fulfil"), RoleFilter(Role.STAFF, "perks.fulfil")
)
async def fulfil_more(
    query: CallbackQuery,
    callback_data: PageCallback,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
) -> None:
    """Back or More under /fulfil."""
    text, markup = await fulfil_page(session, member, settings, callback_data.offset)
    await show_page(query, text, markup)


@router.callback_query(FulfilCallback.filter(), RoleFilter(Role.STAFF, "perks.handover"))
async def handed_over_button(
    query: CallbackQuery,
    callback_data: FulfilCallback,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    after_commit: CommitHook,
    clock: Clock,
    locale: str,
) -> None:
    """✅ Handed over: recorded once and audited; the member is told after the commit and the
    list shows what is still open."""
    try:
        task = await hand_over(
            session, fulfilment_id=callback_data.fulfilment_id, staff_id=member.id, now=clock()
        )
    except FulfilmentError as exc:
        text = _("There is no such reward to hand over.")
        if exc.task is not None:
            by = await get_member(session, exc.task.handed_over_by or 0)
            text = _("{title} was already handed over to its member by {staff}.").format(
                title=exc.task.title, staff=by.display_name if by else "-"
            )
        await query.answer(text, show_alert=True)
        return
    await record_action(
        session,
        actor_id=member.id,
        chat_id=query.message.chat.id if query.message else None,
        action="perks.handover.done",
        allowed=True,
        now=clock(),
        required_role="staff",
        detail=f"fulfilment {task.id} (redemption {task.redemption_id}) to {task.member_id}",
    )
    receiver = await get_member(session, task.member_id)
    name = receiver.display_name if receiver is not None else str(task.member_id)
    if receiver is not None and receiver.started:
        with i18n.use_locale(receiver.locale):
            notifier.send(
                receiver.id,
                _("🎁 Your {title} has been handed over to you. Enjoy!").format(
                    title=esc_name(task.title)
                ),
            )
    after_commit.add(partial(query.answer, _("Marked handed over to {name}.").format(name=name)))
    if isinstance(query.message, Message):
        text, markup = await fulfil_page(session, member, settings, 0)
        after_commit.add(partial(query.message.edit_text, text, reply_markup=markup))


@router.message(Command("reward_add"), PRIVATE, RoleFilter(Role.STAFF, "perks.rewards"))
async def reward_add(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
    clock: Clock,
) -> None:
    """Adds a reward: /reward_add Title | points | stock | coupon CODE (the last two optional);
    the title linted (`!!anyway reason` at the end goes ahead despite findings)."""
    args, reason = split_override(command.args or "")
    parts = [part.strip() for part in args.split("|")]
    usage = _(
        "Send /reward_add Title | points | stock, for example /reward_add Tea cup | 500 | 20. "
        "Add | coupon CODE to give a coupon instead of a thing."
    )
    if not 2 <= len(parts) <= 4 or not parts[0]:
        await message.answer(usage)
        return
    cost = whole_number_arg(parts[1])
    stock_text = parts[2] if len(parts) > 2 else ""
    stock = whole_number_arg(stock_text) if stock_text else None
    template_id = None
    if len(parts) == 4:
        keyword, _sep, code = parts[3].partition(" ")
        template = await template_by_code(session, code) if keyword.lower() == "coupon" else None
        if template is None:
            await message.answer(_("There is no coupon with that code."))
            return
        template_id = template.id
    if cost is None or cost == 0 or (stock_text and stock is None):
        await message.answer(usage)
        return
    cleared = await clear_command(
        message, [parts[0]], extra_words=settings.compliance_extra_words, reason=reason
    )
    if cleared is None:
        return
    try:
        reward = await add_reward(
            session,
            title=parts[0],
            cost=cost,
            stock=stock,
            created_by=member.id,
            coupon_template_id=template_id,
        )
    except PointsError as exc:
        await message.answer(points_error_text(exc, settings, locale))
        return
    await cleared.audit(
        session, actor_id=member.id, action="perks.reward", what=f"#{reward.id}", now=clock()
    )
    await message.answer(
        _("Reward #{id} added: {title} for {points}.").format(
            id=reward.id, title=esc_name(reward.title), points=points_text(cost, member.locale)
        )
    )


@router.message(Command("reward_off"), PRIVATE, RoleFilter(Role.STAFF, "perks.rewards"))
async def reward_off(message: Message, command: CommandObject, session: AsyncSession) -> None:
    """Takes a reward out of the catalog: /reward_off ID."""
    reward_id = whole_number_arg((command.args or "").lstrip("#"))
    if reward_id is None:
        await message.answer(_("Send /reward_off ID with the number of a reward from /rewards."))
        return
    if not await set_reward_active(session, reward_id=reward_id, active=False):
        await message.answer(
            _("There is no reward #{id}. /rewards lists them with their numbers.").format(
                id=reward_id
            )
        )
        return
    await message.answer(_("Reward #{id} is no longer offered.").format(id=reward_id))
