"""The advertising-law lint (services/compliance.py) on every brand text before it reaches a
member, shown the same way everywhere.

Wizards (product, poll) show the findings under their last look, as the broadcast wizard does:
the absolute claims, each text with the claims marked, and "⚠️ Send anyway", which asks for a
reason (logged in the audit trail) before the final button. One-line commands (/product_add,
/product_translate, /care_add, /poll_presale) answer with the same findings and store nothing;
sent again ending with `!!anyway reason`, they go ahead and the reason is logged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.content import KEY as TRANSLATIONS_KEY
from handlers.views.text import esc
from services.audit import record_action
from services.compliance import ABSOLUTE_CLAIM, Finding, highlight, lint
from services.product import ProductView

# ends a one-line command that goes ahead despite findings: "... !!anyway reason"
OVERRIDE_MARK = "!!anyway"
MIN_REASON = 5
MAX_REASON = 512


def claims(
    texts: Iterable[str], extra_words: Iterable[str] = ()
) -> list[tuple[str, list[Finding]]]:
    """Each non-empty text with the absolute claims found in it (texts without any left out)."""
    extra = tuple(extra_words)
    found = []
    for text in texts:
        if not text:
            continue
        marked = [f for f in lint(text, extra_words=extra) if f.kind == ABSOLUTE_CLAIM]
        if marked:
            found.append((text, marked))
    return found


def findings_lines(found: Sequence[tuple[str, list[Finding]]]) -> list[str]:
    """The findings as staff read them (HTML; empty when there are none)."""
    if not found:
        return []
    words = [f.word for _text, marked in found for f in marked]
    return [
        "",
        _("⚠️ Compliance findings:"),
        _("Absolute claims that advertising law forbids: {words}").format(
            words=esc(", ".join(dict.fromkeys(words)))
        ),
        *(highlight(text, marked) for text, marked in found),
    ]


def reason_error(reason: str) -> str | None:
    """What is wrong with an override reason, or None when it will do."""
    if len(reason.strip()) < MIN_REASON or reason.strip().startswith("/"):
        return _("Give a reason of at least 5 characters, or /cancel.")
    return None


def split_override(args: str) -> tuple[str, str | None]:
    """A one-line command's arguments without `!! reason`, and the reason (None: not given)."""
    head, mark, reason = args.rpartition(OVERRIDE_MARK)
    if not mark:
        return args, None
    return head.rstrip(), reason.strip()


def refused_lines(found: Sequence[tuple[str, list[Finding]]]) -> str:
    """A one-line command's answer when the lint found something: nothing was stored."""
    return "\n".join(
        [
            *findings_lines(found)[1:],
            _(
                "Nothing was stored. Fix the text, or send the same command again ending with "
                "{mark} and the reason it may go out as it is (at least 5 characters); the "
                "reason is logged."
            ).format(mark=f"<code>{OVERRIDE_MARK}</code>"),
        ]
    )


async def audit_override(
    session: AsyncSession,
    *,
    actor_id: int,
    action: str,
    found: Sequence[tuple[str, list[Finding]]],
    reason: str,
    now: datetime,
    what: str = "",
) -> None:
    """Logs that a text with findings went ahead, with the words and the reason."""
    words = ",".join(dict.fromkeys(f.word for _text, marked in found for f in marked))
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=actor_id,
        action=f"{action}.override",
        allowed=True,
        now=now,
        required_role="staff",
        detail=f"{what} findings={words} reason={reason[:MAX_REASON]}".strip(),
    )


@dataclass(frozen=True, slots=True)
class Cleared:
    """A one-line command's texts may go out: clean, or overridden with `reason`."""

    found: list[tuple[str, list[Finding]]]
    reason: str | None

    async def audit(
        self, session: AsyncSession, *, actor_id: int, action: str, what: str, now: datetime
    ) -> None:
        """Logs the override (nothing when the texts were clean); after the thing is stored."""
        if self.found and self.reason is not None:
            await audit_override(
                session,
                actor_id=actor_id,
                action=action,
                found=self.found,
                reason=self.reason,
                now=now,
                what=what,
            )


async def clear_command(
    message: Message,
    texts: Iterable[str],
    *,
    extra_words: Iterable[str],
    reason: str | None,
) -> Cleared | None:
    """Lints a one-line command's texts: None (and the findings answered) when it must stop."""
    found = claims(texts, extra_words)
    if not found:
        return Cleared([], None)
    if reason is None:
        await message.answer(refused_lines(found))
        return None
    error = reason_error(reason)
    if error is not None:
        await message.answer(error)
        return None
    return Cleared(found, reason.strip()[:MAX_REASON])


def wizard_texts(data: dict[str, Any], fields: Iterable[str]) -> list[str]:
    """A wizard's texts in every language: its own `fields`, then each translation's."""
    texts = [str(data.get(field) or "") for field in fields]
    for translated in (data.get(TRANSLATIONS_KEY) or {}).values():
        texts += [str(value) for value in translated.values() if value]
    return texts


def wizard_findings(texts: Iterable[str], extra_words: Iterable[str]) -> list[str]:
    """The findings lines under a wizard's last look, with what to do (empty: none), as the
    broadcast wizard shows them."""
    lines = findings_lines(claims(texts, extra_words))
    if lines:
        lines.append(_("Fix the text (/cancel and start again), or send anyway with a reason."))
    return lines


def product_texts(product: ProductView) -> list[str]:
    """A product's texts as members read them, in every language."""
    texts = [product.title, product.description or ""]
    for translated in (product.translations or {}).values():
        texts += [str(value) for value in translated.values() if value]
    return texts


def extra_words_of(data: dict[str, Any]) -> tuple[str, ...]:
    """The operator's extra words, from a handler's keyword arguments (none when absent)."""
    return tuple(getattr(data.get("settings"), "compliance_extra_words", ()) or ())


def words_of(found: Sequence[tuple[str, list[Finding]]]) -> list[str]:
    """The distinct words found, in order."""
    return list(dict.fromkeys(f.word for _text, marked in found for f in marked))


def reason_covers(
    found: Sequence[tuple[str, list[Finding]]], reason: str | None, words: Iterable[str]
) -> bool:
    """Whether a wizard's override `reason`, given for `words`, covers these findings: given for
    these very words (a text changed since, with a new claim, needs a reason again)."""
    return bool(reason) and set(words_of(found)) <= set(words)


def covered(found: Sequence[tuple[str, list[Finding]]], data: dict[str, Any]) -> bool:
    """`reason_covers`, with the reason and its words as a wizard's data keeps them (`override`,
    `override_words`)."""
    return reason_covers(found, data.get("override"), data.get("override_words") or ())
