"""The base of every refusal a service gives: a reason a handler turns into a localized message."""

from __future__ import annotations


class Refused(ValueError):
    """A request the domain refuses; `reason` names why (a key of the handler's messages).

    A service lists its reasons in a StrEnum beside its error class (GroupBuyRefusal for
    GroupBuyError, ...); tests/test_refusals.py checks each has a translated message."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
