"""Members' data rights in private: /mydata (everything held, as a file and a summary),
/forgetme (erase personal data, after a confirmation), /privacy (what is kept and why)."""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from typing import Protocol

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.text import LANGUAGE_NAMES, counted, esc
from models.base import Clock
from services.audit import record_action
from services.member import MemberView
from services.privacy import MemberData, collect_member_data, forget_member, retention_days

log = logging.getLogger(__name__)
router = Router(name="privacy")


class ForgetAction(StrEnum):
    """The member's answer to /forgetme."""

    YES = "yes"  # erase now
    NO = "no"  # keep everything


class ForgetCallback(CallbackData, prefix="forget"):
    """The member's answer to /forgetme."""

    action: ForgetAction


class PrivacySettings(Protocol):
    """The settings these handlers read (bot.config.Settings provides them)."""

    default_locale: str
    consent_wording_version: str
    text_retention: dict[str, int]


def summary(data: MemberData) -> str:
    """A few readable lines about what the attached file holds."""
    lines = [_("Here is everything I hold about you; the attached file has every detail.")]
    profile = data.first("member") or {}
    language = LANGUAGE_NAMES.get(str(profile.get("locale", "")), str(profile.get("locale", "")))
    lines.append(
        _("Profile: {name}, {language}").format(
            name=esc(profile.get("first_name", "")), language=esc(language)
        )
    )
    if profile.get("birthday_month"):
        lines.append(
            _("Birthday: {month}/{day}").format(
                month=profile["birthday_month"], day=profile.get("birthday_day")
            )
        )
    lines.append(_("Orders: {count}").format(count=data.count("orders")))
    lines.append(_("Ledger movements: {count}").format(count=len(data.ledger)))
    referrals = data.tables.get("referral", [])
    invited = [r for r in referrals if "invitee_first_name" in r]
    referrer = next((r for r in referrals if "referrer_first_name" in r), None)
    if referrer is not None:
        lines.append(
            _("Invited by: {name}").format(name=esc(referrer["referrer_first_name"] or "?"))
        )
    lines.append(_("Friends you invited: {count}").format(count=len(invited)))
    lines.append(_("Group-buys joined: {count}").format(count=data.count("groupbuy_join")))
    lines.append(_("Check-ins: {count}").format(count=data.count("checkin")))
    lines.append(_("Reviews: {count}").format(count=data.count("review")))
    lines.append(_("Coupons: {count}").format(count=data.count("member_coupon")))
    consent = data.first("marketing_consent")
    lines.append(
        _("Offers in private: yes")
        if consent and consent["opted_in"]
        else _("Offers in private: no")
    )
    shown = {
        "member",
        "orders",
        "referral",
        "groupbuy_join",
        "checkin",
        "review",
        "member_coupon",
        "marketing_consent",
    }
    others = sum(len(rows) for table, rows in data.tables.items() if table not in shown)
    lines.append(
        _("Other records (roles, tiers, segments, audit, ...): {count}").format(count=others)
    )
    lines.append("")
    lines.append(_("/forgetme erases your personal data; /privacy says what is kept and why."))
    return "\n".join(lines)


@router.message(Command("mydata"), PRIVATE)
async def mydata(message: Message, member: MemberView, session: AsyncSession, clock: Clock) -> None:
    """Sends the member a JSON file of everything held about them, with a short summary."""
    data = await collect_member_data(session, member_id=member.id, now=clock())
    await record_action(
        session,
        actor_id=member.id,
        chat_id=message.chat.id,
        action="privacy.export",
        allowed=True,
        now=clock(),
        detail=f"member {member.id}",
    )
    document = json.dumps(data.document(), ensure_ascii=False, indent=2, sort_keys=True)
    await message.answer(summary(data))
    await message.answer_document(
        BufferedInputFile(document.encode("utf-8"), filename=f"mydata_{member.id}.json")
    )


