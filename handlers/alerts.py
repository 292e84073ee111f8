"""/alert_set, /alerts and /alert_remove: staff set thresholds on the numbers they watch
(services/alerts.py), and bot/alerts.py tells them when one is crossed."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.digest import alert_rule_text, alert_threshold_text
from handlers.views.text import N_, esc
from models.base import Clock
from services.alerts import (
    AlertError,
    AlertRefusal,
    add_alert,
    list_alerts,
    parse_rule,
    remove_alert,
)
from services.member import MemberView
from services.role import Role
from services.validation import number

router = Router(name="alerts")

USAGE = N_(
    "Send /alert_set NUMBER < or > THRESHOLD [GROUP], e.g. /alert_set active_rate < 40%, "
    "/alert_set nps < 0 or /alert_set refund_rate > 5% -1001234567890.\n"
    "NUMBER: active_rate (活跃率), fission_rate (裂变率), repurchase_rate (复购率), nps or "
    "refund_rate (退款率). GROUP: a group's id (as /groups shows it); without it, the whole "
    "brand."
)
REFUSALS: dict[str, str] = {
    AlertRefusal.METRIC: N_(
        "“{word}” is not a number I watch: use active_rate, fission_rate, repurchase_rate, "
        "nps or refund_rate."
    ),
    AlertRefusal.RATE: N_("A rate's threshold is a percentage from 0% to 100%, not {word}."),
    AlertRefusal.NPS: N_("NPS is a whole number from -100 to 100 (no %), not {word}."),
    AlertRefusal.GROUP: N_(
        "I do not know the group {word}. Send /groups to see the groups and their ids."
    ),
    AlertRefusal.DUPLICATE: N_("That alert is set already. /alerts lists them."),
    AlertRefusal.TOO_MANY: N_(
        "That is as many alerts as I keep: remove one with /alert_remove first."
    ),
}


@router.message(Command("alert_set"), PRIVATE, RoleFilter(Role.STAFF, "alert.set"))
async def alert_set(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
) -> None:
    """Sets an alert from one line, or says how to."""
    try:
        rule = parse_rule(command.args or "")
        alert = await add_alert(session, rule=rule, actor_id=member.id, now=clock())
    except AlertError as exc:
        if exc.reason in (AlertRefusal.USAGE, AlertRefusal.VALUE):
            await message.answer(esc(_(USAGE)))
        else:
            await message.answer(_(REFUSALS[exc.reason]).format(word=esc(exc.detail)))
        return
    await message.answer(
        _(
            "Alert #{id} set: {rule}. I check it every few minutes and tell staff once a day "
            "while it holds."
        ).format(
            id=alert.id,
            rule=alert_rule_text(
                alert.metric, alert.op, alert.threshold, alert.title, member.locale
            ),
        )
    )


@router.message(Command("alerts"), PRIVATE, RoleFilter(Role.STAFF, "alert.list"))
async def alerts_list(message: Message, session: AsyncSession, member: MemberView) -> None:
    """Lists the alerts with their numbers and when each last fired."""
    alerts = await list_alerts(session)
    if not alerts:
        await message.answer(_("No alerts yet.") + "\n\n" + esc(_(USAGE)))
        return
    lines = [_("<b>Alerts</b>")]
    for alert in alerts:
        line = f"#{alert.id} " + alert_rule_text(
            alert.metric, alert.op, alert.threshold, alert.title, member.locale
        )
        if alert.fired_on is not None and alert.fired_value is not None:
            line += " · " + _("last fired {day} at {value}").format(
                day=alert.fired_on.isoformat(),
                value=alert_threshold_text(alert.metric, alert.fired_value, member.locale),
            )
        lines.append(line)
    lines.append(_("Remove one with /alert_remove ID."))
    await message.answer("\n".join(lines))


@router.message(Command("alert_remove"), PRIVATE, RoleFilter(Role.STAFF, "alert.remove"))
async def alert_remove(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
) -> None:
    """Removes an alert by its number."""
    alert_id = number(command.args or "")
    if alert_id is None:
        await message.answer(_("Send /alert_remove ID with the number of an alert from /alerts."))
        return
    if not await remove_alert(session, alert_id=alert_id, actor_id=member.id, now=clock()):
        await message.answer(
            _("There is no alert #{id}. /alerts lists them with their numbers.").format(id=alert_id)
        )
        return
    await message.answer(_("Alert #{id} removed.").format(id=alert_id))
