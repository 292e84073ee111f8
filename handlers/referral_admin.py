"""Staff's side of referrals in private: campaigns (/campaign_new), referrals held for review
(/referrals_held) with their approve and reject buttons, and the program's stats with a chart
(/referral_stats)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal, format_percent
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.chart import bar_chart
from handlers.views.paging import PAGE_SIZE, PageCallback, send_footer, turn_card_page
from handlers.views.perks import points_text
from handlers.views.qrcode import qr_png
from handlers.views.referral import rules_from
from handlers.views.staff_card import audit_decision, decision_keyboard
from handlers.views.stats import staff_period
from handlers.views.text import (
    N_,
    CallbackId,
    HandlerSettings,
    esc,
    esc_name,
    format_money,
)
from models.base import Clock
from services.audit import record_action
from services.community import get_community
from services.member import MemberView
from services.referral import (
    HeldReferral,
    ReferralError,
    ReferralRefusal,
    StatsRow,
    create_campaign,
    deep_link,
    held_referrals,
    program_stats,
    review,
)
from services.role import Role
from services.validation import number
from services.zones import show, staff_zone

router = Router(name="referral_admin")


CAMPAIGN_HELP = N_(
    "Send /campaign_new NAME | welcome=50 reward=200 days=30 code=SPRING26 "
    "(everything after | is optional). The code uses 4-32 letters, digits, _ or -."
)


CAMPAIGN_ERRORS: dict[str, str] = {
    ReferralRefusal.BAD_NAME: CAMPAIGN_HELP,
    ReferralRefusal.BAD_POINTS: N_("Points must be whole numbers from 0 to 1,000,000,000."),
    ReferralRefusal.BAD_CODE: CAMPAIGN_HELP,
    ReferralRefusal.CODE_TAKEN: N_("That code is already in use. Choose another one."),
}


REVIEW_ERRORS: dict[str, str] = {
    ReferralRefusal.NOT_FOUND: N_("There is no such referral."),
    ReferralRefusal.NOT_HELD: N_("That referral was already decided."),
}


class ReferralReviewAction(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ReviewCallback(CallbackData, prefix="rv"):
    """An approve or reject button under a held referral."""

    action: ReferralReviewAction
    invitee: CallbackId


def _campaign_options(text: str) -> dict[str, str] | None:
    options: dict[str, str] = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if not sep or key.lower() not in ("welcome", "reward", "days", "code") or not value:
            return None
        options[key.lower()] = value
    return options


@router.message(Command("campaign_new"), PRIVATE, RoleFilter(Role.STAFF, "referral.campaign"))
async def campaign_new(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Creates a campaign code with its own rewards and expiry, and shows its link."""
    name, _sep, rest = (command.args or "").partition("|")
    options = _campaign_options(rest)
    numbers = {"welcome": 0, "reward": 0, "days": 0}
    if options is None:
        await message.answer(_(CAMPAIGN_HELP))
        return
    for key in numbers:
        found = number(options.get(key, "0"), prefix="", maximum=10**10 - 1)
        if found is None:
            await message.answer(_(CAMPAIGN_HELP))
            return
        numbers[key] = found
    if numbers["days"] > 3660:
        await message.answer(_(CAMPAIGN_HELP))
        return
    expires = clock() + timedelta(days=numbers["days"]) if numbers["days"] else None
    try:
        async with session.begin_nested():
            campaign = await create_campaign(
                session,
                name=name,
                created_by=member.id,
                welcome_points=numbers["welcome"],
                reward_points=numbers["reward"],
                expires_at=expires,
                code=options.get("code"),
            )
    except ReferralError as exc:
        await message.answer(_(CAMPAIGN_ERRORS.get(exc.reason, CAMPAIGN_HELP)))
        return
    await record_action(
        session,
        actor_id=member.id,
        chat_id=message.chat.id,
        action="referral.campaign_created",
        allowed=True,
        now=clock(),
        required_role="staff",
        detail=f"campaign {campaign.id} code {campaign.code}",
    )
    me = await bot.me()
    link = deep_link(me.username or "", campaign.code)
    until = (
        show(
            campaign.expires_at,
            staff_zone(member.timezone, settings.default_timezone),
            reader=member.timezone,
            pattern="%Y-%m-%d",
        )
        if campaign.expires_at
        else _("no expiry")
    )
    await message.answer(
        _(
            "Campaign <b>{name}</b> created.\nCode: <code>{code}</code>\nLink: {link}\n"
            "Welcome gift: {welcome}. First-order reward for the newcomer: {reward}. "
            "Valid until: {until}."
        ).format(
            name=esc_name(campaign.name),
            code=campaign.code,
            link=link,
            welcome=points_text(campaign.welcome_points, member.locale),
            reward=points_text(campaign.reward_points, member.locale),
            until=until,
        )
    )
    await message.answer_photo(
        BufferedInputFile(qr_png(link), filename=f"campaign_{campaign.code}.png"),
        caption=_("Scan to join: {link}").format(link=link),
    )


