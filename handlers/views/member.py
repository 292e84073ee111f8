"""How a look-up of a member named in a command (@username or id) is answered when it finds
nobody, or several."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from babel.lists import format_list
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.text import esc, esc_name
from services.member import AmbiguousMember, MemberView, find_member


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


def unknown_text() -> str:
    """The named member has not met the bot yet, and how they can fix that."""
    return _(
        "I don't know that user yet. Ask them to send /start to me (or to write in one "
        "of our groups), then try again."
    )


async def named_member(
    session: AsyncSession,
    word: str,
    send: Callable[[str], Awaitable[Any]],
    unknown: str | None = None,
) -> MemberView | None:
    """The member `word` names (@username or numeric id); says what to fix through `send`
    (the message's reply or answer) and returns None when it names nobody (told `unknown`,
    by default `unknown_text()`), or several."""
    try:
        found = await find_member(session, word)
    except AmbiguousMember as exc:
        await send(ambiguous_text(exc))
        return None
    if found is None:
        await send(unknown if unknown is not None else unknown_text())
    return found
