"""Trial values: the refusals (TrialError and its reasons), the audience and aspects as staff
write them (`invite=...`, `aspects=...`) and how they are read, and the plain dataclasses the
verbs return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from models.trial import TRIAL_MAX_ASPECTS
from services.errors import Refused

# audience words: the English word and what a Chinese-speaking staff member types
AUDIENCES = {
    **dict.fromkeys(("promoters", "推荐者", "推薦者", "nps"), "promoters"),
    **dict.fromkeys(("adopted", "采纳", "採納", "建议被采纳", "建議被採納"), "adopted"),
    **dict.fromkeys(("referrers", "邀请人", "邀請人", "邀请达人", "邀請達人"), "referrers"),
    **dict.fromkeys(("ambassadors", "体验官", "體驗官"), "ambassadors"),
}
# the default tiers as a Chinese-speaking staff member names them, by their codes
TIER_ALIASES = {
    **dict.fromkeys(("普通会员", "普通會員", "普通"), "member"),
    **dict.fromkeys(("白银会员", "白銀會員", "白银", "白銀", "银卡", "銀卡"), "silver"),
    **dict.fromkeys(("黄金会员", "黃金會員", "黄金", "黃金", "金卡"), "gold"),
    **dict.fromkeys(("钻石会员", "鑽石會員", "钻石", "鑽石", "钻卡", "鑽卡"), "diamond"),
}
TIER_PREFIXES = ("tier:", "等级:", "等級:", "会员:", "會員:")
_ASPECT = re.compile(r"^[\w\- ]{1,24}$")


class TrialError(Refused):
    """A trial request that was refused; `reason` names why, `detail` the part at fault."""


class TrialRefusal(StrEnum):
    """The reasons a TrialError gives (its `reason`); the handlers map each to a message."""

    BAD_INVITE = "bad_invite"
    BAD_ASPECTS = "bad_aspects"
    NO_VARIANT = "no_variant"
    NOT_ENOUGH_STOCK = "not_enough_stock"
    NO_TIER = "no_tier"
    AMBIGUOUS = "ambiguous"
    NO_MEMBER = "no_member"
    BAD_PLACES = "bad_places"
    DUE_PAST = "due_past"
    NO_PRODUCT = "no_product"
    CHOOSE_VARIANT = "choose_variant"
    NOBODY = "nobody"
    NO_TRIAL = "no_trial"
    NOT_INVITED = "not_invited"
    ANSWERED = "answered"
    CLOSED = "closed"
    NOT_AMBASSADOR = "not_ambassador"
    NOT_RECEIVED = "not_received"
    REPORTED = "reported"
    BAD_RATING = "bad_rating"
    TOO_MANY_PHOTOS = "too_many_photos"
    SHARED = "shared"
    BAD_DUE = "bad_due"


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a trial invites: groups of members by what they did, a tier and above, by hand."""

    groups: tuple[str, ...] = ()  # promoters, adopted, referrers, ambassadors
    tier: str = ""  # a tier's code, name or rank: that tier and above
    people: tuple[str, ...] = ()  # @usernames or ids

    def __str__(self) -> str:
        parts = [*self.groups, *([f"tier:{self.tier}"] if self.tier else []), *self.people]
        return ",".join(parts)


def parse_audience(text: str) -> Audience:
    """`promoters,adopted,tier:gold,@mia,1234`: TrialError bad_invite naming a word it cannot
    read."""
    groups: list[str] = []
    tier = ""
    people: list[str] = []
    for raw in re.split(r"[,，、|]", text.replace("：", ":")):
        word = raw.strip()
        if not word:
            continue
        lower = word.lower()
        if lower in AUDIENCES:
            if AUDIENCES[lower] not in groups:
                groups.append(AUDIENCES[lower])
        elif lower.startswith(TIER_PREFIXES):
            tier = lower.partition(":")[2].strip()
            if not tier:
                raise TrialError(TrialRefusal.BAD_INVITE, word)
        elif word.startswith("@") or word.isdigit():
            people.append(word)
        else:
            raise TrialError(TrialRefusal.BAD_INVITE, word)
    if not (groups or tier or people):
        raise TrialError(TrialRefusal.BAD_INVITE, text)
    return Audience(tuple(groups), tier, tuple(people))


def parse_aspects(text: str) -> tuple[str, ...]:
    """`taste,packaging,value` (or 口感，包装): the aspects a report rates, at most six."""
    aspects: list[str] = []
    for raw in re.split(r"[,，、|]", text):
        word = " ".join(raw.split())
        if not word:
            continue
        if not _ASPECT.match(word):
            raise TrialError(TrialRefusal.BAD_ASPECTS, word)
        if word.lower() not in (a.lower() for a in aspects):
            aspects.append(word)
    if not aspects or len(aspects) > TRIAL_MAX_ASPECTS:
        raise TrialError(TrialRefusal.BAD_ASPECTS, text)
    return tuple(aspects)


@dataclass(frozen=True, slots=True)
class TrialView:
    """A trial as staff and members see it."""

    id: int
    title: str
    places: int
    taken: int
    audience: str
    aspects: tuple[str, ...]
    due_at: datetime
    status: str
    product_id: int
    value: int  # the retail value of one trial unit, in minor units of `currency`
    currency: str

    @property
    def left(self) -> int:
        return self.places - self.taken


@dataclass(frozen=True, slots=True)
class Invitee:
    """A member to invite, in their language (and their own time zone, when they set one)."""

    member_id: int
    locale: str
    timezone: str | None = None  # the member's own (/timezone)
    home_zone: str | None = None  # their home group's (services.zones.home_group_zones)


@dataclass(frozen=True, slots=True)
class Created:
    """A trial just created and whom to invite (after commit); `unreachable`: candidates who
    never opened a private chat with the bot, so cannot be invited."""

    trial: TrialView
    invitees: tuple[Invitee, ...]
    unreachable: int
