"""How layered communities read: level names, the size warning, and /stats' members per level."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from handlers.text import NC_, pgettext
from handlers.views.groups import group_name
from models.community import LEVEL_CORE, LEVEL_OPEN, LEVEL_VIP
from services.levels import LevelLine, SizeWarning

LEVEL_CONTEXT = "group level"
LEVEL_NAMES = {
    LEVEL_OPEN: NC_("group level", "open"),
    LEVEL_VIP: NC_("group level", "VIP"),
    LEVEL_CORE: NC_("group level", "core"),
}


def level_name(level: str) -> str:
    """A level's name in the reader's language."""
    return pgettext(LEVEL_CONTEXT, LEVEL_NAMES.get(level, LEVEL_NAMES[LEVEL_OPEN]))


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
