"""Paid membership in chat: staff's /membership_plan_add, /membership_plans and
/membership_plan_off; members' /membership with its Subscribe and Cancel buttons; and the
Telegram side of a Stars subscription (its pre-checkout, every successful_payment of it, and
the `subscription` update)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    BotSubscriptionUpdated,
    CallbackQuery,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.membership import (
    PLAN_REFUSALS,
    MembershipAction,
    MembershipCallback,
    cancel_subscription,
    canceled_text,
    failed_text,
    grant_text,
    membership_screen,
    plan_added_text,
    plan_line,
    plan_name,
    reenabled_text,
    refusal_text,
    renewed_text,
    started_text,
    switched_off_notices,
    switched_off_text,
)
from handlers.views.text import (
    N_,
    BackgroundSender,
    CommitHook,
    HandlerSettings,
    RefundWaker,
    esc,
    format_money,
    later,
)
from models.base import Clock
from services.ledger import STARS
from services.member import MemberView
from services.membership import (
    PAID_AGAIN,
    PAID_REFUSED,
    PAID_STARTED,
    PAYLOAD_PREFIX,
    PERIOD_SECONDS,
    MembershipError,
    add_plan,
    cancel_membership,
    check_checkout,
    get_plan,
    list_plans,
    parse_grant,
    parse_stars,
    payload_of,
    subscription_changed,
    switch_off,
    take_membership_payment,
)
from services.role import Role
from services.validation import NumberRefused, number
from services.zones import private_zone

log = logging.getLogger(__name__)
router = Router(name="membership")
STAFF_ACTION = "membership.plans"

ADD_USAGE = N_(
    "Send /membership_plan_add NAME | STARS | GRANT, e.g. /membership_plan_add Gold club | 300 | "
    "tier=Gold, or /membership_plan_add VIP circle | 500 | level=vip. STARS: the price of 30 "
    "days, 1 to 10000. GRANT: tier=NAME (a tier of /tiers) or level=vip / level=core (the "
    "groups that admit paid members)."
)
OFF_USAGE = N_("Send /membership_plan_off ID, e.g. /membership_plan_off 1 (see /membership_plans).")


def _plan_refusal(exc: MembershipError) -> str:
    """Why staff's plan command was refused, naming the word it could not take."""
    return _(PLAN_REFUSALS[exc.reason]).format(word=esc(exc.detail))


@router.message(Command("membership_plan_add"), PRIVATE, RoleFilter(Role.STAFF, STAFF_ACTION))
async def plan_add_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
) -> None:
    """Adds a membership plan for sale, or says how to."""
    parts = [part.strip() for part in (command.args or "").split("|")]
    if len(parts) != 3 or not all(parts):
        await message.answer(_(ADD_USAGE))
        return
    try:
        stars = parse_stars(parts[1])
        tier_rank, level = await parse_grant(session, parts[2])
        plan = await add_plan(
            session,
            name=parts[0],
            stars=stars,
            tier_rank=tier_rank,
            level=level,
            actor_id=member.id,
            now=clock(),
        )
    except MembershipError as exc:
        await message.answer(_plan_refusal(exc))
        return
    await message.answer(plan_added_text(plan, member.locale))


@router.message(Command("membership_plans"), PRIVATE, RoleFilter(Role.STAFF, STAFF_ACTION))
async def plans_command(message: Message, session: AsyncSession, member: MemberView) -> None:
    """Lists every plan with its active members, for sale or switched off."""
    plans = await list_plans(session)
    if not plans:
        await message.answer(_("No membership plans yet. Add one with /membership_plan_add."))
        return
    lines = [_("<b>Membership plans</b>")]
    for plan in plans:
        state = _("for sale") if plan.active else _("switched off")
        lines.append(
            _("#{id} {line} · {state} · {members} active").format(
                id=plan.id, line=plan_line(plan, member.locale), state=state, members=plan.members
            )
        )
    await message.answer("\n".join(lines))


