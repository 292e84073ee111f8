"""How a look-up of a member by @username that matches several rows is refused."""

from __future__ import annotations

from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from babel.lists import format_list

from handlers.views.text import esc, esc_name
from services.member import AmbiguousMember


def ambiguous_text(exc: AmbiguousMember) -> str:
    """Which members held the name, and to name one by its numeric id instead."""
    people = format_list(
        [
            _("{name} ({id})").format(name=esc_name(who.first_name) or "?", id=who.id)
            for who in exc.candidates
        ],
        locale=get_i18n().current_locale,
    )
    return _(
        "Several members have used @{username}, so I cannot tell which one you mean: {people}. "
        "Use the numeric id instead of the @username, or reply to one of their messages."
    ).format(username=esc(exc.username), people=people)
