"""A 接龙 list's lines as the group reads them, shared by the jielong router and the waitlist."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from handlers.views.text import (
    esc,
    format_money,
    list_text,
)
from services.groupbuy import (
    OrderLine,
)


def lines_text(
    lines: tuple[OrderLine, ...], currency: str, locale: str, *, html: bool = True
) -> str:
    """A member's order in a list, on one line: each item with its quantity, then the total
    (names escaped for an HTML message, else plain, for a popup)."""
    if not lines:
        return _("nothing")
    shown = esc if html else str
    items = list_text(f"{line.item}. {shown(line.name)} ×{line.quantity}" for line in lines)
    total = sum(line.quantity * line.unit_price for line in lines)
    return items + " · " + format_money(total, currency, locale)
