"""Telegram text formatting: the HTML parse mode, bot command detection, UTF-16 helpers.

The HTML parser follows TDLib's ``parse_html`` (the code behind the Bot API server): it walks the
text once, decodes the four named entities plus numeric character references, keeps unknown
entities and a bare ``&`` literally (exactly like Telegram does), rejects unknown tags, unclosed
or mismatched tags and a bare ``<``, and reports errors with the same wording and byte offsets.
Entity offsets and lengths are counted in UTF-16 code units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "HtmlParseError",
    "find_bot_commands",
    "parse_html",
    "sort_entities",
    "strip_text",
    "utf16_len",
]

_SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = frozenset(" \t\r\n\v\f")
# TDLib's MessageEntity::get_type_priority, used to order entities starting at the same offset.
_PRIORITY = {
    "blockquote": 0,
    "expandable_blockquote": 0,
    "pre": 10,
    "code": 20,
    "text_link": 49,
    "text_mention": 49,
    "bot_command": 50,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
}
_TG_USER_LINK = re.compile(r"tg://user\?id=(\d{1,15})$", re.IGNORECASE)
_URL_WITH_SCHEME = re.compile(r"(?:https?|tg|ton)://\S+$", re.IGNORECASE)
_BARE_DOMAIN = re.compile(r"[\w-]+(?:\.[\w-]+)+(?::\d+)?(?:[/?#]\S*)?$")
_BOT_COMMAND = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>@])")


class HtmlParseError(ValueError):
    """The text is not valid Telegram HTML; ``str(err)`` is Telegram's error message."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (what Telegram entity offsets count)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    result_index: int


def _decode_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode an HTML entity starting at ``text[pos] == '&'``; returns (char, next position)."""
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        value = 0
        if end < n and text[end] == "x":
            end += 1
            while end < n and text[end] in "0123456789abcdefABCDEF":
                value = value * 16 + int(text[end], 16)
                end += 1
                if value >= 0x10FFFF:
                    return None
        else:
            while end < n and "0" <= text[end] <= "9":
                value = value * 10 + int(text[end])
                end += 1
                if value >= 0x10FFFF:
                    return None
        if value == 0 or end - pos >= 10:
            return None
        char = chr(value)
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(text[pos + 1 : end])
        if named is None:
            return None
        char = named
    if end < n and text[end] == ";":
        end += 1
    return char, end


def _check_url(url: str) -> str | None:
    url = url.strip()
    if _URL_WITH_SCHEME.match(url):
        return url
    if _BARE_DOMAIN.match(url):
        return "http://" + url
    return None


_PLAIN = re.compile(r"[^&<]+")


def parse_html(text: str, *, strict: bool = False) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into ``(plain_text, entities)``.

    Raises :class:`HtmlParseError` with Telegram's message on malformed input. With
    ``strict=True`` a ``&`` that does not start a supported entity is rejected too (Telegram
    itself keeps it literally; strict mode helps catching user input that was not escaped).
    """
    n = len(text)
    out: list[str] = []
    utf16 = 0
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < n:
        char = text[i]
        if char == "&":
            decoded = _decode_entity(text, i)
            if decoded is not None:
                out.append(decoded[0])
                utf16 += utf16_len(decoded[0])
                i = decoded[1]
                continue
            if strict:
                raise HtmlParseError(
                    'Unsupported HTML entity or unescaped "&" at byte offset '
                    f"{_byte_offset(text, i)}"
                )
        if char == "&":  # not an entity, kept as it is
            out.append(char)
            utf16 += 1
            i += 1
            continue
        if char != "<":  # plain text up to the next tag or entity, in one piece
            plain = _PLAIN.match(text, i)
            assert plain is not None
            out.append(plain.group(0))
            utf16 += utf16_len(plain.group(0))
            i = plain.end()
            continue

        begin = i
        i += 1
        if i >= n or text[i] != "/":
            i = _parse_start_tag(text, begin, stack, utf16, len(out))
        else:
            i = _parse_end_tag(text, begin, stack, utf16, out, entities)
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    result = "".join(out)
    if any("\ud800" <= char <= "\udfff" for char in result):
        raise HtmlParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        )
    return result, sort_entities(entities)


