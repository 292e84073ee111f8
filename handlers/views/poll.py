"""A co-creation poll's result as its readers see it: the text in their language and a chart
without words (the staff command /poll_close and the closing job both post it).
Also posting a poll and reading the times staff type (/poll and the poll wizard), and the poll
wizard's draft with its summary and the ambassadors' early copies."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.methods import SendMessage, SendPhoto
from aiogram.types import (
    BufferedInputFile,
    InputPollOption,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_percent
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.chart import bar_chart
from handlers.views.lint import reason_covers
from handlers.views.text import (
    CAPTION_LIMIT,
    N_,
    Calls,
    Effect,
    HandlerSettings,
    counted,
    esc,
    unreadable_text,
    visible_length,
)
from handlers.views.wizard import Draft
from services.community import get_community
from services.compliance import Finding
from services.member import MemberView
from services.poll import (
    ClosedPoll,
    PollRefusal,
    PollResult,
    PollView,
    PostView,
    StoppedCopy,
    record_post,
)
from services.trial import Invitee
from services.zones import show, staff_zone

log = logging.getLogger(__name__)


def result_text(result: PollResult, locale: str, *, for_staff: bool) -> str:
    """The result in the current locale: every option with its votes, and the winner."""
    poll = result.poll
    total = sum(result.raw) or 1
    lines = [
        _("📊 Poll #{id} closed: {question}").format(
            id=poll.id, question=f"<b>{esc(poll.question)}</b>"
        )
    ]
    winner = result.winner
    for i, option in enumerate(poll.options):
        mark = "🏆" if i == winner else "▫️"
        line = _("{mark} {number}. {option}: {votes} ({share})").format(
            mark=mark,
            number=i + 1,
            option=esc(option),
            votes=result.raw[i],
            share=format_percent(result.raw[i] / total, locale=locale),
        )
        if result.weighted is not None:
            line += " · " + _("weighted {votes}").format(votes=result.weighted[i])
        lines.append(line)
    if poll.anonymous:
        lines.append(
            _("Votes: {votes} in {groups}.").format(
                votes=sum(result.raw), groups=counted("group", len(poll.chat_ids))
            )
        )
    else:
        lines.append(
            _("Voters: {voters} in {groups}, each counted once.").format(
                voters=result.voters, groups=counted("group", len(poll.chat_ids))
            )
        )
    if result.weighted is not None:
        lines.append(_("Weighted: each vote counts 1 + the voter's tier rank."))
        lines.append(_("In the chart, blue bars are votes and orange bars weighted votes."))
    if winner is None:
        lines.append(_("Nobody voted."))
    else:
        lines.append(_("Winner: {option}").format(option=f"<b>{esc(poll.options[winner])}</b>"))
        if for_staff:
            lines.append(
                _(
                    "Put it on pre-sale in the same groups: /poll_presale {id} PRODUCT 7d min=20"
                ).format(id=poll.id)
            )
    return "\n".join(lines)


def _percent(count: int, total: int) -> str:
    return f"{round(100 * count / total) if total else 0}%"


def result_chart(result: PollResult) -> bytes:
    """The result as a bar chart that reads the same on any host: option numbers, counts and
    percentages only, no words (a host without a CJK font would draw Chinese as boxes); the
    numbered options are listed in the text beside it."""
    total = sum(result.raw)
    series: list[tuple[str, tuple[int, ...]]] = [("", result.raw)]
    notes = [[f"{count} ({_percent(count, total)})" for count in result.raw]]
    if result.weighted is not None:
        series.append(("", result.weighted))
        notes.append([str(count) for count in result.weighted])
    labels = [str(i + 1) for i in range(len(result.poll.options))]
    return bar_chart(f"#{result.poll.id}", labels, series, notes=notes, label_width=60)


def stopped_before(exc: TelegramAPIError) -> bool:
    """Telegram's answer to stopping a poll copy that was stopped already."""
    return isinstance(exc, TelegramBadRequest) and "already been closed" in exc.message


async def stop_copies(bot: Bot, poll_id: int, copies: Iterable[PostView]) -> list[StoppedCopy]:
    """Stop the poll's copies on Telegram (no transaction may be open) and say what each held
    at the end; a copy a closer that died midway already stopped has its counts recorded, one
    Telegram cannot stop now is left out (logged) and keeps its counts as recorded."""
    stopped = []
    for copy in copies:
        try:
            final = await bot.stop_poll(copy.chat_id, copy.message_id)
        except TelegramAPIError as exc:
            if not stopped_before(exc):
                log.warning("could not stop poll %s in %s: %s", poll_id, copy.chat_id, exc)
                continue
            counts = None
        else:
            counts = tuple(option.voter_count for option in final.options)
        stopped.append(StoppedCopy(copy.chat_id, copy.telegram_poll_id, counts))
    return stopped


