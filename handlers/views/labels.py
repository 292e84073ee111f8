"""Every stored value a person may see (a status, a mode, a kind, a state), as a translated
message: one map per enum, shared by the chat and the dashboard, so no Chinese screen shows
`formed` or `offline`.

The maps hold N_() messages; `label()` translates one in the current locale. Values a map does
not know (a future status) are shown as stored rather than hidden.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiogram.utils.i18n import gettext as _

from handlers.views.text import N_
from models.broadcast import (
    BROADCAST_CANCELLED,
    BROADCAST_DONE,
    BROADCAST_DRAFT,
    BROADCAST_PAUSED,
    BROADCAST_RUNNING,
    BROADCAST_SCHEDULED,
)
from models.community import (
    APPROVAL_APPROVED,
    APPROVAL_DECLINED,
    APPROVAL_PENDING,
    APPROVAL_SUSPENDED,
)
from models.groupbuy import (
    GROUPBUY_CANCELLED,
    GROUPBUY_FAILED,
    GROUPBUY_FORMED,
    GROUPBUY_OPEN,
    GROUPBUY_SETTLING,
    MIN_PEOPLE,
    MIN_UNITS,
)
from models.ledger import (
    ACCOUNT_BRAND_CASH,
    ACCOUNT_BRAND_COMMISSION_EXPENSE,
    ACCOUNT_BRAND_GOODS_GIVEN,
    ACCOUNT_BRAND_MARKETING_EXPENSE,
    ACCOUNT_BRAND_REFUNDS,
    ACCOUNT_BRAND_REVENUE,
    ACCOUNT_CHARITY_POOL,
    ACCOUNT_COMMISSION_PAID_OUT,
    ACCOUNT_CUSTOMER_PAYABLE,
    ACCOUNT_CUSTOMER_RECEIVABLE,
    ACCOUNT_LEADER_CASH,
    ACCOUNT_LEADER_COMMISSION,
    ACCOUNT_LEADER_COMMISSION_PENDING,
    ACCOUNT_MEMBER_COMMISSION,
    ACCOUNT_MEMBER_COMMISSION_PENDING,
    ACCOUNT_MEMBER_POINTS,
    ACCOUNT_POINTS_ISSUED,
    ACCOUNT_POINTS_REDEEMED,
)
from models.order import (
    ORDER_AWAITING_PAYMENT,
    ORDER_CANCELLED,
    ORDER_EXPIRED,
    ORDER_FULFILLED,
    ORDER_PAID,
    ORDER_REFUNDED,
    ORDER_RESERVED,
)
from models.poll import POLL_CLOSED, POLL_OPEN
from models.product import (
    FULFIL_BOTH,
    FULFIL_DELIVERY,
    FULFIL_PICKUP,
    PAYMENT_OFFLINE,
    PAYMENT_TELEGRAM,
)
from models.rewards import FULFILMENT_HANDED_OVER, FULFILMENT_OPEN
from models.role import (
    LEADER_ACTIVE,
    LEADER_APPLIED,
    LEADER_DECLINED,
    LEADER_REMOVED,
    LEADER_SUSPENDED,
    SOURCE_APPLICATION,
    SOURCE_CREATOR,
    SOURCE_MIGRATED,
    SOURCE_STAFF,
)
from models.trial import PAYMENT_TRIAL
from services.points import transaction_kind

Labels = Mapping[str, str]

# an order's status as staff and leaders read it (its member reads handlers/views/myorders.py's)
ORDER_STATUS: Labels = {
    ORDER_RESERVED: N_("reserved"),
    ORDER_AWAITING_PAYMENT: N_("awaiting payment"),
    ORDER_PAID: N_("paid"),
    ORDER_FULFILLED: N_("picked up"),
    ORDER_CANCELLED: N_("cancelled"),
    ORDER_REFUNDED: N_("refunded"),
    ORDER_EXPIRED: N_("expired"),
}
GROUPBUY_STATUS: Labels = {
    GROUPBUY_OPEN: N_("open"),
    GROUPBUY_SETTLING: N_("closing"),
    GROUPBUY_FORMED: N_("formed"),
    GROUPBUY_FAILED: N_("did not form"),
    GROUPBUY_CANCELLED: N_("cancelled"),
}
# what a group-buy's minimum counts
MIN_KIND: Labels = {
    MIN_PEOPLE: N_("people"),
    MIN_UNITS: N_("units"),
}
PAYMENT_MODE: Labels = {
    PAYMENT_OFFLINE: N_("pay the leader at pickup"),
    PAYMENT_TELEGRAM: N_("pay in Telegram"),
    PAYMENT_TRIAL: N_("free trial"),
}
BROADCAST_STATUS: Labels = {
    BROADCAST_DRAFT: N_("draft"),
    BROADCAST_SCHEDULED: N_("scheduled"),
    BROADCAST_RUNNING: N_("sending"),
    BROADCAST_PAUSED: N_("paused"),
    BROADCAST_CANCELLED: N_("cancelled"),
    BROADCAST_DONE: N_("done"),
}
# why a broadcast's recipient was skipped
SKIP_REASON: Labels = {
    "not_opted_in": N_("not opted in"),
    "unreachable": N_("blocked the bot"),
    "never": N_("the weekly cap is 0"),
    "cancelled": N_("cancelled"),
    "bot_removed": N_("bot removed from the group"),
}
POLL_STATUS: Labels = {
    POLL_OPEN: N_("open"),
    POLL_CLOSED: N_("closed"),
}
FULFILMENT_STATUS: Labels = {
    FULFILMENT_OPEN: N_("to hand over"),
    FULFILMENT_HANDED_OVER: N_("handed over"),
}
# a group's approval, as staff read it
APPROVAL: Labels = {
    APPROVAL_PENDING: N_("waiting for approval"),
    APPROVAL_APPROVED: N_("approved"),
    APPROVAL_SUSPENDED: N_("suspended"),
    APPROVAL_DECLINED: N_("declined"),
}
LEADER_STATUS: Labels = {
    LEADER_APPLIED: N_("applied"),
    LEADER_ACTIVE: N_("leads"),
    LEADER_SUSPENDED: N_("suspended"),
    LEADER_REMOVED: N_("removed"),
    LEADER_DECLINED: N_("declined"),
}
# how a leader came to lead
LEADER_SOURCE: Labels = {
    SOURCE_STAFF: N_("appointed by staff"),
    SOURCE_APPLICATION: N_("applied and approved"),
    SOURCE_CREATOR: N_("its creator, appointed when staff added me"),
    SOURCE_MIGRATED: N_("a Telegram admin who led before appointments"),
}
# a member's lifecycle segment (services/segments.py)
SEGMENT: Labels = {
    "new": N_("new"),
    "active": N_("active"),
    "loyal": N_("loyal"),
    "at_risk": N_("at risk"),
    "churned": N_("churned"),
}
# why points moved, as a member reads it in their statement
POINT_REASON: Labels = {
    transaction_kind("checkin"): N_("Daily check-in"),
    transaction_kind("order"): N_("Points for an order"),
    transaction_kind("referral"): N_("Friend invited"),
    transaction_kind("welcome"): N_("Welcome gift for joining"),
    transaction_kind("vote"): N_("Voted in a poll"),
    transaction_kind("suggestion"): N_("Suggestion adopted"),
    transaction_kind("review"): N_("Review after pickup"),
    transaction_kind("review_photo"): N_("Photo review approved"),
    transaction_kind("grant"): N_("Granted by the brand"),
    transaction_kind("birthday"): N_("Birthday gift"),
    transaction_kind("gift"): N_("Gift between members"),
    transaction_kind("redeem"): N_("Reward redeemed"),
    transaction_kind("donation"): N_("Donated to charity"),
    transaction_kind("clawback"): N_("Points of a refunded order"),
    transaction_kind("expiry"): N_("Points expired"),
    transaction_kind("care"): N_("A gift from us"),
    "reversal": N_("Correction"),
}
# a ledger transaction's kind, as it reads in a statement and on the dashboard
TRANSACTION_KIND: Labels = {
    "order_paid": N_("Order paid"),
    "order_refund": N_("Order refunded"),
    "reversal": N_("Correction"),
    "commission": N_("Commission"),
    "commission_release": N_("Commission released"),
    "commission_adjust": N_("Commission adjusted"),
    "referral_commission": N_("Commission on an invited friend's order"),
    "referral_commission_release": N_("Commission released"),
    "refund_paid": N_("Refund received"),
    "payment_unmatched": N_("Payment that could not be used"),
    "commission_payout": N_("Commission paid out"),
    "cash_collected": N_("Cash collected by a leader"),
    "cash_handover": N_("Cash handed over to the brand"),
    "cash_netted": N_("Cash kept from a payout"),
    "refund_handed_back": N_("Refund paid back by hand"),
    "trial_order": N_("Free trial order"),
    **POINT_REASON,
}
# a ledger account's kind, on the dashboard's ledger
ACCOUNT_KIND: Labels = {
    ACCOUNT_MEMBER_POINTS: N_("Member's points"),
    ACCOUNT_MEMBER_COMMISSION: N_("Member's commission"),
    ACCOUNT_MEMBER_COMMISSION_PENDING: N_("Member's pending commission"),
    ACCOUNT_LEADER_COMMISSION: N_("Leader's commission"),
    ACCOUNT_LEADER_COMMISSION_PENDING: N_("Leader's pending commission"),
    ACCOUNT_BRAND_REVENUE: N_("Brand revenue"),
    ACCOUNT_BRAND_REFUNDS: N_("Brand refunds"),
    ACCOUNT_BRAND_COMMISSION_EXPENSE: N_("Brand commission expense"),
    ACCOUNT_POINTS_ISSUED: N_("Points issued"),
    ACCOUNT_POINTS_REDEEMED: N_("Points redeemed"),
    ACCOUNT_CHARITY_POOL: N_("Charity pool"),
    ACCOUNT_CUSTOMER_RECEIVABLE: N_("Owed by a member"),
    ACCOUNT_CUSTOMER_PAYABLE: N_("Owed to a member"),
    ACCOUNT_LEADER_CASH: N_("Cash a leader holds"),
    ACCOUNT_BRAND_CASH: N_("Brand cash"),
    ACCOUNT_COMMISSION_PAID_OUT: N_("Commission paid out"),
    ACCOUNT_BRAND_MARKETING_EXPENSE: N_("Brand marketing expense"),
    ACCOUNT_BRAND_GOODS_GIVEN: N_("Goods given free"),
}


def label(labels: Labels, value: str | None) -> str:
    """The value as the reader reads it, in the current locale (not escaped: callers escape);
    a value the map does not know is shown as stored."""
    if value is None:
        return ""
    known = labels.get(value)
    return _(known) if known else value


# how a product's or a group-buy's orders reach members (models/product.py FULFILMENT_MODES)
FULFILMENT_MODE: Labels = {
    FULFIL_PICKUP: N_("pickup"),
    FULFIL_DELIVERY: N_("delivery"),
    FULFIL_BOTH: N_("pickup or delivery"),
}
