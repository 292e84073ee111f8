"""What a metrics report holds: the slice it covers, its figures per week, cohorts and
co-creator uplift, and what each metric means (the definitions shown beside it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.analytics import Ratio, Scope

RETENTION_WEEKS = (1, 4, 12)  # weeks after the join week at which a cohort is looked at
LTV_DAYS = (30, 90, 365)  # days after joining over which a member's spend is summed
DEFAULT_WEEKS = 12
MAX_WEEKS = 104


def N_(text: str) -> str:
    """Marks a definition for extraction; the edge translates it in the reader's locale."""
    return text


# What each metric means, shown beside it on the dashboard and in the CSV's header notes.
DEFINITIONS: dict[str, str] = {
    "active": N_(
        "Active rate: members of the group who ordered, joined a group-buy, checked in, voted,"
        " made a suggestion or answered NPS in the week, over the group's members that week."
    ),
    "fission": N_(
        "Fission rate: new members of the week who came through another member's referral,"
        " over all new members of the week."
    ),
    "referral_conversion": N_(
        "Referral conversion: of the week's new members who came by referral, the share whose"
        " first order has been paid since."
    ),
    "retention": N_(
        "Retention: of the members who joined in a week (the cohort), the share active in the"
        " 1st, 4th and 12th week after it."
    ),
    "repurchase": N_(
        "Repurchase rate: members who paid an order in the week and had paid one before,"
        " over all members who paid in the week."
    ),
    "median_gap": N_(
        "Median days between orders: the middle gap between a member's paid order in the week"
        " and their previous paid order."
    ),
    "ltv": N_(
        "Lifetime value: what a cohort's members paid (net of refunds) within 30, 90 and 365"
        " days of joining, per member; shown once the days have passed."
    ),
    "coupon_redemption": N_(
        "Coupon redemption: coupons given to members in the week that have been used since,"
        " over all coupons given in the week."
    ),
    "discount_cost": N_(
        "Discount cost: the discount on orders paid in the week that used a coupon (the order"
        " keeps one total, so a tier discount on them is included)."
    ),
    "interaction_rate": N_(
        "Interaction rate: the messages members wrote in the group and the buttons they"
        " tapped in it during the week, per member of the group that week (days are the"
        " group's local days)."
    ),
    "tickets": N_(
        "Tickets: after-sales tickets members opened in the week; the median hours until"
        " the first answer of those answered; the share of them resolved since."
    ),
    "trial_report": N_(
        "Trial report rate: of the trial places members accepted in the week, the share"
        " whose report has come in since."
    ),
    "uplift": N_(
        "Co-creator uplift: paid orders and spend per member of members who voted or made a"
        " suggestion in the period, against the group's other members, same period."
    ),
}


@dataclass(frozen=True, slots=True)
class Slice:
    """Whose figures: the groups in scope (None: the whole brand) and one tier (None: all)."""

    scope: Scope = None
    tier: int | None = None


@dataclass(frozen=True, slots=True)
class WeekFigures:
    """One local week's rates."""

    start: date  # the Monday
    members: int
    active: Ratio
    new_members: int
    fission: Ratio
    referral_conversion: Ratio
    repurchase: Ratio
    median_gap_days: float | None  # None: no repeat order in the week
    coupon_redemption: Ratio
    discount_cost: int
    # messages and button taps in the week over `members` (may exceed 1)
    interaction_rate: Ratio
    tickets_opened: int  # after-sales tickets opened in the week
    first_answer_hours: float | None  # median wait for the first answer; None: none answered
    tickets_resolved: Ratio  # of the week's tickets, those closed since
    trial_report: Ratio  # of trial places accepted in the week, those reported on since


@dataclass(frozen=True, slots=True)
class Cohort:
    """Members who joined in one week, how many were active k weeks later, what they paid."""

    start: date
    size: int
    retained: dict[int, int | None]  # week k -> active members; None while week k is ahead
    ltv: dict[int, int | None]  # days -> total paid by the cohort; None while days are ahead

    def retention(self, weeks: int) -> Ratio | None:
        kept = self.retained.get(weeks)
        return None if kept is None else Ratio(kept, self.size)

    def value(self, days: int) -> Ratio | None:
        """Paid per member within `days` of joining (minor units over members)."""
        paid = self.ltv.get(days)
        return None if paid is None else Ratio(paid, self.size)


@dataclass(frozen=True, slots=True)
class Uplift:
    """Co-creators (voted or suggested) against the other members, over the same period."""

    cocreators: int
    others: int
    cocreator_orders: int
    other_orders: int
    cocreator_spend: int
    other_spend: int

    @property
    def orders_per_member(self) -> tuple[Ratio, Ratio]:
        return Ratio(self.cocreator_orders, self.cocreators), Ratio(self.other_orders, self.others)

    @property
    def spend_per_member(self) -> tuple[Ratio, Ratio]:
        return Ratio(self.cocreator_spend, self.cocreators), Ratio(self.other_spend, self.others)


@dataclass(frozen=True, slots=True)
class MetricsReport:
    timezone: str
    currency: str
    slice: Slice
    weeks: tuple[WeekFigures, ...]
    cohorts: tuple[Cohort, ...]
    uplift: Uplift
    definitions: dict[str, str] = field(default_factory=lambda: dict(DEFINITIONS))
