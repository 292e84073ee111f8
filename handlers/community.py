"""Groups: registered when the bot joins; /settings for their language and time zone."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, RoleFilter, not_open_text
from handlers.views.groups import review_card_keyboard, review_card_text
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.leader import apply_keyboard
from handlers.views.role import appoint_creator_if_staff_added
from handlers.views.text import (
    LANGUAGE_NAMES,
    BackgroundSender,
    HandlerSettings,
    esc,
    esc_name,
    unreadable_text,
)
from models.base import Clock
from models.community import APPROVAL_PENDING
from services.audit import record_action
from services.community import (
    ChatInfo,
    CommunityView,
    InvalidLocale,
    InvalidMemberDay,
    InvalidTimezone,
    get_community,
    left_community,
    mark_left,
    members_joined,
    record_community,
    set_community_locale,
    set_member_day,
    set_timezone,
)
from services.groups import BotAdded, bot_added
from services.member import LOCALES, UserInfo
from services.parsing import zone_label
from services.role import Role, forget_admins

log = logging.getLogger(__name__)
router = Router(name="community")
router.message.filter(GROUP)
router.callback_query.filter(F.message.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}))

ACTIVE_STATUSES = {"member", "administrator", "creator", "restricted"}
ADMIN_STATUSES = {"administrator", "creator"}
# time zones offered as buttons; any IANA name works with /settings timezone NAME
QUICK_TIMEZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "UTC")
# words accepted after /settings, in each language, for each setting
SETTING_NAMES = {
    "timezone": "tz",
    "tz": "tz",
    "时区": "tz",
    "時區": "tz",
    "language": "locale",
    "lang": "locale",
    "语言": "locale",
    "語言": "locale",
    "member_day": "member_day",
    "memberday": "member_day",
    "会员日": "member_day",
    "會員日": "member_day",
}


class SettingsField(StrEnum):
    """The setting a button of the group settings card changes."""

    LOCALE = "locale"
    TIMEZONE = "tz"


class SettingsCallback(CallbackData, prefix="gset"):
    """A button on the group settings card."""

    field: SettingsField
    value: str


def settings_text(community: CommunityView) -> str:
    now = datetime.now(UTC).astimezone(ZoneInfo(community.timezone))
    return "\n".join(
        [
            _("<b>Settings of {title}</b>").format(title=esc_name(community.title)),
            _("Language: {language}").format(language=LANGUAGE_NAMES[community.locale]),
            _("Time zone: {timezone} (now {time})").format(
                timezone=zone_label(community.timezone), time=now.strftime("%H:%M")
            ),
            (
                _("Member day: day {day} of each month").format(day=community.member_day)
                if community.member_day
                else _("Member day: none")
            ),
            "",
            _("Tap a button, or send /settings timezone Europe/London for any other time zone."),
            _("Send /settings member_day 8 to make the 8th the member day (0 for none)."),
        ]
    )


def settings_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for locale in LOCALES:
        builder.button(
            text=LANGUAGE_NAMES[locale],
            callback_data=SettingsCallback(field=SettingsField.LOCALE, value=locale),
        )
    for name in QUICK_TIMEZONES:
        builder.button(
            text=name, callback_data=SettingsCallback(field=SettingsField.TIMEZONE, value=name)
        )
    builder.adjust(3, 3, 2)
    return builder.as_markup()


@router.my_chat_member()
async def bot_membership_changed(
    event: ChatMemberUpdated,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    clock: Clock,
    notifier: BackgroundSender,
) -> None:
    """Registers the group when the bot is added and greets it (approved at once when staff or
    the owner added it; otherwise pending, with a review card to every staff member); marks it
    left when the bot is removed."""
    if event.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return
    was_in = event.old_chat_member.status in ACTIVE_STATUSES
    is_in = event.new_chat_member.status in ACTIVE_STATUSES
    chat = ChatInfo(id=event.chat.id, title=event.chat.title or "", chat_type=event.chat.type)
    if is_in and was_in:  # the bot was promoted or demoted
        await record_community(
            session,
            chat=chat,
            default_locale=settings.default_locale,
            default_timezone=settings.default_timezone,
            joined=True,
        )
        # a promotion or demotion of the bot may come with admin changes: fetch them again
        await forget_admins(session, community_id=chat.id)
    elif is_in:
        added = await bot_added(
            session,
            chat=chat,
            added_by=event.from_user.id,
            owner_ids=settings.owner_ids,
            default_locale=settings.default_locale,
            default_timezone=settings.default_timezone,
            now=clock(),
        )
        await forget_admins(session, community_id=chat.id)
        for reviewer in added.reviewers:  # sent once the registration committed
            with i18n.use_locale(reviewer.locale):
                notifier.send(
                    reviewer.member_id,
                    review_card_text(added.community, added.added_by),
                    reply_markup=review_card_keyboard(added.community.id),
                )
        # in the language of who added the bot (they read it first, and choose the group's
        # language next), then in the group's when that is another one
        locales = list(dict.fromkeys([added_by_locale(added), added.community.locale]))
        texts = []
        for locale in locales:
            with i18n.use_locale(locale):
                texts.append(greeting(added.community))
        with i18n.use_locale(locales[0]):  # the Apply button in the adder's language
            keyboard = apply_keyboard()
        await bot.send_message(event.chat.id, "\n\n— — —\n\n".join(texts), reply_markup=keyboard)
        await appoint_creator_if_staff_added(event, bot, i18n, session, settings, notifier, clock())
    elif was_in:
        await mark_left(session, community_id=event.chat.id)


def added_by_locale(added: BotAdded) -> str:
    """The language of who added the bot (their /language, else their Telegram app's), else
    the group's."""
    return added.added_by.locale if added.added_by else added.community.locale


def greeting(community: CommunityView) -> str:
    """What the bot says when it is added to a group, in the current locale."""
    hello = _(
        "Hello, {title}! I am the community bot. Leaders: send /settings to "
        "choose this group's language and time zone. Everyone: /help shows "
        "what I can do."
    ).format(title=esc_name(community.title))
    if community.is_open:
        return hello
    if community.approval == APPROVAL_PENDING:
        return (
            hello
            + "\n\n"
            + _(
                "Admins: the brand reviews every new group before group-buys, check-ins and "
                "points open in it. I have asked the brand's staff to review this one, and I "
                "will post here as soon as they decide."
            )
        )
    return hello + "\n\n" + not_open_text(community)


# a join through an invite link goes on to the referral router, which attributes the newcomer
# (the context middleware has already recorded them as in the group)
NOT_A_LINK_JOIN = ~(F.invite_link & F.new_chat_member.status.in_(ACTIVE_STATUSES))


@router.chat_member(NOT_A_LINK_JOIN)
async def member_status_changed(
    event: ChatMemberUpdated, session: AsyncSession, settings: HandlerSettings, clock: Clock
) -> None:
    """A member joined, left, or was promoted or demoted: their membership is recorded, and
    after an admin change the cached admin list is fetched again next time."""
    if {event.old_chat_member.status, event.new_chat_member.status} & set(ADMIN_STATUSES):
        await forget_admins(session, community_id=event.chat.id)
    if event.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return
    user = event.new_chat_member.user
    if event.new_chat_member.status in ("left", "kicked"):
        await left_community(session, community_id=event.chat.id, member_id=user.id, now=clock())
    elif event.old_chat_member.status in ("left", "kicked"):
        await members_joined(
            session,
            community_id=event.chat.id,
            users=[UserInfo.of(user)],
            default_locale=settings.default_locale,
            now=clock(),
        )


@router.message(F.new_chat_members, GROUP)
async def members_added(
    message: Message, session: AsyncSession, settings: HandlerSettings, clock: Clock
) -> None:
    """Someone added people to the group (the service message): they are members of it.

    Someone who joined by themselves is left to the chat_member update of the same join:
    Telegram does not order the two, and a join through a member's invite link must be the
    first the bot sees of a newcomer for the referral to count (see the referral router)."""
    sender = message.from_user.id if message.from_user is not None else None
    await members_joined(
        session,
        community_id=message.chat.id,
        users=[UserInfo.of(user) for user in message.new_chat_members or [] if user.id != sender],
        default_locale=settings.default_locale,
        now=clock(),
    )


@router.message(F.left_chat_member, GROUP)
async def member_removed(message: Message, session: AsyncSession, clock: Clock) -> None:
    """Someone left or was removed (the service message): recorded as gone."""
    if message.left_chat_member is not None:
        await left_community(
            session,
            community_id=message.chat.id,
            member_id=message.left_chat_member.id,
            now=clock(),
        )


async def _apply(session: AsyncSession, community: CommunityView, field: str, value: str) -> None:
    """Changes one setting; raises InvalidLocale or InvalidTimezone on a bad value."""
    if field == "locale":
        await set_community_locale(session, community_id=community.id, locale=value)
    elif field == "tz":
        await set_timezone(session, community_id=community.id, timezone=value)
    elif field == "member_day":
        await set_member_day(session, community_id=community.id, day=value)
    else:
        raise InvalidLocale(field)


async def _audit_change(
    session: AsyncSession, actor_id: int, community_id: int, field: str, value: str, now: datetime
) -> None:
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=community_id,
        action="community.settings.changed",
        allowed=True,
        now=now,
        required_role=Role.LEADER.name.lower(),
        detail=f"{field}={value}",
    )