def _result_calls(chat_id: int, text: str, chart: bytes, poll_id: int) -> Calls:
    """The chart with the numbered options as its caption, or, when they are too long for a
    caption, the chart followed by them as a message."""
    photo = BufferedInputFile(chart, filename=f"poll_{poll_id}.png")
    if visible_length(text) <= CAPTION_LIMIT:
        return Calls((SendPhoto(chat_id=chat_id, photo=photo, caption=text),))
    return Calls((SendPhoto(chat_id=chat_id, photo=photo), SendMessage(chat_id=chat_id, text=text)))


def result_effects(i18n: I18n, closed: ClosedPoll) -> list[Effect]:
    """The result and its chart for every group, and for the author with the next step."""
    result = closed.result
    chart = result_chart(result)  # the same image for every reader: it has no words
    effects: list[Effect] = []
    for chat_id, locale in closed.groups:
        with i18n.use_locale(locale):
            text = result_text(result, locale, for_staff=False)
        effects.append(_result_calls(chat_id, text, chart, result.poll.id))
    if closed.author is not None:
        author, locale = closed.author
        with i18n.use_locale(locale):
            text = result_text(result, locale, for_staff=True)
        effects.append(_result_calls(author, text, chart, result.poll.id))
    return effects


async def send_copies(bot: Bot, poll: PollView, chat_ids: list[int]) -> list[PostView]:
    """Send the poll as a native Telegram poll into each chat (no transaction may be open:
    the caller records each copy after); the copies that went.

    No open_period: Telegram caps it at 10 minutes, so the scheduler closes the poll instead.
    """
    sent: list[PostView] = []
    for chat_id in chat_ids:
        try:
            message = await bot.send_poll(
                chat_id,
                question=poll.question,
                # plain text: members' wording is never read as HTML
                question_parse_mode=None,
                options=[
                    InputPollOption(text=option, text_parse_mode=None) for option in poll.options
                ],
                is_anonymous=poll.anonymous,
                allows_multiple_answers=poll.allows_multiple,
            )
        except TelegramAPIError as exc:
            log.warning("could not post poll %s in %s: %s", poll.id, chat_id, exc)
            continue
        if message.poll is not None:
            sent.append(PostView(chat_id, message.message_id, message.poll.id, False))
    return sent


def first_intro_text(poll: PollView, when: str) -> str:
    """The note an ambassador reads above their early copy of a poll."""
    return _(
        "⭐ As one of our trial ambassadors (体验官), you vote first: poll #{id} reaches the "
        "groups at {when}. Your vote below counts in the final result."
    ).format(id=poll.id, when=when)


def released_text(poll: PollView, posted: int) -> str:
    """Staff's note when the ambassadors' head start is over and the groups got the poll."""
    return _(
        "Poll #{id}: the ambassadors' head start is over; it is now posted in {groups}."
    ).format(id=poll.id, groups=counted("group", posted))


POLL_ERRORS: dict[str, str] = {
    PollRefusal.BAD_QUESTION: N_("The question must be 1-300 characters. What do you want to ask?"),
    PollRefusal.QUESTION_TOO_LONG: N_(
        "The question must be 1-300 characters. What do you want to ask?"
    ),
    PollRefusal.TOO_FEW_OPTIONS: N_(
        "A poll needs 2-12 options: send one per line, or separate them with |."
    ),
    PollRefusal.TOO_MANY_OPTIONS: N_(
        "A poll needs 2-12 options: send one per line, or separate them with |."
    ),
    PollRefusal.OPTION_TOO_LONG: N_("Each option must be 1-100 characters."),
    PollRefusal.DUPLICATE_OPTIONS: N_("Two options are the same; make each one different."),
    PollRefusal.CLOSING_PAST: N_("The closing time must be in the future."),
    PollRefusal.CLOSING_TOO_FAR: N_("A poll can stay open for at most 30 days."),
    PollRefusal.BAD_CLOSING: N_(
        "Give the closing time as 3d, 12h, 90m or a date like 2026-11-25 20:00."
    ),
    PollRefusal.BAD_POINTS: N_("Points per vote must be a whole number from 0 to 10000."),
    PollRefusal.ANONYMOUS_NO_VOTERS: N_(
        "An anonymous poll cannot reward or weigh voters, because nobody knows who voted."
    ),
    "no_chats": N_("There is no group to post it in."),
    PollRefusal.FIRST_TOO_LONG: N_(
        "The ambassadors' head start must end before the poll closes: shorten first= or "
        "close it later."
    ),
}


FIRST_USAGE = N_(
    "To let the trial ambassadors (good reporters) vote first, start with "
    "/poll_new first=ambassadors:2h: they get the poll in private at once, the groups 2 hours "
    "later (10m to 7d). I could not read {part}."
)


