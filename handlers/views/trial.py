"""Product trials (体验官) as people see them: the invitation with its buttons, the reminders,
the rating buttons of a report, staff's summary and the reports as CSV."""

from __future__ import annotations

import csv
import io
from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal, format_percent

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.reservation import local_moment, named_moment
from handlers.views.review import stars_row
from handlers.views.text import N_, CallbackId, esc, esc_name, format_money
from services.tables import safe_cell
from services.trial import Created, ReportRow, Summary, TrialRefusal, TrialStats, TrialView
from services.zones import member_zone


class TrialAction(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    REPORT = "report"  # start the report
    RATE = "rate"  # an aspect rated `value`
    DONE = "done"  # the photos finished
    SHARE = "share"  # consent to share
    KEEP = "keep"  # no consent to share


class TrialCallback(CallbackData, prefix="trl"):
    """A button of a trial: accept or decline the invitation, rate an aspect (`value`), finish
    the photos, consent to share (or not), start the report."""

    action: TrialAction
    trial_id: CallbackId
    value: int = 0


def invitation_keyboard(trial_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("✅ Accept"),
        callback_data=TrialCallback(action=TrialAction.ACCEPT, trial_id=trial_id),
    )
    builder.button(
        text=_("✖️ Decline"),
        callback_data=TrialCallback(action=TrialAction.DECLINE, trial_id=trial_id),
    )
    return builder.as_markup()


def invitation_text(trial: TrialView, locale: str, timezone: str, reader: str | None = None) -> str:
    """The private invitation: what, how many places, what the report asks and by when (on
    the clock of `timezone`, named when it is not the `reader`'s own zone)."""
    return _(
        "🎁 You are invited to try <b>{title}</b> for free, as one of our {places} trial "
        "ambassadors (体验官). If you accept, you get a free trial order, picked up or "
        "delivered as usual, and by {due} you send a short report: a rating for {aspects}, a "
        "few words and photos. Places go to the first who accept."
    ).format(
        title=esc_name(trial.title),
        places=trial.places,
        due=named_moment(trial.due_at, timezone, reader),
        aspects=esc(", ".join(trial.aspects)),
    )


def report_keyboard(trial_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("📝 Write my report"),
        callback_data=TrialCallback(action=TrialAction.REPORT, trial_id=trial_id),
    )
    return builder.as_markup()


def reminder_text(i18n: I18n, locale: str, trial: TrialView, late: bool, timezone: str) -> str:
    """The reminder before the due date, or after it when the report is late."""
    with i18n.use_locale(locale):
        text = (
            _(
                "Your trial report on {title} was due on {due}. We would still love to hear how "
                "it went: it takes two minutes."
            )
            if late
            else _(
                "A reminder: your trial report on {title} is due on {due}. Tap below to rate "
                "it, add a few words and photos."
            )
        )
        return text.format(title=esc_name(trial.title), due=local_moment(trial.due_at, timezone))


def rating_keyboard(trial_id: int) -> InlineKeyboardMarkup:
    """Five buttons, one to five stars, rating one aspect of the trial."""
    return stars_row(
        lambda stars: TrialCallback(action=TrialAction.RATE, trial_id=trial_id, value=stars)
    )


def done_keyboard(trial_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("✅ Done"), callback_data=TrialCallback(action=TrialAction.DONE, trial_id=trial_id)
    )
    return builder.as_markup()


def consent_keyboard(trial_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("📣 Yes, share it as a review"),
        callback_data=TrialCallback(action=TrialAction.SHARE, trial_id=trial_id),
    )
    builder.button(
        text=_("No, keep it for the brand"),
        callback_data=TrialCallback(action=TrialAction.KEEP, trial_id=trial_id),
    )
    builder.adjust(1)
    return builder.as_markup()


def trial_line(trial: TrialView, locale: str, timezone: str) -> str:
    """#3 Oolong tea · 7/10 places · due 12-20 18:00 · taste, packaging"""
    return _("#{id} {title} · taken {taken}/{places} · due {due} · {aspects}").format(
        id=trial.id,
        title=esc_name(trial.title),
        taken=trial.taken,
        places=trial.places,
        due=local_moment(trial.due_at, timezone),
        aspects=esc(", ".join(trial.aspects)),
    )


def created_text(trial: TrialView, invited: int, unreachable: int, locale: str, tz: str) -> str:
    text = ngettext(
        "Trial #{id} created: {title}, {places} place worth {value}, report due {due}. "
        "Invited in private: {invited}.",
        "Trial #{id} created: {title}, {places} places worth {value} each, report due {due}. "
        "Invited in private: {invited}.",
        trial.places,
    ).format(
        id=trial.id,
        title=esc_name(trial.title),
        places=trial.places,
        value=format_money(trial.value, trial.currency, locale),
        due=local_moment(trial.due_at, tz),
        invited=invited,
    )
    if unreachable:
        text += " " + _(
            "{n} more could not be invited: they never opened a private chat with me."
        ).format(n=unreachable)
    return text + " " + _("Send /trial {id} for its reports.").format(id=trial.id)


def summary_text(summary: Summary, locale: str, timezone: str) -> str:
    """/trial ID: the trial, who answered, the report rate and the average per aspect."""
    trial = summary.trial
    rate = (
        format_percent(summary.report_rate, "#,##0.#%", locale=locale)
        if summary.report_rate is not None
        else "—"
    )
    lines = [
        trial_line(trial, locale, timezone),
        _(
            "Invited {invited} · accepted {accepted} · declined {declined} · too late {missed}"
        ).format(
            invited=summary.invited,
            accepted=summary.accepted,
            declined=summary.declined,
            missed=summary.missed,
        ),
        _("Reports: {reported} of {accepted} ({rate}); good reports: {good}").format(
            reported=summary.reported, accepted=summary.accepted, rate=rate, good=summary.good
        ),
    ]
    for aspect in trial.aspects:
        average = summary.averages.get(aspect)
        shown = format_decimal(round(average, 1), format="0.0", locale=locale) if average else "—"
        lines.append(f"• {esc(aspect)}: ⭐ {shown}")
    return "\n".join(lines)


def reports_csv(trial: TrialView, rows: list[ReportRow]) -> bytes:
    """Every invitation of the trial with its report, one line each (UTF-8 with BOM, which
    spreadsheet programs read as Chinese-safe)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "member_id",
            "name",
            "status",
            "order_id",
            *(f"rating_{a}" for a in trial.aspects),
            "report",
            "photos",
            "reported_at",
            "good",
            "shared",
        ]
    )
    for row in rows:
        writer.writerow(
            safe_cell(cell)
            for cell in [
                row.member_id,
                row.name,
                row.status,
                row.order_id or "",
                *(row.ratings.get(a, "") for a in trial.aspects),
                row.report,
                row.photos,
                row.reported_at,
                row.good,
                row.shared,
            ]
        )
    return out.getvalue().encode("utf-8-sig")


def stats_line(stats: TrialStats, locale: str) -> str:
    """/stats: the trial report rate of the trials due in the period."""
    rate = (
        format_percent(stats.reported / stats.ambassadors, "#,##0.#%", locale=locale)
        if stats.ambassadors
        else "—"
    )
    return ngettext(
        "Trial reports: {reported} of {n} ambassador ({rate})",
        "Trial reports: {reported} of {n} ambassadors ({rate})",
        stats.ambassadors,
    ).format(reported=stats.reported, n=stats.ambassadors, rate=rate)


ERRORS: dict[str, str] = {
    TrialRefusal.BAD_PLACES: N_("Give the number of places as places=10 (1 to 500)."),
    TrialRefusal.DUE_PAST: N_("The report's due date must be in the future, like due=14d."),
    TrialRefusal.BAD_DUE: N_(
        "I could not read the due date: {part}. Write due=14d or due=2026-12-31."
    ),
    TrialRefusal.NO_PRODUCT: N_("There is no active product {part}. See /products."),
    TrialRefusal.NO_VARIANT: N_("That product has no variant {part}: write PRODUCT:VARIANT."),
    TrialRefusal.CHOOSE_VARIANT: N_(
        "That product has variants: name one, like /trial_new {part}:Large places=10 …"
    ),
    TrialRefusal.NOT_ENOUGH_STOCK: N_("Not enough stock for that many places: {part} left."),
    TrialRefusal.BAD_INVITE: N_(
        "I could not read whom to invite: {part}. Use promoters, adopted, referrers, "
        "ambassadors, tier:NAME or @username."
    ),
    TrialRefusal.NO_TIER: N_("There is no tier {part}. See /tiers."),
    TrialRefusal.NO_MEMBER: N_("I do not know the member {part} yet."),
    TrialRefusal.AMBIGUOUS: N_("Several members go by {part}: use their numeric id."),
    TrialRefusal.BAD_ASPECTS: N_(
        "Name what the report rates as aspects=taste,packaging: one to six short words, not {part}."
    ),
    TrialRefusal.NO_TRIAL: N_("There is no trial #{part}."),
    TrialRefusal.NOBODY: N_(
        "Nobody in that audience can be invited yet (they need a private chat with me): "
        "no trial was created."
    ),
    TrialRefusal.NOT_INVITED: N_("That invitation is not yours."),
    TrialRefusal.ANSWERED: N_("You already answered this invitation."),
    TrialRefusal.CLOSED: N_("Sorry, this trial is closed: its places can no longer be taken."),
    TrialRefusal.NOT_AMBASSADOR: N_("You have no report to write for that trial."),
    TrialRefusal.REPORTED: N_("You already sent your report on this trial. Thank you!"),
    TrialRefusal.TOO_MANY_PHOTOS: N_("Your report already has 5 photos, the most it can carry."),
    TrialRefusal.SHARED: N_("That report was already shared, or the order already has a review."),
    TrialRefusal.BAD_RATING: N_("Rate each aspect from 1 to 5."),
}


def invitations(
    created: Created, i18n: I18n, timezone: str
) -> list[tuple[int, str, InlineKeyboardMarkup]]:
    """Each invitation to send once the trial committed: member, text in their language with
    the due time on their clock (their own zone, else their home group's, else the brand's
    `timezone`), buttons."""
    sent = []
    for invitee in created.invitees:
        zone = member_zone(invitee.timezone, invitee.home_zone, timezone)
        with i18n.use_locale(invitee.locale):
            text = invitation_text(created.trial, invitee.locale, zone, invitee.timezone)
            sent.append((invitee.member_id, text, invitation_keyboard(created.trial.id)))
    return sent