@router.message(Command("settings"), RoleFilter(Role.LEADER, "community.settings"))
async def settings_command(
    message: Message,
    command: CommandObject,
    i18n: I18n,
    session: AsyncSession,
    community: CommunityView,
    clock: Clock,
) -> None:
    """Shows the settings card, or changes the setting given as arguments."""
    args = (command.args or "").split(maxsplit=1)
    if not args:
        await message.answer(settings_text(community), reply_markup=settings_keyboard())
        return
    field = SETTING_NAMES.get(args[0].lower())
    value = args[1].strip() if len(args) > 1 else ""
    if field is None or not value:
        await message.reply(
            _(
                "I did not understand that. Send /settings to see the options, "
                "/settings timezone Asia/Shanghai or /settings language zh_Hant."
            )
        )
        return
    try:
        await _apply(session, community, field, value)
    except InvalidTimezone:
        await message.reply(unreadable_text("zone", value))
        return
    except InvalidLocale:
        await message.reply(
            _("{value} is not a language I speak. Choose en, zh_Hans or zh_Hant.").format(
                value=f"<code>{esc(value)}</code>"
            )
        )
        return
    except InvalidMemberDay:
        await message.reply(_("The member day is a day of the month from 1 to 28, or 0 for none."))
        return
    await _audit_change(
        session,
        message.from_user.id if message.from_user else 0,
        community.id,
        field,
        value,
        clock(),
    )
    updated = await get_community(session, community.id) or community
    with i18n.use_locale(updated.locale):
        await message.reply(
            _("Saved.") + "\n\n" + settings_text(updated), reply_markup=settings_keyboard()
        )


@router.callback_query(SettingsCallback.filter(), RoleFilter(Role.LEADER, "community.settings"))
async def settings_button(
    query: CallbackQuery,
    callback_data: SettingsCallback,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    community: CommunityView,
    clock: Clock,
) -> None:
    """Applies the tapped language or time zone and refreshes the card in place."""
    try:
        await _apply(session, community, callback_data.field, callback_data.value)
    except (InvalidLocale, InvalidTimezone):
        await query.answer(_("That option is not available."), show_alert=True)
        return
    await _audit_change(
        session,
        query.from_user.id,
        community.id,
        callback_data.field,
        callback_data.value,
        clock(),
    )
    updated = await get_community(session, community.id) or community
    with i18n.use_locale(updated.locale):
        await query.answer(_("Saved."))
        if query.message is None:
            return
        try:
            await bot.edit_message_text(
                text=settings_text(updated),
                chat_id=query.message.chat.id,
                message_id=query.message.message_id,
                reply_markup=settings_keyboard(),
            )
        except TelegramAPIError as exc:  # e.g. the same value tapped twice: nothing to edit
            log.info("settings card not refreshed: %s", exc)