def held_line(held: HeldReferral, zone: str, reader: str | None) -> str:
    """A held referral for staff, its time in `zone` (named when it is not `reader`'s)."""
    source = (
        _("campaign {name}").format(name=esc(held.campaign))
        if held.campaign is not None
        else esc(held.referrer_name)
    )
    line = _("{invitee} invited by {source} (code {code}, {when})").format(
        invitee=esc(held.invitee_name),
        source=source,
        code=held.code,
        when=show(held.created_at, zone, reader=reader),
    )
    if held.first_order_id is not None:
        line += " · " + _("first order #{id} paid").format(id=held.first_order_id)
    return line


def review_keyboard(held: HeldReferral) -> InlineKeyboardMarkup:
    return decision_keyboard(
        _("✅ Approve"),
        ReviewCallback(action=ReferralReviewAction.APPROVE, invitee=held.invitee_id),
        _("❌ Reject"),
        ReviewCallback(action=ReferralReviewAction.REJECT, invitee=held.invitee_id),
    )


@router.message(Command("referrals_held"), PRIVATE, RoleFilter(Role.STAFF, "referral.held"))
async def referrals_held(
    message: Message, session: AsyncSession, member: MemberView, settings: HandlerSettings
) -> None:
    """Lists referrals held for review (bursts through one code), each with its buttons."""
    page = await held_referrals(session, limit=PAGE_SIZE)
    if not page.total:
        await message.answer(_("No referral is waiting for review."))
        return
    await message.answer(_("Held for review: sign-ups that came in a burst through one code."))
    await send_held_cards(message, session, 0, member, settings)


