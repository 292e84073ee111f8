"""Leaders' and staff's controls of an open group-buy: its pickup text per language
(/drop_pickup), a later deadline (/gb_extend), closing it now (/gb_close) or calling it off
(/gb_cancel)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    Message,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE, RoleFilter
from handlers.views.groupbuy import (
    announce,
)
from handlers.views.groupbuy_open import (
    open_error_text,
)
from handlers.views.lint import clear_command, split_override
from handlers.views.text import (
    LANGUAGE_NAMES,
    N_,
    BackgroundSender,
    CardToucher,
    CommitHook,
    GroupBuyCounters,
    HandlerSettings,
    RefundWaker,
    esc,
    unreadable_text,
)
from models.base import Clock
from services.community import CommunityView
from services.groupbuy import (
    GroupBuyError,
    GroupBuyRefusal,
    GroupBuyView,
    call_off_groupbuy,
    extend_deadline,
    get_groupbuy,
    groupbuys_in_chat,
    parse_deadline,
    set_pickup_language,
    settle_groupbuy,
)
from services.member import MemberView
from services.role import Role
from services.validation import number

router = Router(name="groupbuy_admin")


# /gb_extend to a time that is not after the group-buy's end (deadline_past, cannot_extend)
CANNOT_EXTEND = N_(
    "Group-buy #{id} already ends {when}: give a later time, for example /gb_extend {id} 12h."
)


DROP_PICKUP_USAGE = N_(
    "Send /drop_pickup ID LANGUAGE PLACE | TIME to change where and when an open drop is picked "
    "up, as the groups of that language read it, for example /drop_pickup 4 zh_Hans 茶室 | "
    "周六 10:00. Languages: en, zh_Hans, zh_Hant. Nothing after the language removes that "
    "language's own text."
)


def _language(word: str) -> str | None:
    """A language as typed ('zh_Hans', 'zh-hans', 'EN'), as the bot's locale; None: unknown."""
    wanted = word.replace("-", "_").lower()
    return next((locale for locale in LANGUAGE_NAMES if locale.lower() == wanted), None)


@router.message(
    Command("drop_pickup"),
    PRIVATE,
    RoleFilter(Role.STAFF, "groupbuy.pickup_text"),
)
async def drop_pickup_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    cards: CardToucher,
) -> None:
    """Changes an open drop's pickup place and time in one language; its cards show it."""
    args, reason = split_override(command.args or "")
    words = args.split(maxsplit=2)
    gb_id = number(words[0], prefix="") if len(words) >= 2 else None
    locale = _language(words[1]) if len(words) >= 2 else None
    if gb_id is None or locale is None:
        await message.reply(_(DROP_PICKUP_USAGE))
        return
    point, _bar, time = (words[2] if len(words) > 2 else "").replace("｜", "|").partition("|")
    point, time = point.strip(), time.strip()
    cleared = await clear_command(
        message, [point, time], extra_words=settings.compliance_extra_words, reason=reason
    )
    if cleared is None:
        return
    try:
        gb = await set_pickup_language(
            session, groupbuy_id=gb_id, locale=locale, point=point, time=time
        )
    except GroupBuyError as exc:
        text = open_error_text(exc) if exc.reason == GroupBuyRefusal.BAD_TRANSLATION else None
        await message.reply(text or _("There is no open group-buy #{id}.").format(id=gb_id))
        return
    await cleared.audit(
        session, actor_id=member.id, action="groupbuy.pickup_text", what=f"#{gb.id}", now=clock()
    )
    language = LANGUAGE_NAMES[locale]
    if not point and not time:
        reply = _(
            "Group-buy #{id} no longer has its own pickup text in {language}: its cards there "
            "show the brand's default."
        ).format(id=gb.id, language=language)
    else:
        reply = _("Saved. In {language}, group-buy #{id} is picked up at: {pickup}").format(
            id=gb.id, language=language, pickup=esc(" · ".join(t for t in (point, time) if t))
        )
    await message.reply(reply)
    cards.touch(gb.id)


async def _open_here(
    message: Message,
    words: list[str],
    session: AsyncSession,
    community: CommunityView,
    usage: str,
    *,
    count: int = 1,
) -> int | None:
    """The group-buy id a leader command names first, if it is open in this group; else
    replies (`usage` when there are not `count` words, the id and what follows it)."""
    gb_id = number(words[0], prefix="") if len(words) == count else None
    if gb_id is None:
        await message.reply(usage)
        return None
    if gb_id not in await groupbuys_in_chat(session, community.id):
        await message.reply(_("There is no open group-buy #{id} in this group.").format(id=gb_id))
        return None
    return gb_id


