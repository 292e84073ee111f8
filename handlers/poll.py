"""Co-creation polls in chats: votes from Telegram, closing with a result chart, staff
commands (/polls, /poll_close) and the step from a poll's winner to a pre-sale (C2M)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.methods import SendMessage
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
    PollAnswer,
)
from aiogram.types import Poll as TelegramPoll
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.groupbuy_open import (
    DROP_ERRORS,
    OpenDefaults,
    Opened,
    OpenValues,
    level_error_text,
    open_and_post,
    open_error_text,
    parse_open_line,
)
from handlers.views.lint import clear_command, product_texts, split_override
from handlers.views.paging import PAGE_SIZE, PageCallback, page_counter, with_page_row
from handlers.views.perks import points_text
from handlers.views.policy import held_text, waits_text
from handlers.views.poll import result_effects, staff_time, stop_copies
from handlers.views.text import (
    N_,
    BackgroundSender,
    Calls,
    CardPoster,
    CommitHook,
    DeadlineScheduler,
    HandlerSettings,
    carry_out,
    counted,
    esc,
    esc_name,
)
from models.base import Clock
from models.poll import POLL_OPEN
from services.community import get_community, open_community_ids
from services.groupbuy import GroupBuyError, GroupBuyRefusal
from services.levels import LevelError, parse_level
from services.member import MemberView
from services.policy import KIND_PRESALE, HeldBack
from services.poll import (
    ClosedPoll,
    PollView,
    claim_presale,
    close_poll,
    copies_to_stop,
    get_poll,
    hold_presale,
    offers_option,
    poll_page,
    record_answer,
    record_counts,
    tally,
)
from services.product import ProductView, get_product
from services.role import Role
from services.validation import number

log = logging.getLogger(__name__)
router = Router(name="poll")

NOT_FOUND = N_("There is no poll #{id}.")
PRESALE_USAGE = N_(
    "Put a poll's winner on pre-sale in the poll's groups:\n"
    "/poll_presale POLL PRODUCT DEADLINE [min=N] [stock=N] [limit=N] [level=vip]\n"
    "For example: /poll_presale 3 12 7d min=20"
)


@router.poll_answer()
async def poll_answer(
    answer: PollAnswer,
    session: AsyncSession,
    settings: HandlerSettings,
    clock: Clock,
    notifier: BackgroundSender,
    member: MemberView | None = None,
) -> None:
    """A member voted, changed or retracted their vote in one group's copy of a poll."""
    if member is None or answer.user is None or answer.user.is_bot:
        return
    result = await record_answer(
        session,
        telegram_poll_id=answer.poll_id,
        member_id=member.id,
        option_ids=list(answer.option_ids),
        now=clock(),
        points_cap=settings.points_daily_caps.get("vote"),
    )
    if result is None or not member.started:
        return
    if result.closed and answer.option_ids:
        notifier.send(
            member.id,
            _(
                "Poll #{id} has closed, so your vote was not counted. The result is on its way."
            ).format(id=result.poll_id),
        )
    elif result.points > 0:
        notifier.send(
            member.id,
            _("Thanks for voting in poll #{id}: +{points}.").format(
                id=result.poll_id, points=points_text(result.points, member.locale)
            ),
        )


@router.poll()
async def poll_state(poll: TelegramPoll, session: AsyncSession) -> None:
    """Telegram reports the counts of an anonymous poll's copy."""
    await record_counts(
        session,
        telegram_poll_id=poll.id,
        counts=[option.voter_count for option in poll.options],
    )


async def stop_and_close(
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    *,
    poll_id: int,
    now: datetime,
    default_locale: str,
    notifier: BackgroundSender,
    after_commit: CommitHook,
) -> ClosedPoll | None:
    """Stop every copy on Telegram, then close the poll once with their final counts and post
    the result and chart to every group and to its author after commit. None when it was not
    open."""
    stopped = await stop_copies(bot, poll_id, await copies_to_stop(session, poll_id))
    closed = await close_poll(
        session, poll_id=poll_id, now=now, stopped=stopped, default_locale=default_locale
    )
    if closed is not None:
        carry_out(
            result_effects(i18n, closed), bot=bot, notifier=notifier, after_commit=after_commit
        )
    return closed


def _poll_id(text: str) -> int | None:
    return number(text)


@router.message(Command("poll_close"), PRIVATE, RoleFilter(Role.STAFF, "poll.close"))
async def poll_close(
    message: Message,
    command: CommandObject,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    clock: Clock,
    notifier: BackgroundSender,
    after_commit: CommitHook,
) -> None:
    """Closes a poll now; the result goes to its groups and to its author."""
    poll_id = _poll_id(command.args or "")
    if poll_id is None:
        await message.answer(_("Send /poll_close ID, for example /poll_close 3 (see /polls)."))
        return
    poll = await get_poll(session, poll_id)
    if poll is None:
        await message.answer(_(NOT_FOUND).format(id=poll_id))
        return
    closed = await stop_and_close(
        bot,
        i18n,
        session,
        poll_id=poll_id,
        now=clock(),
        default_locale=settings.default_locale,
        notifier=notifier,
        after_commit=after_commit,
    )
    if closed is None:
        await message.answer(_("Poll #{id} is already closed.").format(id=poll_id))
        return
    done = _("Poll #{id} closed; the result was posted in {groups}.").format(
        id=poll_id, groups=counted("group", len(closed.result.poll.chat_ids))
    )
    # told after the result, which goes once the closing committed
    reply = Calls((SendMessage(chat_id=message.chat.id, text=done),))
    carry_out([reply], bot=bot, notifier=notifier, after_commit=after_commit)


