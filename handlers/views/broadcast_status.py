"""How staff read a broadcast: the wizard's last look (whom it reaches, why deliveries wait,
the lint's findings, an A/B test's split) and the status card with its controls (/broadcasts,
/broadcast_status), shared by handlers/broadcast.py and handlers/broadcast_control.py."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.abtest import result_button
from handlers.views.broadcast import BroadcastSettings, targets_text
from handlers.views.content import given_line, language_name
from handlers.views.labels import BROADCAST_STATUS, SKIP_REASON, label
from handlers.views.text import N_, CallbackId, counted, esc, sentences
from models.base import Clock
from models.broadcast import TARGET_COMMUNITY, TARGET_TIER, VARIANT_A, VARIANT_B, VARIANT_HOLDOUT
from services import broadcast as outbox
from services.abtest import arm_sizes
from services.community import get_community
from services.compliance import (
    ABSOLUTE_CLAIM,
    BUY_LINK,
    DISCOUNT,
    MISSING_DEADLINE,
    MISSING_PRICE,
    PRICE,
    Finding,
    highlight,
)
from services.member import MemberView
from services.tiers import list_tiers
from services.validation import number
from services.zones import show, staff_zone


class Waker(Protocol):
    """Something that sends due outbox rows soon (bot.outbox.BroadcastSender)."""

    def wake(self) -> None: ...


# ---------------------------------------------------------------- the last look -------------


def local_time(moment: datetime, zone: str) -> str:
    """A moment as staff read it in `zone`: 2026-11-25 20:00."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def reader_zone(member: MemberView, settings: BroadcastSettings) -> str:
    """The time zone a staff member reads times in (theirs, else the brand's)."""
    return staff_zone(member.timezone, settings.default_timezone)


def plan_waits(plan: outbox.PlanSummary, reader: str) -> list[str]:
    """Why deliveries wait past the chosen time: quiet hours until when, in which zone, and
    chats held back by the caps or the gap between two posts."""
    lines = [
        _("Held back by quiet hours until {time}: {chats}.").format(
            time=esc(show(wait.until, wait.timezone, reader=reader)),
            chats=counted("chat", wait.chats),
        )
        for wait in plan.quiet
    ]
    if plan.paced:
        lines.append(
            _("Held back by the weekly cap or the gap between two posts: {chats}.").format(
                chats=counted("chat", plan.paced)
            )
        )
    return lines


FINDING_NAMES = {
    MISSING_PRICE: N_("The drop does not say its price."),
    MISSING_DEADLINE: N_("The drop does not say until when it runs."),
}
ERRORS = {
    "targets": N_("Pick who gets it with the buttons."),
    "tag": N_("A tag is 1-32 letters, digits, _ or -, like tea or shanghai_east."),
    "no_recipients": N_("Nobody would get this broadcast: no community or member matches."),
    "not_found": N_("There is no broadcast #{id}."),
    "state": N_("Broadcast #{id} is {status}: that cannot be done now."),
    "bad_translation": N_("A translation is too long or in a language I do not speak."),
    "reads_as_promotion": N_(
        "It reads as a promotion, so it cannot go as content: send it as a promotion."
    ),
    "ab_no_members": N_(
        "An A/B test splits members who get it in private, and none would: pick members, "
        "or drop variant B and the hold-out."
    ),
}
VARIANT_B_KEY = "b"  # variant B among the texts the summary previews and lints
# why a post offered as content reads as a promotion
PROMOTION_SIGNS = {
    PRICE: N_("a price: {word}"),
    DISCOUNT: N_("a discount: {word}"),
    BUY_LINK: N_("a buy link: {word}"),
}


def in_language(locale: str, text: str) -> str:
    """A line about the text in `locale` ("": the original, said as it is)."""
    if not locale:
        return text
    if locale == VARIANT_B_KEY:
        return _("In variant B: {texts}").format(texts=text)
    return _("In {language}: {texts}").format(language=language_name(locale), texts=text)


def error_text(code: str) -> str:
    """An error message by its code, translated."""
    return _(ERRORS[code])


def plan_lines(
    plan: outbox.PlanSummary, draft: outbox.Draft, member: MemberView, settings: BroadcastSettings
) -> list[str]:
    """The summary's head: whom it reaches, who is skipped, when, what it costs, in which
    languages and, for an A/B test, how the members split."""
    zone = reader_zone(member, settings)
    lines = [
        _("Ready to send. It reaches {chats}: {groups} and {members}.").format(
            chats=counted("chat", plan.recipients),
            groups=counted("group", plan.groups),
            members=counted("member", plan.members),
        )
    ]
    for reason, count in plan.skipped.items():
        lines.append(
            _("Skipped: {count} ({reason}).").format(count=count, reason=label(SKIP_REASON, reason))
        )
    if plan.earliest is not None and plan.latest is not None:
        lines.append(
            _("First delivery {earliest}, last {latest} ({zone}).").format(
                earliest=local_time(plan.earliest, zone),
                latest=local_time(plan.latest, zone),
                zone=esc(zone),
            )
        )
        lines += plan_waits(plan, zone)
    if draft.paid:
        lines.append(paid_line(settings.broadcast_paid_per_second))
    also = given_line(draft.translations)
    if also:
        lines.append(
            sentences(
                also, _("Every other chat gets it in the brand's language, else as you wrote it.")
            )
        )
    if draft.is_test:
        lines.append(ab_line(draft, plan.members))
    return lines