def _parse_start_tag(text: str, begin: int, stack: list[_OpenTag], utf16: int, out_len: int) -> int:
    n = len(text)
    i = begin + 1
    while i < n and text[i] not in _SPACES and text[i] != ">":
        i += 1
    if i >= n:
        raise HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
    tag = text[begin + 1 : i].lower()
    offset = _byte_offset(text, begin)
    if tag not in _SUPPORTED_TAGS:
        raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {offset}')

    argument = ""
    while i < n and text[i] != ">":
        while i < n and text[i] in _SPACES:
            i += 1
        if i < n and text[i] == ">":
            break
        attr_begin = i
        while i < n and text[i] not in _SPACES and text[i] != "=" and text[i] != ">":
            i += 1
        attr_name = text[attr_begin:i]
        if not attr_name:
            raise HtmlParseError(f'Empty attribute name in the tag "{tag}" at byte offset {offset}')
        while i < n and text[i] in _SPACES:
            i += 1
        if i >= n:
            raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
        if text[i] != "=":
            if tag == "blockquote" and attr_name == "expandable":
                argument = "1"
                continue
            raise HtmlParseError(
                "Expected equal sign in declaration of an attribute of the tag "
                f'"{tag}" at byte offset {offset}'
            )
        i += 1
        while i < n and text[i] in _SPACES:
            i += 1
        if i >= n:
            raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')

        value_chars: list[str] = []
        if text[i] not in "'\"":
            token_begin = i
            while i < n and ((text[i].isascii() and text[i].isalnum()) or text[i] in ".-"):
                i += 1
            value = text[token_begin:i].lower()
            if i < n and text[i] not in _SPACES and text[i] != ">":
                raise HtmlParseError(
                    f"Unexpected end of name token at byte offset {_byte_offset(text, token_begin)}"
                )
        else:
            quote = text[i]
            i += 1
            while i < n and text[i] != quote:
                if text[i] == "&":
                    decoded = _decode_entity(text, i)
                    if decoded is not None:
                        value_chars.append(decoded[0])
                        i = decoded[1]
                        continue
                value_chars.append(text[i])
                i += 1
            if i < n:
                i += 1
            value = "".join(value_chars)
        if i >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")

        if tag == "a" and attr_name == "href":
            argument = value
        elif tag == "code" and attr_name == "class" and value.startswith("language-"):
            argument = value[len("language-") :]
        elif tag == "span" and attr_name == "class" and value.startswith("tg-"):
            argument = value[len("tg-") :]
        elif tag == "tg-emoji" and attr_name == "emoji-id":
            argument = value
        elif tag == "blockquote" and attr_name == "expandable":
            argument = "1"

    if tag == "span" and argument != "spoiler":
        raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
    stack.append(_OpenTag(tag, argument, utf16, out_len))
    return i + 1  # skip '>'


def _parse_end_tag(
    text: str,
    begin: int,
    stack: list[_OpenTag],
    utf16: int,
    out: list[str],
    entities: list[dict[str, Any]],
) -> int:
    n = len(text)
    offset = _byte_offset(text, begin)
    if not stack:
        raise HtmlParseError(f"Unexpected end tag at byte offset {offset}")
    i = begin + 2
    while i < n and text[i] not in _SPACES and text[i] != ">":
        i += 1
    end_name = text[begin + 2 : i]
    while i < n and text[i] in _SPACES:
        i += 1
    if i >= n or text[i] != ">":
        raise HtmlParseError(f"Unclosed end tag at byte offset {offset}")
    opened = stack[-1]
    if end_name and end_name != opened.name:
        raise HtmlParseError(
            f'Unmatched end tag at byte offset {offset}, expected "</{opened.name}>", '
            f'found "</{end_name}>"'
        )
    if utf16 > opened.utf16_offset:
        _close_entity(opened, utf16, out, entities)
    stack.pop()
    return i + 1


def _close_entity(
    opened: _OpenTag, utf16: int, out: list[str], entities: list[dict[str, Any]]
) -> None:
    start = opened.utf16_offset
    length = utf16 - start
    name = opened.name
    if name in _SIMPLE_TAGS:
        entities.append({"type": _SIMPLE_TAGS[name], "offset": start, "length": length})
    elif name == "a":
        url = opened.argument or "".join(out[opened.result_index :])
        mention = _TG_USER_LINK.match(url.strip())
        if mention:
            user = {"id": int(mention.group(1)), "is_bot": False, "first_name": ""}
            entities.append(
                {"type": "text_mention", "offset": start, "length": length, "user": user}
            )
        else:
            checked = _check_url(url)
            if checked is not None:
                entities.append(
                    {"type": "text_link", "offset": start, "length": length, "url": checked}
                )
    elif name == "tg-emoji":
        if not opened.argument.isdigit() or int(opened.argument) == 0:
            raise HtmlParseError("Invalid custom emoji identifier specified")
        entities.append(
            {
                "type": "custom_emoji",
                "offset": start,
                "length": length,
                "custom_emoji_id": opened.argument,
            }
        )
    elif name == "blockquote":
        kind = "expandable_blockquote" if opened.argument else "blockquote"
        entities.append({"type": kind, "offset": start, "length": length})
    elif name == "pre":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last["type"] == "code"
            and last["offset"] == start
            and last["length"] == length
            and last.get("language")
        ):
            last["type"] = "pre"
        else:
            entities.append({"type": "pre", "offset": start, "length": length})
    elif name == "code":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last["type"] == "pre"
            and last["offset"] == start
            and last["length"] == length
            and opened.argument
        ):
            last["language"] = opened.argument
        else:
            entity: dict[str, Any] = {"type": "code", "offset": start, "length": length}
            if opened.argument:
                entity["language"] = opened.argument
            entities.append(entity)


def sort_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order entities like Telegram: by offset, longer first, then by type priority."""
    return sorted(
        entities,
        key=lambda e: (e["offset"], -e["length"], _PRIORITY.get(e["type"], 50)),
    )


def find_bot_commands(text: str) -> list[dict[str, Any]]:
    """``bot_command`` entities for ``/command`` and ``/command@bot_username`` in ``text``."""
    result: list[dict[str, Any]] = []
    for match in _BOT_COMMAND.finditer(text):
        result.append(
            {
                "type": "bot_command",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group(0)),
            }
        )
    return result


def strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim leading/trailing whitespace like Telegram does, shifting and clipping entities."""
    stripped_left = text.lstrip()
    left = utf16_len(text) - utf16_len(stripped_left)
    stripped = stripped_left.rstrip()
    right = left + utf16_len(stripped)
    result: list[dict[str, Any]] = []
    for entity in entities:
        start = max(entity["offset"], left)
        end = min(entity["offset"] + entity["length"], right)
        if end <= start:
            continue
        moved = dict(entity)
        moved["offset"] = start - left
        moved["length"] = end - start
        result.append(moved)
    return stripped, result
