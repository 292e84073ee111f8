"""The group-buy wizard's last buttons: Confirm opens, posts and schedules the group-buy
(or the drop) through the same function as the one-line command; ⚠️ Send anyway asks why the
lint's findings may be ignored; Back or More under the product picker; and the answer to a
wizard button that is not the open question's. Its router comes right after
handlers/groupbuy_wizard.py's: these handlers followed its own in one file, in this order."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import RoleFilter
from handlers.views.groupbuy_open import OpenValues, open_and_post, open_error_text
from handlers.views.groupbuy_wizard import (
    NOT_YOURS,
    PICKER,
    WIZARD,
    GroupBuyDraft,
    GroupBuyWizardAction,
    GroupBuyWizardCallback,
    NewGroupBuy,
    Turn,
    ask,
    card_texts,
    drop_groups,
    new_turn,
    on_current_step,
    prompt,
    reason_covers,
)
from handlers.views.lint import audit_override, claims, findings_lines
from handlers.views.paging import PageCallback
from handlers.views.policy import held_text, opened_text
from handlers.views.text import CardPoster, CommitHook, DeadlineScheduler, HandlerSettings
from handlers.views.wizard import EARLIER_STEP, drop_buttons, read_draft
from models.base import Clock
from services.community import CommunityView
from services.drop import group_pickups
from services.groupbuy import GroupBuyError, parse_deadline
from services.member import MemberView
from services.policy import KIND_DROP, KIND_GROUPBUY, KIND_LEADER, HeldBack
from services.role import Role, is_staff

router = Router(name="groupbuy_wizard_confirm")


@router.callback_query(PageCallback.filter(F.name == PICKER), NewGroupBuy.product)
async def product_page(
    query: CallbackQuery,
    callback_data: PageCallback,
    state: FSMContext,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    locale: str,
    clock: Clock,
    community: CommunityView | None = None,
) -> None:
    """Back or More under the product picker: the same question shows the other products."""
    await query.answer()
    if not isinstance(query.message, Message):
        return
    turn = new_turn(state, session, settings, member, locale, clock, community)
    text, above = await prompt(turn, "product", callback_data.offset)
    back = await WIZARD.enter(state, "product")
    await query.message.edit_text(
        text, reply_markup=WIZARD.keyboard("product", back=back, above=above)
    )


@router.callback_query(PageCallback.filter(F.name == PICKER))
async def stale_product_page(query: CallbackQuery) -> None:
    """Back or More under a picker that is not this user's open question."""
    await query.answer(_("That question is not open any more."), show_alert=True)


async def _kind(turn: Turn, *, drop: bool) -> str:
    """Which promotion the opening counts as (services/policy.py), for its caps."""
    if drop:
        return KIND_DROP
    if await is_staff(turn.session, turn.member.id):
        return KIND_GROUPBUY
    return KIND_LEADER  # a leader's own group-buy in their group: the leader cap


def _nothing_created(restart: str, why: str) -> str:
    """Why Confirm opened nothing (when known), and how to start again."""
    again = _("Nothing was created. Send {command} to start again.").format(command=restart)
    return "\n".join(filter(None, [why, again]))


async def _open_values(
    turn: Turn, draft: GroupBuyDraft, *, drop: bool, chat_ids: list[int]
) -> OpenValues:
    """The group-buy the draft describes, its deadline read now ("24h" counts from Confirm);
    a drop's pickup text for each of its groups."""
    # every step before the last look was answered (or skipped) to reach it
    assert draft.product_id is not None and draft.deadline is not None
    assert draft.min_kind is not None and draft.min_count is not None
    assert draft.stock_cap is not None and draft.limit is not None
    return OpenValues(
        product_id=draft.product_id,
        deadline=parse_deadline(draft.deadline, now=turn.now, timezone=turn.zone),
        min_kind=draft.min_kind,
        min_count=draft.min_count,
        stock_cap=draft.stock_cap,
        per_member_limit=draft.limit,
        tiers=tuple(draft.tiers),
        pickup_point=draft.pickup_point,
        pickup_time=draft.pickup_time,
        pickup_translations=draft.translations if drop else None,
        pickups=(
            await group_pickups(turn.session, chat_ids, given=draft.group_pickups) if drop else None
        ),
        fulfilment=draft.fulfilment,
    )