@router.message(Command("membership_plan_off"), PRIVATE, RoleFilter(Role.STAFF, STAFF_ACTION))
async def plan_off_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    after_commit: CommitHook,
    bot: Bot,
    i18n: I18n,
    clock: Clock,
) -> None:
    """Stops selling a plan; its members keep it to the end of the period they paid, are told,
    and their subscriptions are cancelled (after commit) so Telegram charges them no more."""
    word = (command.args or "").strip().removeprefix("#")
    try:
        plan_id = number(word, prefix="")
    except NumberRefused:
        plan_id = None
    if plan_id is None:
        await message.answer(_(OFF_USAGE))
        return
    try:
        off = await switch_off(
            session,
            plan_id=plan_id,
            actor_id=member.id,
            now=clock(),
            default_locale=settings.default_locale,
        )
    except MembershipError as exc:
        await message.answer(_plan_refusal(exc))
        return
    for member_id, charge_id, text in await switched_off_notices(
        session, off, default_timezone=settings.default_timezone, i18n=i18n
    ):
        after_commit.add(cancel_subscription(bot, member_id, charge_id))
        notifier.send(member_id, text)
    await message.answer(switched_off_text(off.plan))


@router.message(Command("membership"), PRIVATE)
async def membership_command(
    message: Message, session: AsyncSession, member: MemberView, settings: HandlerSettings
) -> None:
    """Shows the member's memberships and the plans they can subscribe to."""
    text, markup = await membership_screen(session, member, settings)
    await message.answer(text, reply_markup=markup)


@router.callback_query(MembershipCallback.filter(F.action == MembershipAction.BUY))
async def subscribe_pressed(
    query: CallbackQuery,
    callback_data: MembershipCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
) -> None:
    """Sends the member a subscription invoice link for the plan (30 days, in Stars)."""
    plan = await get_plan(session, callback_data.plan_id)
    reason = await check_checkout(
        session,
        payload=payload_of(callback_data.plan_id),
        member_id=member.id,
        currency=STARS,
        amount=plan.stars if plan is not None else 0,
    )
    if reason is not None or plan is None:
        await query.answer(refusal_text(reason or "unknown", plan), show_alert=True)
        return
    link = await bot.create_invoice_link(
        title=plan.name,
        description=_("Membership {plan}: {grant}, renewed every 30 days.").format(
            plan=plan.name, grant=grant_text(plan)
        ),
        payload=payload_of(plan.id),
        currency=STARS,
        prices=[LabeledPrice(label=plan.name, amount=plan.stars)],
        subscription_period=PERIOD_SECONDS,
    )
    await query.answer()
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("Pay {amount} a month").format(
            amount=format_money(plan.stars, STARS, member.locale)
        ),
        url=link,
    )
    await bot.send_message(
        member.id,
        _("Subscribe to {plan} here. Telegram renews it every 30 days; cancel any time.").format(
            plan=plan_name(plan)
        ),
        reply_markup=builder.as_markup(),
    )


