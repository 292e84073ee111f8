"""SQLModel tables; importing this package registers every table on SQLModel.metadata."""

from models.abtest import CareExposure
from models.alerts import Alert
from models.audit import AuditEntry
from models.broadcast import Broadcast, BroadcastRecipient, CommunityTag, MarketingConsent
from models.community import Community, CommunityMember, GroupInvite
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
from models.interaction import MemberInteraction
from models.ledger import LedgerAccount, LedgerBalance, LedgerEntry, LedgerTransaction
from models.member import Member
from models.membership import Membership, MembershipPeriod, MembershipPlan
from models.order import Order, OrderEvent, Payment, StarRefund
from models.payout import CashHandover, PayoutRequest
from models.perks import (
    CareRule,
    CheckIn,
    CouponTemplate,
    Fulfilment,
    MemberCoupon,
    MemberSegment,
    MemberTier,
    PointsDay,
    Redemption,
    Review,
    Reward,
    Tier,
)
from models.pickup import GroupBuyPickupPoint, PickupKeeper, PickupPoint, PickupReminder
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
from models.role import ChatAdmin, LeaderDesignation, StaffGrant
from models.suggestion import NpsAsked, NpsSurvey, Suggestion
from models.ticket import Ticket, TicketMessage
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
