"""Broadcast values shared by its parts: the refusal (BroadcastError), why an outbox row was
not sent, the live statuses, and the formats of tags and group ids.
"""

from __future__ import annotations

import re
from datetime import timedelta

from models.broadcast import BROADCAST_RUNNING, BROADCAST_SCHEDULED

# a row whose slot is this close is sent now rather than deferred (clock skew between workers)
SLOT_TOLERANCE = timedelta(seconds=1)
REASON_CANCELLED = "cancelled"
REASON_INTERRUPTED = "interrupted"
REASON_PACING = "pacing"
REASON_HOLDOUT = "holdout"  # held out of an A/B test: recorded, never sent
TARGET_CARE = "care"  # a care rule's message to one member who entered its segment
LIVE = (BROADCAST_SCHEDULED, BROADCAST_RUNNING)
TAG_PATTERN = re.compile(r"^[a-z0-9_\-]{1,32}$")
GROUP_ID_PATTERN = re.compile(r"^-[0-9]{1,19}$")


class BroadcastError(ValueError):
    """A broadcast request that cannot be carried out; `code` names why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code
