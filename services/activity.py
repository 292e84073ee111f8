"""What counts as a member doing something in a group: the one list the analytics report and
the weekly and cohort metrics both count activity from, so the two never disagree.

Each source is (member id, when, chat id). A group-buy place counts at its latest change (a
join, a changed quantity, a leave, a prepayment), as a poll ballot does at its latest vote.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col

from models.groupbuy import GroupBuyJoin
from models.loyalty import CheckIn
from models.nps import NpsSurvey
from models.order import Order
from models.poll import PollBallot
from models.suggestion import Suggestion

ACTIVITY_SOURCES: tuple[tuple[Any, Any, Any], ...] = (
    (col(Order.member_id), col(Order.created_at), col(Order.chat_id)),
    (col(GroupBuyJoin.member_id), col(GroupBuyJoin.updated_at), col(GroupBuyJoin.chat_id)),
    (col(CheckIn.member_id), col(CheckIn.created_at), col(CheckIn.chat_id)),
    (col(PollBallot.member_id), col(PollBallot.updated_at), col(PollBallot.chat_id)),
    (col(Suggestion.member_id), col(Suggestion.created_at), col(Suggestion.community_id)),
    (col(NpsSurvey.member_id), col(NpsSurvey.answered_at), col(NpsSurvey.community_id)),
)