def finding_lines(
    findings: list[Finding], linted: dict[str, list[Finding]], texts: dict[str, str]
) -> list[str]:
    """The lint's findings, each language's absolute claims marked in its text."""
    lines = ["", _("⚠️ Compliance findings:")]
    claims = [f for f in findings if f.kind == ABSOLUTE_CLAIM]
    if claims:
        lines.append(
            _("Absolute claims that advertising law forbids: {words}").format(
                words=esc(", ".join(f.word for f in claims))
            )
        )
        for locale, found in linted.items():  # where, in each language's text
            marked = [f for f in found if f.kind == ABSOLUTE_CLAIM]
            if marked:
                lines.append(in_language(locale, highlight(texts[locale], marked)))
    for locale, found in linted.items():
        for finding in found:
            if finding.kind in FINDING_NAMES:
                lines.append("• " + in_language(locale, _(FINDING_NAMES[finding.kind])))
    lines.append(_("Fix the text (/cancel and start again), or send anyway with a reason."))
    return lines


def ab_line(draft: outbox.Draft, members: int) -> str:
    """The A/B test as it will split the members who get it in private."""
    sizes = arm_sizes(members, holdout_pct=draft.holdout_pct, variants=2 if draft.text_b else 1)
    return _(
        "A/B test among the {members} who get it in private: A {a}, B {b}, held out {held} "
        "(recorded, not sent). Each member's arm is drawn at random and kept."
    ).format(
        members=counted("member", members),
        a=sizes[VARIANT_A],
        b=sizes[VARIANT_B],
        held=sizes[VARIANT_HOLDOUT],
    )


# ---------------------------------------------------------------- the status card -----------


class BroadcastControlAction(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


class BroadcastControlCallback(CallbackData, prefix="bc"):
    """A control button under /broadcasts."""

    action: BroadcastControlAction
    broadcast_id: CallbackId


def paid_line(per_second: float) -> str:
    """The line that says a broadcast goes out paid, and how fast."""
    return _(
        "Paid broadcast: sent with allow_paid_broadcast at up to {rate} a second, "
        "charged in Telegram Stars."
    ).format(rate=counted("message", int(per_second)))


async def targets_in_words(session: AsyncSession, targets: str) -> str:
    """Who a broadcast goes to, in words, for an HTML message."""
    kind, _sep, value = targets.partition(":")
    groups: dict[int, str] = {}
    if kind == TARGET_COMMUNITY and value.lstrip("-").isdecimal():
        group = await get_community(session, int(value))
        groups = {group.id: group.title} if group and group.title else {}
    tiers = {t.rank: t for t in await list_tiers(session)} if kind == TARGET_TIER else {}
    return esc(targets_text(targets, tiers, groups))


def status_text(
    view: outbox.Progress, zone: str, now: datetime, settings: BroadcastSettings, targets: str
) -> str:
    """A broadcast's card: its rows by status, whether it is paid and when it ends."""
    counts = view.counts
    paid = view.paid and settings.broadcast_paid
    per_second = settings.broadcast_rate(paid)
    lines = [
        _("Broadcast #{id} ({targets}): {status}").format(
            id=view.id,
            targets=targets,
            status=label(BROADCAST_STATUS, view.status),
        ),
        _(
            "Sent {sent}, waiting {waiting}, deferred {deferred}, skipped {skipped}, "
            "failed {failed} of {total}."
        ).format(
            sent=counts.get("sent", 0),
            waiting=counts.get("pending", 0) + counts.get("sending", 0),
            deferred=counts.get("deferred", 0),
            skipped=counts.get("skipped", 0),
            failed=counts.get("failed", 0),
            total=view.total,
        ),
    ]
    if paid:
        lines.append(paid_line(per_second))
    finish = view.estimated_finish(now, per_second)
    if view.finished_at is not None:
        lines.append(
            _("Finished {when} ({zone}).").format(
                when=local_time(view.finished_at, zone), zone=esc(zone)
            )
        )
    elif finish is not None:
        lines.append(
            _("Estimated finish {when} ({zone}).").format(
                when=local_time(finish, zone), zone=esc(zone)
            )
        )
    return "\n".join(lines)


def control_keyboard(view: outbox.Progress) -> InlineKeyboardMarkup | None:
    """Pause, resume or cancel as the status allows, and an A/B test's result button."""
    rows = [[result_button(view.id)]] if view.is_test else []
    buttons = []
    if view.status in ("scheduled", "running"):
        buttons.append(("⏸", BroadcastControlAction.PAUSE))
    if view.status == "paused":
        buttons.append(("▶️", BroadcastControlAction.RESUME))
    if view.status in ("scheduled", "running", "paused"):
        buttons.append(("✖️", BroadcastControlAction.CANCEL))
    if buttons:
        rows.insert(
            0,
            [
                InlineKeyboardButton(
                    text=f"{icon} #{view.id}",
                    callback_data=BroadcastControlCallback(
                        action=action, broadcast_id=view.id
                    ).pack(),
                )
                for icon, action in buttons
            ],
        )
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


async def status_card(
    session: AsyncSession,
    view: outbox.Progress,
    member: MemberView,
    settings: BroadcastSettings,
    now: datetime,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A broadcast's card as the reader sees it: the text in their time zone, and its controls."""
    targets = await targets_in_words(session, view.targets)
    text = status_text(view, reader_zone(member, settings), now, settings, targets)
    return text, control_keyboard(view)


async def send_status(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
    words: list[str],
) -> None:
    """/broadcast_status ID (and /broadcast status ID): the card of one broadcast."""
    broadcast_id = number(words[0]) if len(words) == 1 else None
    if broadcast_id is None:
        await message.answer(_("Send /broadcast_status 12 with the number of the broadcast."))
        return
    view = await outbox.progress(session, broadcast_id=broadcast_id)
    if view is None:
        await message.answer(error_text("not_found").format(id=broadcast_id))
        return
    text, markup = await status_card(session, view, member, settings, clock())
    await message.answer(text, reply_markup=markup)
