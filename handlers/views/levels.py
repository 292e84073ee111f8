"""How layered communities read: level names, who may join, the refusals of a level change,
the size warning, and /stats' members per level (shared by chat and the dashboard).
Also the invitation to a product's buyers' group once an order is paid (the order router)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _

from handlers.views.groups import group_name
from handlers.views.perks import tier_name
from handlers.views.text import (
    N_,
    NC_,
    BackgroundSender,
    esc_name,
    pgettext,
)
from models.community import JOIN_PAID, JOIN_TIER, LEVEL_CORE, LEVEL_OPEN, LEVEL_VIP
from services.levels import (
    BuyersInvitation,
    LevelLine,
    LevelRefusal,
    LevelView,
    SizeWarning,
)

LEVEL_CONTEXT = "group level"
LEVEL_NAMES = {
    LEVEL_OPEN: NC_("group level", "open"),
    LEVEL_VIP: NC_("group level", "VIP"),
    LEVEL_CORE: NC_("group level", "core"),
}

# why staff's level change or invitation was refused (LevelError.reason), in chat and on the
# dashboard; {word} is what they wrote, escaped
REFUSALS: dict[str, str] = {
    LevelRefusal.UNKNOWN: N_(
        "I do not know that group. Send /groups to see the groups and their ids."
    ),
    LevelRefusal.LEFT: N_("I am no longer in that group, so nothing was changed."),
    LevelRefusal.LEVEL: N_("“{word}” is not a level: use open, vip or core."),
    LevelRefusal.RULE: N_(
        "“{word}” is neither a tier nor a rule: use a tier's name (see /tiers), invite or paid."
    ),
    LevelRefusal.NOT_MEMBER: N_("I do not know that member yet: they need to write to me first."),
    LevelRefusal.ALREADY: N_("They are invited to that group already."),
    LevelRefusal.AREA: N_(
        "“{word}” is not an area: write a group tag like #pudong or a time zone like "
        "Asia/Shanghai, or nothing for every area."
    ),
}


def level_name(level: str) -> str:
    """A level's name in the reader's language."""
    return pgettext(LEVEL_CONTEXT, LEVEL_NAMES.get(level, LEVEL_NAMES[LEVEL_OPEN]))


def rule_text(view: LevelView) -> str:
    """Who may join the group, in a sentence."""
    if view.level == LEVEL_OPEN:
        return _("Anyone may join.")
    if view.join_rule == JOIN_TIER and view.tier is not None:
        return _("Members of tier {tier} and above may join.").format(tier=tier_name(view.tier))
    if view.join_rule == JOIN_PAID:
        return _("Members with an active paid membership of this level may join.")
    return _("Only members you invite may join (/group_invite).")


def level_set_text(view: LevelView) -> str:
    """Staff's confirmation of a group's new level and who may join (chat and dashboard)."""
    return (
        _("{group} is now a group of level {level}.").format(
            group=group_name(view.title, view.community_id), level=level_name(view.level)
        )
        + " "
        + rule_text(view)
    )


def size_warning_text(warning: SizeWarning) -> str:
    """The warning to a group's leader and staff that the group nears its size limit."""
    return _(
        "👥 {group} has {members}, close to the limit of {limit} a group should hold. "
        "Consider opening the next group now and inviting new members there."
    ).format(
        group=group_name(warning.title, warning.community_id),
        members=ngettext("{n} member", "{n} members", warning.count).format(n=warning.count),
        limit=warning.limit,
    )


def level_lines(lines: list[LevelLine]) -> str:
    """/stats: groups and members per level."""
    parts = [_("<b>Members per level</b>")]
    for line in lines:
        parts.append(
            _("{level}: {groups}, {members}").format(
                level=level_name(line.level),
                groups=ngettext("{n} group", "{n} groups", line.groups).format(n=line.groups),
                members=ngettext("{n} member", "{n} members", line.members).format(n=line.members),
            )
        )
    return "\n".join(parts)


def invite_to_buyers_group(
    notifier: BackgroundSender, bot: Bot, i18n: I18n, invitation: BuyersInvitation
) -> None:
    """After commit: a one-time invite link to the buyers' group, sent to the first buyer in
    private with a button that opens it (one member may use it, once). Both calls go through
    the background sender, so a passing Telegram failure is tried again; the link is made once."""
    with i18n.use_locale(invitation.locale):
        text = _(
            "Thank you for your first order! You are invited to {group}, our buyers' group: "
            "tips, first looks and other buyers near you. The link below is yours alone and "
            "works once."
        ).format(group=f"<b>{esc_name(invitation.title)}</b>")
        label = _("Join the buyers' group")
    links: list[str] = []  # the link made by the first step (kept when the second is retried)

    async def make_link() -> None:
        link = await bot.create_chat_invite_link(
            invitation.community_id, name="buyers", member_limit=1
        )
        links.append(link.invite_link)

    async def send() -> None:
        await bot.send_message(
            invitation.member_id,
            text,
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text=label, url=links[-1])]]
            ),
        )

    notifier.send_steps(invitation.member_id, make_link, send)