@router.message(Command("polls"), PRIVATE, RoleFilter(Role.STAFF, "poll.list"))
async def list_polls(
    message: Message, session: AsyncSession, member: MemberView, settings: HandlerSettings
) -> None:
    """The polls with their status, newest first, a page at a time with their count."""
    text, markup = await polls_page(session, member, settings, 0)
    await message.answer(text, reply_markup=markup)


async def polls_page(
    session: AsyncSession, member: MemberView, settings: HandlerSettings, offset: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A page of /polls: the count, one line per poll, Back / More."""
    page = await poll_page(session, limit=PAGE_SIZE, offset=offset)
    if not page.total:
        return _("No polls yet. Start one with /poll_new."), None
    lines = [_("Polls ({counter}):").format(counter=page_counter(page))]
    for poll in page.items:
        status = (
            _("open until {when}").format(when=staff_time(poll.closes_at, member, settings))
            if poll.status == POLL_OPEN
            else _("closed")
        )
        if poll.status == POLL_OPEN and poll.held_chats and poll.first_until is not None:
            status += " · " + _("ambassadors first, the groups get it {when}").format(
                when=staff_time(poll.first_until, member, settings)
            )
        lines.append(
            _("#{id} {question} — {status}, {groups}").format(
                id=poll.id,
                question=esc(poll.question),
                status=status,
                groups=counted("group", len(poll.chat_ids)),
            )
        )
    return "\n".join(lines), with_page_row(None, "polls", page)


@router.callback_query(PageCallback.filter(F.name == "polls"), RoleFilter(Role.STAFF, "poll.list"))
async def polls_more(
    query: CallbackQuery,
    callback_data: PageCallback,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """Back or More under /polls: the same message shows the other page."""
    text, markup = await polls_page(session, member, settings, callback_data.offset)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)


# the options /poll_presale reads: /groupbuy's syntax, fewer keys (成团＝20 too)
PRESALE_KEYS = frozenset({"deadline", "min", "stock", "limit", "level"})


@router.message(Command("poll_presale"), PRIVATE, RoleFilter(Role.STAFF, "poll.presale"))
async def poll_presale(
    message: Message,
    command: CommandObject,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    closer: DeadlineScheduler,
    poster: CardPoster,
    after_commit: CommitHook,
) -> None:
    """C2M: opens a pre-sale group-buy of the winner in the poll's groups, in one step (the
    product's texts and the winner linted; `!!anyway reason` at the end goes ahead despite
    findings)."""
    args, reason = split_override(command.args or "")
    words = args.split()
    poll_id = _poll_id(words[0]) if words else None
    if len(words) < 3 or poll_id is None or _poll_id(words[1]) is None:
        await message.answer(_(PRESALE_USAGE))
        return
    ready = await _ready_for_presale(message, session, poll_id)
    if ready is None:
        return
    poll, winner = ready
    now = clock()
    try:
        product = await get_product(session, _poll_id(words[1]) or 0)
        if product is None or not product.active:
            raise GroupBuyError(GroupBuyRefusal.NO_PRODUCT)
        if not offers_option(product.title, winner):
            await message.answer(_not_the_winner_text(product, poll_id, winner))
            return
        cleared = await clear_command(
            message,
            [*product_texts(product), winner],
            extra_words=settings.compliance_extra_words,
            reason=reason,
        )
        if cleared is None:
            return
        zone = member.timezone or settings.default_timezone
        values, options = _presale_line(words[2:], product, now, zone)
        chat_ids = await _presale_groups(session, poll.chat_ids, options)
        if not chat_ids:  # the poll has groups: none left means none of the level
            await message.answer(_(DROP_ERRORS["no_groups"]))
            return
        # hold the poll's pre-sale slot first: two staff racing open one group-buy
        if not await hold_presale(session, poll_id=poll_id):
            await message.answer(_("Poll #{id} is already on pre-sale.").format(id=poll_id))
            return
        opened = await open_and_post(
            session,
            closer,
            poster,
            after_commit,
            values,
            opened_by=member.id,
            chat_ids=chat_ids,
            commission_bps=0,
            now=now,
            kind=KIND_PRESALE,
            settings=settings,
        )
    except (GroupBuyError, LevelError, HeldBack) as exc:
        await message.answer(await _refusal_text(session, exc, member, settings))
        return
    gb = opened.gb
    await claim_presale(session, poll_id=poll_id, groupbuy_id=gb.id)
    await cleared.audit(
        session, actor_id=member.id, action="poll.presale", what=f"#{gb.id}", now=now
    )
    # the groups whose card goes now hear the news under it, once the card is posted (after
    # the commit); a group whose card is scheduled gets the card alone, at its time
    for announcement in await _presale_news(
        session, i18n, settings, poll_id, winner, values.min_count, opened.posted
    ):
        after_commit.add(_announce(bot, poll_id, announcement))
    await message.answer(await _opened_text(session, opened, winner, member, settings))


async def _ready_for_presale(
    message: Message, session: AsyncSession, poll_id: int
) -> tuple[PollView, str] | None:
    """The closed poll and its winning option; None once the reason it cannot go on
    pre-sale is answered."""
    poll = await get_poll(session, poll_id)
    if poll is None:
        await message.answer(_(NOT_FOUND).format(id=poll_id))
        return None
    if poll.is_open:
        await message.answer(
            _("Poll #{id} is still open. Close it first with /poll_close {id}.").format(id=poll_id)
        )
        return None
    result = await tally(session, poll)
    if result.winner is None or not poll.chat_ids:
        await message.answer(_("Poll #{id} has no winner to put on sale.").format(id=poll_id))
        return None
    if poll.presale_groupbuy_id is not None:
        await message.answer(
            _("Poll #{id} is already on pre-sale as group-buy #{gb}.").format(
                id=poll_id, gb=poll.presale_groupbuy_id
            )
        )
        return None
    return poll, poll.options[result.winner]


def _not_the_winner_text(product: ProductView, poll_id: int, winner: str) -> str:
    """/poll_presale named a product that is not the option the poll chose."""
    return _(
        "Product #{product} is {title}, but poll #{id} chose {option}. Put the "
        "winner on sale: send /poll_presale {id} with the id of the product that is "
        "{option} (create it with /product_add if it does not exist yet)."
    ).format(
        product=product.id,
        title=esc_name(product.title),
        id=poll_id,
        option=esc(winner),
    )


def _presale_line(
    words: list[str], product: ProductView, now: datetime, zone: str
) -> tuple[OpenValues, dict[str, str]]:
    """The pre-sale's terms from the command's words, with its defaults."""
    return parse_open_line(
        words,
        product_id=product.id,
        defaults=OpenDefaults(
            minimum="10", stock=product.stock if product.stock is not None else 1000, limit=5
        ),
        now=now,
        timezone=zone,
        keys=PRESALE_KEYS,
    )


async def _refusal_text(
    session: AsyncSession,
    exc: GroupBuyError | LevelError | HeldBack,
    member: MemberView,
    settings: HandlerSettings,
) -> str:
    """Why the pre-sale did not open: its terms, the level, or the policy holding it back."""
    if isinstance(exc, GroupBuyError):
        return open_error_text(exc, _(PRESALE_USAGE)) or _(PRESALE_USAGE)
    if isinstance(exc, LevelError):
        return level_error_text(exc)
    return await held_text(session, exc.verdicts, member=member, settings=settings, posted=False)


async def _opened_text(
    session: AsyncSession,
    opened: Opened,
    winner: str,
    member: MemberView,
    settings: HandlerSettings,
) -> str:
    """Where the pre-sale opened, and which groups wait for it (scheduled or refused)."""
    text = _("Pre-sale group-buy #{gb} of {option} opened in {groups}.").format(
        gb=opened.gb.id, option=esc(winner), groups=counted("group", len(opened.posted))
    )
    if opened.scheduled or opened.refused:
        text += "\n\n" + await waits_text(session, opened, member=member, settings=settings)
    return text


async def _presale_groups(
    session: AsyncSession, poll_chat_ids: Iterable[int], options: dict[str, str]
) -> list[int]:
    """The poll's groups the pre-sale opens in: with `level=`, only those of that level."""
    chat_ids = list(poll_chat_ids)
    if "level" in options:  # only the poll's groups of that level
        level = parse_level(options["level"])
        leveled = set(await open_community_ids(session, level=level))
        chat_ids = [chat_id for chat_id in chat_ids if chat_id in leveled]
    return chat_ids


async def _presale_news(
    session: AsyncSession,
    i18n: I18n,
    settings: HandlerSettings,
    poll_id: int,
    winner: str,
    min_count: int,
    posted: Iterable[int],
) -> list[SendMessage]:
    """The news of the pre-sale, in each group's language, for the groups its card went to."""
    announcements = []
    for chat_id in posted:
        community = await get_community(session, chat_id)
        with i18n.use_locale(community.locale if community else settings.default_locale):
            text = _(
                "You chose {option} in poll #{id}: it is now on pre-sale. It will be "
                "made if at least {count} pre-order it by the deadline."
            ).format(option=f"<b>{esc(winner)}</b>", id=poll_id, count=min_count)
        announcements.append(SendMessage(chat_id=chat_id, text=text))
    return announcements


def _announce(bot: Bot, poll_id: int, announcement: SendMessage) -> Callable[[], Awaitable[None]]:
    """The pre-sale's news in one group, sent after the commit (a failure is only logged)."""

    async def send() -> None:
        try:
            await bot(announcement)
        except TelegramAPIError as exc:
            log.warning(
                "could not announce the pre-sale of poll %s in %s: %s",
                poll_id,
                announcement.chat_id,
                exc,
            )

    return send
