"""SQLModel tables; importing this package registers every table on SQLModel.metadata."""

from models.audit import AuditEntry
from models.community import Community
from models.groupbuy import GroupBuy, GroupBuyJoin, GroupBuyPost, GroupBuyTier
from models.idempotency import ProcessedUpdate
from models.ledger import LedgerAccount, LedgerBalance, LedgerEntry, LedgerTransaction
from models.member import Member
from models.order import Order, OrderEvent, Payment
from models.perks import (
    CheckIn,
    CouponTemplate,
    MemberCoupon,
    MemberTier,
    PointsDay,
    Redemption,
    Reward,
    Tier,
)
from models.product import Product
from models.referral import Referral, ReferralAttempt, ReferralCampaign, ReferralCode
from models.role import ChatAdmin, LeaderDesignation, StaffGrant

__all__ = [
    "AuditEntry",
    "ChatAdmin",
    "CheckIn",
    "Community",
    "CouponTemplate",
    "GroupBuy",
    "GroupBuyJoin",
    "GroupBuyPost",
    "GroupBuyTier",
    "LeaderDesignation",
    "LedgerAccount",
    "LedgerBalance",
    "LedgerEntry",
    "LedgerTransaction",
    "Member",
    "MemberCoupon",
    "MemberTier",
    "Order",
    "OrderEvent",
    "Payment",
    "PointsDay",
    "ProcessedUpdate",
    "Product",
    "Redemption",
    "Referral",
    "ReferralAttempt",
    "ReferralCampaign",
    "ReferralCode",
    "Reward",
    "StaffGrant",
    "Tier",
]