@router.callback_query(
    GroupBuyWizardCallback.filter(F.action == GroupBuyWizardAction.CONFIRM),
    NewGroupBuy.confirm,
    on_current_step,
)
async def confirm_button(
    query: CallbackQuery,
    state: FSMContext,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    locale: str,
    clock: Clock,
    closer: DeadlineScheduler,
    poster: CardPoster,
    after_commit: CommitHook,
    community: CommunityView | None = None,
) -> None:
    """Opens the group-buy, posts its card(s) and schedules the deadline."""
    draft = await read_draft(state, GroupBuyDraft)
    # the wizard ends before anything is created: a second tap finds no wizard to confirm
    await state.clear()
    drop = draft.scope == "drop"
    # the role is checked again where the group-buy is really opened (refusal answered, audited)
    check = (
        RoleFilter(Role.STAFF, "groupbuy.drop")
        if drop
        else RoleFilter(Role.LEADER, "groupbuy.open")
    )
    if not await check(query, bot, session, settings, member, community, clock):
        return
    await query.answer()
    await drop_buttons(bot, query)
    if query.message is None:
        return
    turn = new_turn(state, session, settings, member, locale, clock, community)
    restart = "/drop" if drop else "/groupbuy"
    found = claims(await card_texts(turn, draft), settings.compliance_extra_words)
    if found and not reason_covers(found, draft):  # the texts changed since the last look
        await query.message.answer(_nothing_created(restart, "\n".join(findings_lines(found))))
        return
    try:
        chat_ids = await drop_groups(turn, draft) if drop else [query.message.chat.id]
        opened = await open_and_post(
            session,
            closer,
            poster,
            after_commit,
            await _open_values(turn, draft, drop=drop, chat_ids=chat_ids),
            opened_by=member.id,
            chat_ids=chat_ids,
            commission_bps=0 if drop else settings.leader_commission_bps,  # drops earn none
            now=turn.now,
            kind=await _kind(turn, drop=drop),
            settings=settings,
        )
    except GroupBuyError as exc:
        await query.message.answer(_nothing_created(restart, open_error_text(exc) or ""))
        return
    except HeldBack as exc:
        await query.message.answer(
            await held_text(session, exc.verdicts, member=member, settings=settings, posted=False)
        )
        return
    gb = opened.gb
    if found:
        await audit_override(
            session,
            actor_id=member.id,
            action="groupbuy.drop" if drop else "groupbuy.open",
            found=found,
            reason=str(draft.override),
            what=f"#{gb.id}",
            now=clock(),
        )
    if drop or opened.scheduled or opened.refused:
        await query.message.answer(
            await opened_text(session, opened, member=member, settings=settings)
        )


@router.callback_query(
    GroupBuyWizardCallback.filter(F.action == GroupBuyWizardAction.OVERRIDE),
    NewGroupBuy.confirm,
    on_current_step,
)
async def override_button(
    query: CallbackQuery,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    locale: str,
    clock: Clock,
    community: CommunityView | None = None,
) -> None:
    """⚠️ Send anyway: asks why the findings may be ignored."""
    await query.answer()
    await drop_buttons(bot, query)
    if query.message is not None:
        turn = new_turn(state, session, settings, member, locale, clock, community)
        await ask(query.message, turn, "override")


@router.callback_query(GroupBuyWizardCallback.filter())
async def stale_button(query: CallbackQuery, raw_state: str | None) -> None:
    """A button of an earlier step, of a wizard that ended, or of someone else's wizard."""
    if WIZARD.step_of(raw_state) is not None:
        await query.answer(_(EARLIER_STEP), show_alert=True)
        return
    await query.answer(_(NOT_YOURS), show_alert=True)