@router.callback_query(MembershipCallback.filter(F.action == MembershipAction.CANCEL))
async def cancel_pressed(
    query: CallbackQuery,
    callback_data: MembershipCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Stops the renewals (committed first, then Telegram is asked) and says when it ends."""
    try:
        membership = await cancel_membership(
            session, member_id=member.id, plan_id=callback_data.plan_id, now=clock()
        )
    except MembershipError as exc:
        await query.answer(_(PLAN_REFUSALS[exc.reason]), show_alert=True)
        return
    zone = await private_zone(
        session, member_id=member.id, own=member.timezone, default=settings.default_timezone
    )
    text = canceled_text(membership, zone, member.locale)
    try:  # the update's transaction commits before this first call to Telegram
        await bot.edit_user_star_subscription(
            user_id=member.id,
            telegram_payment_charge_id=membership.subscription_charge_id,
            is_canceled=True,
        )
    except TelegramAPIError as exc:
        log.warning("cancelling subscription of membership %s failed: %s", membership.id, exc)
    await query.answer()
    await bot.send_message(member.id, text)


@router.pre_checkout_query(F.invoice_payload.startswith(PAYLOAD_PREFIX))
async def membership_pre_checkout(
    query: PreCheckoutQuery, session: AsyncSession, i18n: I18n, member: MemberView
) -> None:
    """Lets Telegram take the first payment only for a plan still sold, at its price, that the
    member does not hold already."""
    reason = await check_checkout(
        session,
        payload=query.invoice_payload,
        member_id=member.id,
        currency=query.currency,
        amount=query.total_amount,
    )
    if reason is None:
        await query.answer(ok=True)
        return
    plan = await get_plan(session, int(query.invoice_payload.removeprefix(PAYLOAD_PREFIX) or 0))
    with i18n.use_locale(member.locale):
        text = refusal_text(reason, plan)
    await query.answer(ok=False, error_message=_strip_tags(text))


def _strip_tags(text: str) -> str:
    """The payment window shows plain text: the plan's name without its bold tags."""
    return text.replace("<b>", "").replace("</b>", "")


@router.message(F.successful_payment.invoice_payload.startswith(PAYLOAD_PREFIX))
async def membership_paid(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    refunder: RefundWaker,
    after_commit: CommitHook,
    bot: Bot,
    clock: Clock,
) -> None:
    """Books a subscription period once per charge (the first starts the membership, each
    renewal extends it); a payment that cannot be kept goes back and its subscription is
    cancelled. The member is told once it committed."""
    payment = message.successful_payment
    assert payment is not None
    expires = payment.subscription_expiration_date
    paid = await take_membership_payment(
        session,
        payload=payment.invoice_payload,
        member_id=member.id,
        currency=payment.currency,
        amount=payment.total_amount,
        charge_id=payment.telegram_payment_charge_id,
        first=bool(payment.is_first_recurring) or not payment.is_recurring,
        expires_at=datetime.fromtimestamp(expires, UTC) if expires else None,
        now=clock(),
        default_locale=settings.default_locale,
        tier_currency=settings.tier_measure,
    )
    if paid.kind == PAID_AGAIN:
        log.info("membership payment %s was already booked", payment.telegram_payment_charge_id)
        return
    if paid.cancel is not None:
        user_id, charge_id = paid.cancel
        after_commit.add(cancel_subscription(bot, user_id, charge_id))
    if paid.kind == PAID_REFUSED:
        notifier.send(member.id, refusal_text(paid.refusal, paid.plan))
        after_commit.add(later(refunder.wake))  # the refunder sends the Stars back and says so
        return
    assert paid.membership is not None
    zone = await private_zone(
        session, member_id=member.id, own=member.timezone, default=settings.default_timezone
    )
    if paid.kind == PAID_STARTED:
        notifier.send(member.id, started_text(paid.membership, zone, member.locale))
    else:
        notifier.send(member.id, renewed_text(paid.membership, paid.amount, zone, member.locale))


@router.subscription()
async def subscription_updated(
    update: BotSubscriptionUpdated,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    clock: Clock,
) -> None:
    """Follows the member's subscription: cancelled, turned back on, or a renewal that failed
    (which ends the membership at once when its period is over)."""
    news = await subscription_changed(
        session,
        payload=update.invoice_payload,
        member_id=update.user.id,
        state=update.state,
        now=clock(),
        default_locale=settings.default_locale,
        tier_currency=settings.tier_measure,
    )
    if news is None:
        return
    zone = await private_zone(
        session, member_id=member.id, own=member.timezone, default=settings.default_timezone
    )
    membership, locale = news.membership, news.locale
    if news.state == "canceled":
        text = canceled_text(membership, zone, locale)
    elif news.state == "active":
        text = reenabled_text(membership, zone, locale)
    else:
        text = failed_text(membership, news.lapsed, zone, locale)
    notifier.send(update.user.id, text)