def forget_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("🗑 Yes, erase my data"), callback_data=ForgetCallback(action=ForgetAction.YES)
    )
    builder.button(
        text=_("No, keep everything"), callback_data=ForgetCallback(action=ForgetAction.NO)
    )
    builder.adjust(1)
    return builder.as_markup()


@router.message(Command("forgetme"), PRIVATE)
async def forgetme(message: Message) -> None:
    """Says what erasing means and asks for an explicit yes."""
    await message.answer(
        _(
            "Erase your personal data?\n\n"
            "• Your name, username, language, birthday and time zone are erased; you become "
            "an anonymous member in our records.\n"
            "• Your invitation link stops working, and you get no more offers.\n"
            "• Your review comments are deleted, and you leave every member segment.\n"
            "• Your orders, points and commission stay on the books under that anonymous "
            "name, because accounting requires it.\n\n"
            "This cannot be undone. If you write to me again later, I start afresh."
        ),
        reply_markup=forget_keyboard(),
    )


@router.callback_query(ForgetCallback.filter(F.action == ForgetAction.YES))
async def forget_confirmed(
    query: CallbackQuery,
    member: MemberView,
    session: AsyncSession,
    settings: PrivacySettings,
    clock: Clock,
) -> None:
    """Erases the member's personal data and says so."""
    chat_id = query.message.chat.id if query.message is not None else None
    await forget_member(
        session,
        member_id=member.id,
        now=clock(),
        wording_version=settings.consent_wording_version,
        default_locale=settings.default_locale,
        chat_id=chat_id,
    )
    await query.answer()
    text = _(
        "Done: your personal data is erased and your invitation link no longer works. "
        "Thank you for having been with us."
    )
    await _replace_question(query, text)


@router.callback_query(ForgetCallback.filter(F.action == ForgetAction.NO))
async def forget_cancelled(query: CallbackQuery) -> None:
    """Keeps everything as it was."""
    await query.answer()
    await _replace_question(query, _("Nothing was erased."))


async def _replace_question(query: CallbackQuery, text: str) -> None:
    """Edits the question into the outcome; a second tap on an answered question is a no-op
    (Telegram says the message is not modified)."""
    if query.message is None or query.bot is None:
        return
    try:
        await query.bot.edit_message_text(
            text, chat_id=query.message.chat.id, message_id=query.message.message_id
        )
    except TelegramBadRequest as exc:
        log.info("the /forgetme question was not edited: %s", exc)


@router.message(Command("privacy"), PRIVATE)
async def privacy(message: Message, settings: PrivacySettings) -> None:
    """What the bot keeps about members, why, for how long, and how to see or erase it."""
    days = retention_days(settings.text_retention)
    await message.answer(
        _(
            "<b>What I keep about you, and why</b>\n"
            "• Your Telegram id, name, username and language, as Telegram shows them: to know "
            "you and speak your language.\n"
            "• Your birthday (month and day) and time zone, only if you set them: for your "
            "birthday gift and to keep quiet at night.\n"
            "• Your orders, payments, points and commission: for accounting. They are kept "
            "for as long as bookkeeping law requires, even after you erase your data (then "
            "under an anonymous name).\n"
            "• Who invited you and whom you invited: for referral rewards.\n"
            "• Whether you want offers, with the time and the wording you agreed to: only "
            "those who said yes get offers. /stop ends them at once.\n"
            "• Check-ins, coupons, tier and member segment: for your perks.\n"
            "• Review comments: deleted after {review_days}.\n"
            "• Privileged actions (staff and leaders): in an audit log.\n\n"
            "/mydata sends you all of it as a file; /forgetme erases your personal data."
        ).format(review_days=counted("day", days["review_comment"]))
    )


@router.message(Command("mydata", "forgetme", "privacy"), ~PRIVATE)
async def in_group(message: Message) -> None:
    """Points to the private chat: personal data is never shown in a group."""
    await message.reply(_("Please send me this in a private chat: your data is yours alone."))
