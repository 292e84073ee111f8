"""SQLModel tables; importing this package registers every table on SQLModel.metadata."""

from models.abtest import CareExposure
from models.alerts import Alert
from models.audit import AuditEntry
from models.broadcast import Broadcast, BroadcastRecipient, CommunityTag, MarketingConsent
from models.care import CareRule
from models.community import Community, CommunityMember, GroupInvite
from models.coupons import CouponTemplate, MemberCoupon
from models.credit import LeaderLimit
from models.dashboard import DashboardInitData, DashboardLink, DashboardSession
from models.delivery import ShippingOption
from models.digest import DigestOptOut, DigestSend
from models.groupbuy import (
    GroupBuy,
    GroupBuyJoin,
    GroupBuyLine,
    GroupBuyPost,
    GroupBuyTier,
    GroupBuyVariant,
)
from models.idempotency import ProcessedUpdate
from models.inbox import InboxUpdate
from models.interactions import MemberInteraction
from models.ledger import LedgerAccount, LedgerBalance, LedgerEntry, LedgerTransaction
from models.loyalty import CheckIn
from models.member import Member
from models.membership import Membership, MembershipPeriod, MembershipPlan
from models.nps import NpsAsked, NpsSurvey
from models.order import Order, OrderEvent, Payment, StarRefund
from models.payout import CashHandover, PayoutRequest
from models.pickup import GroupBuyPickupPoint, PickupKeeper, PickupPoint, PickupReminder
from models.points import PointsDay
from models.policy import PromotionLock, PromotionPost, ScheduledPost
from models.poll import Poll, PollBallot, PollOption, PollPost
from models.product import Product, ProductVariant
from models.referral import (
    Referral,
    ReferralAttempt,
    ReferralCampaign,
    ReferralCode,
    ReferralInviteLink,
)
from models.review import Review
from models.rewards import Fulfilment, Redemption, Reward
from models.role import ChatAdmin, LeaderDesignation, StaffGrant
from models.segments import MemberSegment
from models.suggestion import Suggestion
from models.ticket import Ticket, TicketMessage
from models.tiers import MemberTier, Tier
from models.trial import Trial, TrialInvite, TrialMedia
from models.waitlist import WaitlistEntry

__all__ = [
    "Alert",
    "AuditEntry",
    "Broadcast",
    "BroadcastRecipient",
    "CareExposure",
    "CareRule",
    "CashHandover",
    "ChatAdmin",
    "CheckIn",
    "Community",
    "CommunityMember",
    "CommunityTag",
    "CouponTemplate",
    "DashboardInitData",
    "DashboardLink",
    "DashboardSession",
    "DigestOptOut",
    "DigestSend",
    "Fulfilment",
    "GroupBuy",
    "GroupBuyJoin",
    "GroupBuyLine",
    "GroupBuyPickupPoint",
    "GroupBuyPost",
    "GroupBuyTier",
    "GroupBuyVariant",
    "GroupInvite",
    "InboxUpdate",
    "LeaderDesignation",
    "LeaderLimit",
    "LedgerAccount",
    "LedgerBalance",
    "LedgerEntry",
    "LedgerTransaction",
    "MarketingConsent",
    "Member",
    "MemberCoupon",
    "MemberInteraction",
    "MemberSegment",
    "MemberTier",
    "Membership",
    "MembershipPeriod",
    "MembershipPlan",
    "NpsAsked",
    "NpsSurvey",
    "Order",
    "OrderEvent",
    "Payment",
    "PayoutRequest",
    "PickupKeeper",
    "PickupPoint",
    "PickupReminder",
    "PointsDay",
    "Poll",
    "PollBallot",
    "PollOption",
    "PollPost",
    "ProcessedUpdate",
    "Product",
    "ProductVariant",
    "PromotionLock",
    "PromotionPost",
    "Redemption",
    "Referral",
    "ReferralAttempt",
    "ReferralCampaign",
    "ReferralCode",
    "ReferralInviteLink",
    "Review",
    "Reward",
    "ScheduledPost",
    "ShippingOption",
    "StaffGrant",
    "StarRefund",
    "Suggestion",
    "Ticket",
    "TicketMessage",
    "Tier",
    "Trial",
    "TrialInvite",
    "TrialMedia",
    "WaitlistEntry",
]
