"""Product trials (体验官): staff's /trial_new and /trial, the invitation's Accept and Decline,
and the ambassador's report in private (a rating per aspect with buttons, words, photos, and the
consent to share it as a review marked as a free trial)."""

from __future__ import annotations

from functools import partial

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from bot.transactions import UnitOfWork
from handlers.filters import PRIVATE, RoleFilter
from handlers.views.text import N_, BackgroundSender, HandlerSettings, esc, esc_name, quoted
from handlers.views.trial import (
    ERRORS,
    TrialAction,
    TrialCallback,
    consent_keyboard,
    created_text,
    done_keyboard,
    invitations,
    rating_keyboard,
    reports_csv,
    summary_text,
    trial_line,
)
from handlers.views.wizard import Draft, read_draft, save_draft
from models.base import Clock
from models.trial import TRIAL_MAX_PHOTOS
from services.audit import record_action
from services.errors import Refused
from services.member import MemberView
from services.parsing import split_option
from services.role import Role
from services.trial import (
    TrialError,
    TrialRefusal,
    answer_invite,
    attach_report_photo,
    list_trials,
    new_trial,
    open_reports,
    report_rows,
    report_task,
    share_report,
    submit_report,
    trial_summary,
)
from services.validation import number

router = Router(name="trial")

USAGE = N_(
    "Create a trial with one line:\n/trial_new PRODUCT[:VARIANT] places=N due=14d "
    "invite=WHO aspects=A,B\nWHO is any of promoters (NPS 9-10), adopted (suggestions "
    "adopted), referrers (top inviters), ambassadors (good reporters before), tier:gold, or "
    "@username, separated by commas.\nFor example: /trial_new 3 places=10 due=14d "
    "invite=promoters,adopted aspects=taste,packaging"
)


class TrialReport(StatesGroup):
    """The ambassador's report in private: a rating per aspect, words, photos, consent."""

    rating = State()
    words = State()
    photos = State()


class TrialReportDraft(Draft):
    """The report's draft: the trial, its aspects, and the ratings given so far."""

    trial_id: int = 0  # 0: none (/report or the reminder's button sets it)
    aspects: list[str] = Field(default_factory=list)  # rated in this order
    index: int = 0  # the aspect asked now
    ratings: dict[str, int] = Field(default_factory=dict)  # aspect: 1-5


# a report refused before the trial goods arrived names the order, so it has its own message
NOT_RECEIVED = N_(
    "Please pick up your free trial order #{order} first (a delivery counts once it is "
    "shipped): the report comes after you have tried the product. See /orders."
)


def _error(exc: Refused) -> str:
    if exc.reason == TrialRefusal.NOT_RECEIVED:
        return _(NOT_RECEIVED).format(order=esc(exc.detail))
    return _(ERRORS.get(exc.reason, ERRORS[TrialRefusal.NO_TRIAL])).format(part=quoted(exc.detail))


@router.message(Command("trial_new"), PRIVATE, RoleFilter(Role.STAFF, "trial.create"))
async def trial_new(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    locale: str,
    i18n: I18n,
    notifier: BackgroundSender,
) -> None:
    """Staff create a trial in one line; the candidates are invited in private once committed."""
    words = (command.args or "").split()
    if not words:
        await message.answer(_(USAGE))
        return
    product_text, _sep, variant = words[0].replace("：", ":").partition(":")
    product_id = number(product_text)
    options: dict[str, str] = {}
    last = ""
    for word in words[1:]:
        option = split_option(word)
        if option is None and last:  # "invite=promoters, adopted" typed with a space
            options[last] += " " + word
            continue
        if option is None or product_id is None:
            await message.answer(_(USAGE))
            return
        last = option[0]
        options[last] = option[1]
    if product_id is None or not {"places", "invite", "aspects"} <= options.keys():
        await message.answer(_(USAGE))
        return
    now = clock()
    timezone = member.timezone or settings.default_timezone
    try:
        created = await new_trial(
            session,
            product_id=product_id,
            variant=variant,
            options=options,
            actor_id=member.id,
            timezone=timezone,
            now=now,
        )
    except TrialError as exc:
        await message.answer(_error(exc))
        return
    for member_id, text, markup in invitations(created, i18n, settings.default_timezone):
        notifier.send(member_id, text, reply_markup=markup)
    await message.answer(
        created_text(created.trial, len(created.invitees), created.unreachable, locale, timezone)
    )