async def send_held_cards(
    target: Message,
    session: AsyncSession,
    offset: int,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """A page of the held referrals, one message each with its buttons; when more wait, a line
    that counts them with More."""
    page = await held_referrals(session, limit=PAGE_SIZE, offset=offset)
    for item in page.items:
        await target.answer(
            held_line(
                item, staff_zone(member.timezone, settings.default_timezone), member.timezone
            ),
            reply_markup=review_keyboard(item),
        )
    await send_footer(target, _("Held for review: {counter}"), "referrals_held", page)


@router.callback_query(
    PageCallback.filter(F.name == "referrals_held"), RoleFilter(Role.STAFF, "referral.held")
)
async def referrals_held_more(
    query: CallbackQuery,
    callback_data: PageCallback,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """More (or Back) under /referrals_held: the next held referrals come as new messages."""
    await query.answer()
    if await turn_card_page(query.message):
        assert isinstance(query.message, Message)
        await send_held_cards(query.message, session, callback_data.offset, member, settings)


@router.callback_query(ReviewCallback.filter(), RoleFilter(Role.STAFF, "referral.review"))
async def review_button(
    query: CallbackQuery,
    callback_data: ReviewCallback,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Approves or rejects a held referral; the decision is audited and shown in place."""
    approve = callback_data.action == ReferralReviewAction.APPROVE
    try:
        async with session.begin_nested():
            outcome = await review(
                session,
                invitee_id=callback_data.invitee,
                approve=approve,
                staff_id=member.id,
                now=clock(),
                rules=rules_from(settings),
            )
    except ReferralError as exc:
        await query.answer(
            _(REVIEW_ERRORS.get(exc.reason, REVIEW_ERRORS[ReferralRefusal.NOT_FOUND])),
            show_alert=True,
        )
        return
    await audit_decision(
        session,
        query,
        member,
        action="referral.approve" if approve else "referral.reject",
        now=clock(),
        detail=f"invitee {outcome.invitee_id}: {outcome.status}",
    )
    text = _("Approved.") if approve else _("Rejected.")
    await query.answer(text)
    if query.message is not None and isinstance(query.message, Message):
        await query.message.edit_text(
            f"{query.message.html_text}\n<b>{esc(text)}</b>", reply_markup=None
        )


def stats_line(row: StatsRow, locale: str) -> str:
    conversion = (
        format_percent(row.conversion, "#,##0.#%", locale=locale)
        if row.conversion is not None
        else "—"
    )
    viral = (
        format_decimal(row.viral_coefficient, "#,##0.##", locale=locale)
        if row.viral_coefficient is not None
        else "—"
    )
    line = _(
        "invited {invited}, qualified {qualified}, conversion {conversion}, "
        "reward cost {points}, viral coefficient {viral}"
    ).format(
        invited=format_decimal(row.invited, locale=locale),
        qualified=format_decimal(row.qualified, locale=locale),
        conversion=conversion,
        points=points_text(row.reward_points, locale),
        viral=viral,
    )
    for asset, amount in sorted(row.commission.items()):
        line += "; " + _("commission {amount}").format(amount=format_money(amount, asset, locale))
    return line


@router.message(Command("referral_stats"), PRIVATE, RoleFilter(Role.STAFF, "referral.stats"))
async def referral_stats(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Shows whether the program pays off: overall, per campaign and per group."""
    period = await staff_period(
        message,
        command.args,
        member,
        settings,
        clock,
        _(
            "I could not read that date range. Send /referral_stats for the last 30 days, "
            "/referral_stats 7d, or /referral_stats 2026-11-01 2026-11-30."
        ),
    )
    if period is None:
        return
    total, campaigns, communities = await program_stats(session, start=period.start, end=period.end)
    locale = member.locale
    lines = [
        _("<b>Referrals from {first} to {last}</b>").format(
            first=period.first.isoformat(), last=period.last.isoformat()
        ),
        _("All: {figures}").format(figures=stats_line(total, locale)),
    ]
    for row in campaigns:
        lines.append(
            _("Campaign {name}: {figures}").format(
                name=esc(row.label), figures=stats_line(row, locale)
            )
        )
    titles = []
    for row in communities:
        group = await get_community(session, row.key) if row.key is not None else None
        titles.append(group.title if group is not None else str(row.key))
        lines.append(
            _("Group {title}: {figures}").format(
                title=esc(titles[-1]), figures=stats_line(row, locale)
            )
        )
    await message.answer("\n".join(lines))
    chart, caption = stats_chart(
        f"Referrals {period.first.isoformat()} - {period.last.isoformat()}",
        total,
        [(row.label, row) for row in campaigns],
        list(zip(titles, communities, strict=True)),
    )
    await message.answer_photo(
        BufferedInputFile(chart, filename="referral_stats.png"), caption=caption
    )


CHART_ROWS = 6  # campaigns, and groups, drawn at most (the busiest: the text lists them all)


CAPTION_LIMIT = 1000  # Telegram takes 1024 characters of caption, counted after HTML parsing


def stats_chart(
    title: str,
    total: StatsRow,
    campaigns: list[tuple[str, StatsRow]],
    communities: list[tuple[str, StatsRow]],
) -> tuple[bytes, str]:
    """Invited and qualified per slice as a PNG bar chart, with a caption naming the slices.

    The image holds only Latin text and numbers (C1, G1...): a host may lack CJK fonts, so
    names, which may be Chinese, go in the caption, in the reader's language.
    """
    labels, rows, legend = ["All"], [total], []
    for prefix, slices in (("C", campaigns), ("G", communities)):
        for index, (name, row) in enumerate(slices[:CHART_ROWS], start=1):
            labels.append(f"{prefix}{index}")
            rows.append(row)
            legend.append(f"{prefix}{index}: {esc(name[:40])}")
    chart = bar_chart(
        title,
        labels,
        [("invited", [r.invited for r in rows]), ("qualified", [r.qualified for r in rows])],
    )
    caption = [_("Blue bars: invited. Orange bars: qualified. C: campaigns, G: groups.")]
    for line in legend:
        if len("\n".join([*caption, line])) > CAPTION_LIMIT:
            break  # the text message above names every slice anyway
        caption.append(line)
    return chart, "\n".join(caption)
