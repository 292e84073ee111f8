"""Fill the English catalog: each message's translation is its own text (the source language)."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po


def main(path: str) -> int:
    po = Path(path)
    with po.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    for message in catalog:
        if message.pluralizable and not any(message.string):  # ngettext: singular and plural
            message.string = tuple(message.id)
        elif message.id and not message.string:
            message.string = message.id
    with po.open("wb") as handle:
        write_po(handle, catalog, no_location=True, sort_output=True, width=100)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