@router.message(Command("trial"), PRIVATE, RoleFilter(Role.STAFF, "trial.report"))
async def trial_reports(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    locale: str,
) -> None:
    """Staff read a trial's reports as a set: the summary, then every report as a CSV file;
    without an id, the latest trials."""
    timezone = member.timezone or settings.default_timezone
    args = (command.args or "").strip().lstrip("#")
    if not args:
        trials = await list_trials(session)
        if not trials:
            await message.answer(_("No trials yet. Create one with /trial_new."))
            return
        lines = [trial_line(t, locale, timezone) for t in trials]
        await message.answer(
            "\n".join([_("Trials, newest first (send /trial ID for one):"), *lines])
        )
        return
    trial_id = number(args)
    try:
        if trial_id is None:
            raise TrialError(TrialRefusal.NO_TRIAL, args)
        summary = await trial_summary(session, trial_id)
    except TrialError as exc:
        await message.answer(_error(exc))
        return
    rows = await report_rows(session, trial_id)
    await record_action(
        session,
        actor_id=member.id,
        chat_id=None,
        action="trial.report",
        allowed=True,
        now=clock(),
        detail=f"trial #{trial_id}",
    )
    await message.answer(summary_text(summary, locale, timezone))
    if rows:
        await message.answer_document(
            BufferedInputFile(reports_csv(summary.trial, rows), filename=f"trial_{trial_id}.csv"),
            caption=_("Trial #{id}: every invitation and report.").format(id=trial_id),
        )


def _drop_buttons(query: CallbackQuery, bot: Bot, after_commit: UnitOfWork) -> None:
    """Once committed, the buttons under the message tapped go: it was answered."""
    if query.message is not None:
        after_commit.add(
            partial(
                bot.edit_message_reply_markup,
                chat_id=query.from_user.id,
                message_id=query.message.message_id,
                reply_markup=None,
            )
        )


@router.callback_query(
    TrialCallback.filter(F.action.in_({TrialAction.ACCEPT, TrialAction.DECLINE}))
)
async def answer_button(
    query: CallbackQuery,
    callback_data: TrialCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
    after_commit: UnitOfWork,
) -> None:
    """Accept or Decline under an invitation: the first to accept take the places."""
    accept = callback_data.action == TrialAction.ACCEPT
    try:
        answer = await answer_invite(
            session,
            trial_id=callback_data.trial_id,
            member_id=member.id,
            accept=accept,
            now=clock(),
        )
    except TrialError as exc:
        await query.answer(_error(exc), show_alert=True)
        return
    title = esc_name(answer.trial.title)
    if not accept:
        text = _("No problem: you declined the trial of {title}. Thank you for answering.").format(
            title=title
        )
    elif answer.order is None:
        text = _(
            "Sorry, every place in the trial of {title} was taken before your answer. We will "
            "think of you for the next one."
        ).format(title=title)
    else:
        text = _(
            "Welcome aboard, ambassador! Your free trial order #{order} of {title} is ready: "
            "see it in /orders, with its pickup code (or delivery, as usual). Nothing to pay. "
            "Send /report when you have tried it."
        ).format(order=answer.order.id, title=title)
    after_commit.add(partial(query.answer))
    _drop_buttons(query, bot, after_commit)
    after_commit.add(partial(bot.send_message, member.id, text))


# ------------------------------------------------------------------------- the report ------


async def _ask_rating(bot: Bot, chat_id: int, draft: TrialReportDraft) -> None:
    aspects, index = draft.aspects, draft.index
    await bot.send_message(
        chat_id,
        _("How do you rate its {aspect}? ({n} of {total})").format(
            aspect=f"<b>{esc(aspects[index])}</b>", n=index + 1, total=len(aspects)
        ),
        reply_markup=rating_keyboard(draft.trial_id),
    )


async def _start_report(
    bot: Bot, session: AsyncSession, state: FSMContext, member: MemberView, trial_id: int
) -> str | None:
    """Begin the report on a trial: the first rating question; a refusal's text otherwise."""
    try:
        task = await report_task(session, trial_id=trial_id, member_id=member.id)
    except TrialError as exc:
        return _error(exc)
    if task.reported:
        return _(ERRORS["reported"])
    draft = TrialReportDraft(trial_id=trial_id, aspects=list(task.trial.aspects))
    await state.clear()  # a report begun before starts again
    await state.set_state(TrialReport.rating)
    await save_draft(state, draft)
    await bot.send_message(
        member.id,
        _("Your report on {title}: first a rating for each aspect.").format(
            title=esc_name(task.trial.title)
        ),
    )
    await _ask_rating(bot, member.id, draft)
    return None


@router.message(Command("report"), PRIVATE)
async def report_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    state: FSMContext,
) -> None:
    """The ambassador starts their report: /report, or /report ID when several are open."""
    trial_id = number((command.args or "").strip().lstrip("#"))
    if trial_id is None:
        waiting = await open_reports(session, member_id=member.id)
        if not waiting:
            await message.answer(_("You have no trial report to write now."))
            return
        trial_id = waiting[0].id
    refused = await _start_report(bot, session, state, member, trial_id)
    if refused:
        await message.answer(refused)


@router.callback_query(TrialCallback.filter(F.action == TrialAction.REPORT))
async def report_button(
    query: CallbackQuery,
    callback_data: TrialCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    state: FSMContext,
) -> None:
    """📝 Write my report under a reminder."""
    refused = await _start_report(bot, session, state, member, callback_data.trial_id)
    await query.answer(refused, show_alert=bool(refused))