def closing_prompt(member: MemberView, settings: HandlerSettings) -> str:
    """The closing-time question, naming the time zone staff type in."""
    return _(
        "When does it close? 3d, 12h, friday 6pm, or a date like 2026-11-25 20:00 in your "
        "time zone ({zone}); at most 30 days."
    ).format(zone=member.timezone or settings.default_timezone)


def poll_error(reason: str, detail: str = "") -> str:
    """The localized message for a refused poll value (an unreadable closing time named)."""
    if reason == PollRefusal.BAD_CLOSING and detail:
        return unreadable_text("when", detail)
    text = POLL_ERRORS.get(reason)
    return _(text) if text else _("That is not possible for this poll.")


def local_time(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def staff_time(moment: datetime, member: MemberView, settings: HandlerSettings) -> str:
    """A time staff read: on their own clock, else the brand's, named when not their own."""
    return show(
        moment, staff_zone(member.timezone, settings.default_timezone), reader=member.timezone
    )


async def post_poll(
    bot: Bot, session: AsyncSession, poll: PollView, chat_ids: list[int], *, early: bool = False
) -> int:
    """Send the poll as a native Telegram poll into every group (or, `early`, into each
    ambassador's private chat); returns how many got it. The update's transaction is committed
    before each send (bot/transactions.py), and each copy is recorded after it went."""
    posted = 0
    for chat_id in chat_ids:
        for sent in await send_copies(bot, poll, [chat_id]):
            await record_post(
                session,
                poll_id=poll.id,
                chat_id=sent.chat_id,
                telegram_poll_id=sent.telegram_poll_id,
                message_id=sent.message_id,
                early=early,
            )
            posted += 1
    return posted


class PollDraft(Draft):
    """What /poll_new has collected so far."""

    first: int = 0  # the trial ambassadors' head start, in minutes (0: none)
    question: str | None = None
    options: list[str] = Field(default_factory=list)
    multiple: bool = False  # members may pick several options
    anonymous: bool = False
    closes_at: datetime | None = None
    points: int = 0  # per voter, once per poll
    weighted: bool = False  # also counted weighted by tier
    chats: list[int] = Field(default_factory=list)  # the groups it goes to (ticked so far)
    override: str | None = None  # why the lint's findings may be ignored (logged)
    override_words: list[str] = Field(default_factory=list)  # the words that reason covers

    def texts(self) -> list[str]:
        """What members read of the poll: the question and every option (all linted)."""
        return [self.question or "", *self.options]

    def covers(self, found: list[tuple[str, list[Finding]]]) -> bool:
        """Whether the override reason was given for these very findings."""
        return reason_covers(found, self.override, self.override_words)


async def draft_summary(session: AsyncSession, draft: PollDraft, zone: str) -> str:
    """The draft as staff check it before Post: the question, its options, how it is asked and
    which groups get it."""
    assert draft.question is not None and draft.closes_at is not None  # asked before
    titles = []
    for chat_id in draft.chats:
        community = await get_community(session, chat_id)
        titles.append(esc(community.title if community else chat_id))
    lines = [f"<b>{esc(draft.question)}</b>"]
    lines += [f"{i + 1}. {esc(option)}" for i, option in enumerate(draft.options)]
    lines.append(_("Several options allowed") if draft.multiple else _("One option"))
    lines.append(_("Anonymous") if draft.anonymous else _("Not anonymous"))
    lines.append(
        _("Closes: {when} ({zone})").format(when=local_time(draft.closes_at, zone), zone=zone)
    )
    lines.append(_("Points per voter: {points}").format(points=draft.points))
    if draft.weighted:
        lines.append(_("Also weighted by tier"))
    if draft.first:
        lines.append(
            _("Ambassadors vote first: the groups get it {hours} later").format(
                hours=head_start_text(draft.first)
            )
        )
    lines.append(_("Groups: {groups}").format(groups=", ".join(titles)))
    return "\n".join(lines)


def head_start_text(minutes: int) -> str:
    """2 h, 30 min, 1 d 4 h: a head start as staff read it."""
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [
        *([_("{n} d").format(n=days)] if days else []),
        *([_("{n} h").format(n=hours)] if hours else []),
        *([_("{n} min").format(n=mins)] if mins else []),
    ]
    return " ".join(parts)


async def ambassadors_first(
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    poll: PollView,
    ambassadors: list[Invitee],
    brand_zone: str,
) -> None:
    """Each ambassador gets a note in their language and their own copy of the poll, in
    private, once the poll is committed (the update's transaction ends before each send)."""
    assert poll.first_until is not None
    for ambassador in ambassadors:
        with i18n.use_locale(ambassador.locale or i18n.default_locale):
            zone = ambassador.timezone or brand_zone
            note = first_intro_text(poll, show(poll.first_until, zone, reader=zone))
        try:
            await bot.send_message(ambassador.member_id, note)
        except TelegramAPIError:  # blocked the bot, or never reachable: no copy either
            continue
        await post_poll(bot, session, poll, [ambassador.member_id], early=True)