@router.message(Command("gb_extend"), GROUP, RoleFilter(Role.LEADER, "groupbuy.extend"))
async def extend_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    community: CommunityView,
    clock: Clock,
    cards: CardToucher,
) -> None:
    """Moves a group-buy's deadline later: /gb_extend ID 12h."""
    words = (command.args or "").split(maxsplit=1)
    gb_id = await _open_here(
        message,
        words,
        session,
        community,
        _("Send /gb_extend ID NEW_DEADLINE, for example /gb_extend 4 12h."),
        count=2,
    )
    if gb_id is None:
        return
    now = clock()
    found: GroupBuyView | None = None
    try:
        found = await get_groupbuy(session, gb_id)
        assert found is not None
        # "12h" counts from the current deadline; "明天晚上8点" is tomorrow from now
        since = max(now, found.deadline)
        deadline = parse_deadline(words[1], now=now, timezone=community.timezone, since=since)
        gb = await extend_deadline(session, groupbuy_id=gb_id, deadline=deadline, now=now)
    except GroupBuyError as exc:
        # a time before the current end (or a race with its closing): say the end it has
        later = (GroupBuyRefusal.CANNOT_EXTEND, GroupBuyRefusal.DEADLINE_PAST)
        if exc.reason in later and found is not None:
            ends = found.deadline.astimezone(ZoneInfo(community.timezone))
            text = _(CANNOT_EXTEND).format(id=gb_id, when=ends.strftime("%m-%d %H:%M"))
        else:
            text = open_error_text(exc) or unreadable_text("when", words[1])
        await message.reply(text)
        return
    local = gb.deadline.astimezone(ZoneInfo(community.timezone))
    await message.reply(
        _("Group-buy #{id} now ends {when}.").format(id=gb.id, when=local.strftime("%m-%d %H:%M"))
    )
    cards.touch(gb_id)


@router.message(Command("gb_close"), GROUP, RoleFilter(Role.LEADER, "groupbuy.close"))
async def close_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    community: CommunityView,
    settings: HandlerSettings,
    clock: Clock,
    metrics: GroupBuyCounters,
    notifier: BackgroundSender,
    after_commit: CommitHook,
    refunder: RefundWaker,
) -> None:
    """Closes an open group-buy of this group now: it forms if it reached its minimum."""
    gb_id = await _open_here(
        message,
        (command.args or "").split(),
        session,
        community,
        _("Send /gb_close ID, for example /gb_close 4."),
    )
    if gb_id is None:
        return
    closing = await settle_groupbuy(
        session,
        groupbuy_id=gb_id,
        now=clock(),
        early=True,
        tier_currency=settings.tier_measure,
        default_locale=settings.default_locale,
        default_timezone=community.timezone,
    )
    if closing is None:  # closed meanwhile by the scheduler
        await message.reply(_("This group-buy is closed."))
        return
    metrics.settled(closing.formed)
    announce(
        bot,
        i18n,
        closing,
        clock(),
        notifier=notifier,
        after_commit=after_commit,
        settings=settings,
        refunder=refunder,
    )


@router.message(Command("gb_cancel"), GROUP, RoleFilter(Role.LEADER, "groupbuy.cancel"))
async def cancel_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    community: CommunityView,
    settings: HandlerSettings,
    clock: Clock,
    notifier: BackgroundSender,
    after_commit: CommitHook,
    refunder: RefundWaker,
) -> None:
    """Cancels an open group-buy of this group; everyone is told."""
    gb_id = await _open_here(
        message,
        (command.args or "").split(),
        session,
        community,
        _("Send /gb_cancel ID, for example /gb_cancel 4."),
    )
    if gb_id is None:
        return
    closing = await call_off_groupbuy(
        session,
        groupbuy_id=gb_id,
        now=clock(),
        tier_currency=settings.tier_measure,
        default_locale=settings.default_locale,
        default_timezone=community.timezone,
    )
    announce(
        bot,
        i18n,
        closing,
        clock(),
        notifier=notifier,
        after_commit=after_commit,
        settings=settings,
        refunder=refunder,
    )
