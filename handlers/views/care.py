"""Care rules as staff read them (handlers/care.py and the broadcast wizard): the segment name."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from handlers.views.labels import SEGMENT, label


def segment_name(segment: str | None) -> str:
    return label(SEGMENT, segment) if segment else _("any")
