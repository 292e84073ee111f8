"""Staff set up lifecycle care in chat: what a member gets on entering a segment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.abtest import percent
from handlers.views.care import segment_name
from handlers.views.lint import clear_command, split_override
from handlers.views.perks import points_text
from handlers.views.text import N_, HandlerSettings, esc
from models.segments import SEGMENTS
from services.abtest import AbTestError, parse_holdout
from services.coupons import template_by_code
from services.member import MemberView
from services.parsing import split_option
from services.role import Role
from services.segments import (
    SegmentError,
    SegmentRefusal,
    add_rule,
    list_rules,
    retire_rule,
    segment_counts,
)
from services.validation import number

router = Router(name="care")

CARE_USAGE = N_(
    "Send /care_add SEGMENT [from=SEGMENT] [points=N] [coupon=CODE] [holdout=PERCENT] | "
    "message [|| variant B]. Segments: new, active, loyal, at_risk, churned. For example: "
    "/care_add churned points=50 coupon=BACK10 | We miss you! Here is something to come back "
    "for."
)
BAD_POINTS = N_("Points must be a whole number from 0 to 1,000,000,000.")
CARE_ERRORS: dict[str, str] = {
    SegmentRefusal.BAD_SEGMENT: CARE_USAGE,
    SegmentRefusal.EMPTY: N_("A care rule needs a message, points or a coupon."),
    SegmentRefusal.TOO_LONG: N_("The message can be at most 1,024 characters."),
    SegmentRefusal.BAD_POINTS: BAD_POINTS,
    SegmentRefusal.B_WITHOUT_A: N_("Variant B needs a first message: | message || variant B."),
    SegmentRefusal.BAD_HOLDOUT: N_(
        "The hold-out is a whole number of percent from 0 to 50, like holdout=10."
    ),
}


@router.message(Command("care"), PRIVATE, RoleFilter(Role.STAFF, "care.list"))
async def care_command(message: Message, session: AsyncSession, member: MemberView) -> None:
    """How many members are in each segment, and the care rules that run."""
    counts = await segment_counts(session)
    lines = [_("<b>Members by segment</b>")]
    lines += [
        _("{segment}: {count}").format(segment=segment_name(s), count=counts[s]) for s in SEGMENTS
    ]
    lines += ["", _("<b>Care rules</b>")]
    rules = await list_rules(session)
    if not rules:
        lines.append(_("None yet. Add one with /care_add."))
    for rule in rules:
        gifts = []
        if rule.points:
            gifts.append(points_text(rule.points, member.locale))
        if rule.coupon_template_id is not None:
            gifts.append(_("a coupon"))
        lines.append(
            _("#{id} {before} → {after}: {gifts} {text}").format(
                id=rule.id,
                before=segment_name(rule.from_segment),
                after=segment_name(rule.to_segment),
                gifts=", ".join(gifts) or "—",
                text=f"“{esc(rule.text[:80])}”" if rule.text else "",
            )
        )
        if rule.text_b or rule.holdout_pct:
            lines.append(
                "  "
                + _("A/B test: variant B {text}, hold-out {share}; /care_result {id}").format(
                    text=f"“{esc(rule.text_b[:80])}”" if rule.text_b else "—",
                    share=percent(rule.holdout_pct * 100, member.locale),
                    id=rule.id,
                )
            )
    await message.answer("\n".join(lines))


@router.message(Command("care_add"), PRIVATE, RoleFilter(Role.STAFF, "care.add"))
async def care_add(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Callable[[], datetime],
) -> None:
    """Adds a care rule: /care_add SEGMENT [from=SEGMENT] [points=N] [coupon=CODE] | text. The
    text is a promotion in private: linted (`!!anyway reason` at the end goes ahead despite
    findings)."""
    args, reason = split_override(command.args or "")
    head, _sep, texts = args.partition("|")
    # "|| variant B" after the message makes the rule an A/B test of two texts
    text, _sep, text_b = texts.partition("||")
    words = head.split()
    if not words:
        await message.answer(_(CARE_USAGE))
        return
    options: dict[str, str] = {}
    for word in words[1:]:
        option = split_option(word)
        if option is None or option[0] not in ("from", "points", "coupon", "holdout"):
            await message.answer(_(CARE_USAGE))
            return
        key, value = option
        if not value:
            await message.answer(_(CARE_USAGE))
            return
        options[key] = value
    try:
        holdout = parse_holdout(options.get("holdout", "0"))
    except AbTestError:
        await message.answer(_(CARE_ERRORS[SegmentRefusal.BAD_HOLDOUT]))
        return
    points_text_value = options.get("points", "0")
    # ASCII digits only (a look-alike or a number past ten digits gets its clear refusal)
    if number(points_text_value, prefix="", maximum=10**10 - 1) is None:
        await message.answer(_(BAD_POINTS))
        return
    template_id = None
    if "coupon" in options:
        template = await template_by_code(session, options["coupon"])
        if template is None:
            await message.answer(_("There is no coupon with that code."))
            return
        template_id = template.id
    cleared = await clear_command(
        message,
        [part.strip() for part in (text, text_b) if part.strip()],
        extra_words=settings.compliance_extra_words,
        reason=reason,
    )
    if cleared is None:
        return
    try:
        rule = await add_rule(
            session,
            to_segment=words[0].lower(),
            from_segment=options["from"].lower() if "from" in options else None,
            text=text.strip(),
            points=int(points_text_value),
            coupon_template_id=template_id,
            created_by=member.id,
            text_b=text_b.strip(),
            holdout_pct=holdout,
        )
    except SegmentError as exc:
        await message.answer(_(CARE_ERRORS.get(exc.reason, CARE_USAGE)))
        return
    await cleared.audit(
        session, actor_id=member.id, action="care.add", what=f"#{rule.id}", now=clock()
    )
    await message.answer(
        _("Care rule #{id} added: members entering {segment} get it once.").format(
            id=rule.id, segment=segment_name(rule.to_segment)
        )
    )


@router.message(Command("care_off"), PRIVATE, RoleFilter(Role.STAFF, "care.retire"))
async def care_off(message: Message, command: CommandObject, session: AsyncSession) -> None:
    """Stops a care rule: /care_off ID."""
    rule_id = number(command.args or "")
    if rule_id is None:
        await message.answer(_("Send /care_off ID with the number of a rule from /care."))
        return
    if not await retire_rule(session, rule_id=rule_id):
        await message.answer(
            _("There is no active care rule #{id}. /care lists them with their numbers.").format(
                id=rule_id
            )
        )
        return
    await message.answer(_("Care rule #{id} stopped.").format(id=rule_id))