@router.callback_query(TrialCallback.filter(F.action == TrialAction.RATE), TrialReport.rating)
async def rate_button(
    query: CallbackQuery, callback_data: TrialCallback, bot: Bot, state: FSMContext
) -> None:
    """A rating button: the next aspect, or the words once every aspect is rated."""
    draft = await read_draft(state, TrialReportDraft)
    if draft.trial_id != callback_data.trial_id or not 1 <= callback_data.value <= 5:
        await query.answer()
        return
    aspects = draft.aspects
    draft.ratings[aspects[draft.index]] = callback_data.value
    draft.index += 1
    await save_draft(state, draft)
    await query.answer("⭐" * callback_data.value)
    if query.message is not None:
        await bot.edit_message_reply_markup(
            chat_id=query.from_user.id, message_id=query.message.message_id, reply_markup=None
        )
    if draft.index < len(aspects):
        await _ask_rating(bot, query.from_user.id, draft)
        return
    await state.set_state(TrialReport.words)
    await bot.send_message(
        query.from_user.id,
        _("Thank you! Now a few words: what did you like, what would you change?"),
    )


@router.message(TrialReport.words, PRIVATE, F.text, ~F.text.startswith("/"))
async def report_words(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    state: FSMContext,
    clock: Clock,
) -> None:
    """The report's words: the report is saved; photos may follow."""
    draft = await read_draft(state, TrialReportDraft)
    try:
        await submit_report(
            session,
            trial_id=draft.trial_id,
            member_id=member.id,
            ratings=draft.ratings,
            text=message.text or "",
            now=clock(),
        )
    except TrialError as exc:
        await state.clear()
        await message.answer(_error(exc))
        return
    await state.set_state(TrialReport.photos)
    await message.answer(
        _(
            "Report saved. Send up to 5 photos of the product now, then tap Done (or Done "
            "right away)."
        ),
        reply_markup=done_keyboard(draft.trial_id),
    )


@router.message(TrialReport.photos, PRIVATE, F.photo)
async def report_photo(
    message: Message, session: AsyncSession, member: MemberView, state: FSMContext, clock: Clock
) -> None:
    """A photo of the report."""
    draft = await read_draft(state, TrialReportDraft)
    assert message.photo is not None
    try:
        photos = await attach_report_photo(
            session,
            trial_id=draft.trial_id,
            member_id=member.id,
            file_id=message.photo[-1].file_id,
            now=clock(),
        )
    except TrialError as exc:
        await message.answer(_error(exc))
        return
    await message.answer(
        _("Photo added ({photos}/{most}). Send more, or tap Done.").format(
            photos=photos, most=TRIAL_MAX_PHOTOS
        ),
        reply_markup=done_keyboard(draft.trial_id),
    )


@router.message(TrialReport.photos, PRIVATE, ~F.photo, ~F.text.startswith("/"))
async def report_not_photo(message: Message) -> None:
    """Anything but a photo while photos are asked for (a file, a video, words)."""
    await message.answer(
        _("A report takes photos only (sent as photos, not files). Send one, or tap Done.")
    )


@router.callback_query(TrialCallback.filter(F.action == TrialAction.DONE), TrialReport.photos)
async def done_button(
    query: CallbackQuery, callback_data: TrialCallback, bot: Bot, state: FSMContext
) -> None:
    """Done: the consent question, asked once the report is complete."""
    await state.clear()
    await query.answer()
    await bot.send_message(
        query.from_user.id,
        _(
            "Thank you for your report! May we share it as a review of the product? It would "
            "say that you received the product as a free trial. Only if you tap yes."
        ),
        reply_markup=consent_keyboard(callback_data.trial_id),
    )


@router.callback_query(TrialCallback.filter(F.action.in_({TrialAction.SHARE, TrialAction.KEEP})))
async def consent_button(
    query: CallbackQuery,
    callback_data: TrialCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
    after_commit: UnitOfWork,
) -> None:
    """The ambassador's consent: the report becomes a review marked as a free trial (moderated
    as every review), or stays with the brand."""
    _drop_buttons(query, bot, after_commit)
    if callback_data.action == TrialAction.KEEP:
        after_commit.add(partial(query.answer, _("Kept for the brand only. Thank you!")))
        return
    try:
        await share_report(
            session, trial_id=callback_data.trial_id, member_id=member.id, now=clock()
        )
    except TrialError as exc:
        await query.answer(_error(exc), show_alert=True)
        return
    after_commit.add(
        partial(
            query.answer,
            _("Thank you! Your review shows on the product once the brand approves it."),
        )
    )


@router.callback_query(TrialCallback.filter(F.action.in_({TrialAction.RATE, TrialAction.DONE})))
async def stale_button(query: CallbackQuery) -> None:
    """A rating or Done button of a report no longer being written."""
    await query.answer(_("Send /report to write your trial report."), show_alert=True)
