"""Member perks: tiers, daily check-ins, per-day point caps, and the redeem catalog.

Points themselves live on the ledger (member_points accounts); these tables hold what the
ledger cannot say: a member's tier, which days they checked in, and what they redeemed.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow


class Tier(SQLModel, table=True):
    """A membership tier; rank 0 is the tier everyone starts in, higher ranks need more spend."""

    __tablename__ = "tier"
    __table_args__ = (
        CheckConstraint("rank >= 0", name="ck_tier_rank"),
        CheckConstraint("min_spend >= 0", name="ck_tier_min_spend"),
        CheckConstraint("discount_bps >= 0 AND discount_bps <= 5000", name="ck_tier_discount"),
        CheckConstraint("multiplier_pct >= 100 AND multiplier_pct <= 1000", name="ck_tier_mult"),
        CheckConstraint("birthday_points >= 0", name="ck_tier_birthday"),
    )

    rank: int = Field(sa_column=Column(SurrogateKey, primary_key=True, autoincrement=False))
    # a stable code for the default tiers (member, silver, gold, diamond), translated on display
    code: str = Field(default="", max_length=32)
    # the name staff gave it; shown as is when the tier has no default code
    name: str = Field(max_length=32)
    # paid spend over the last 12 months, in minor units of the brand's currency, to reach it
    min_spend: int = Field(default=0, sa_type=BigInteger)
    discount_bps: int = Field(default=0)  # off every order at checkout (500 = 5%)
    multiplier_pct: int = Field(default=100)  # points multiplier in percent (150 = 1.5x)
    birthday_points: int = Field(default=0)  # the birthday gift in points
    vip_access: bool = Field(default=False)  # may join group-buys in their VIP window
    member_day_double: bool = Field(default=False)  # double points on the member day


class MemberTier(SQLModel, table=True):
    """The tier a member is in now, with the spend it was computed from."""

    __tablename__ = "member_tier"

    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), primary_key=True, autoincrement=False)
    )
    rank: int = Field(default=0)
    spend: int = Field(default=0, sa_type=BigInteger)  # paid spend over the last 12 months
    # when the member was last told, gently, that their tier will soon drop (once a month)
    warned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class CheckIn(SQLModel, table=True):
    """One daily check-in: at most one per member per local day, whatever the concurrency."""

    __tablename__ = "checkin"
    __table_args__ = (UniqueConstraint("member_id", "day", name="uq_checkin_day"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    day: date = Field(sa_column=Column(Date, nullable=False))  # the member's local day
    streak: int = Field(default=1)  # consecutive days ending with this one
    points: int = Field(default=0)  # what it earned, bonus included
    chat_id: int = Field(sa_type=TelegramId)  # where the member checked in
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class PointsDay(SQLModel, table=True):
    """Points a member received for one reason on one day, held under the reason's daily cap."""

    __tablename__ = "points_day"
    __table_args__ = (CheckConstraint("total >= 0", name="ck_points_day_total"),)

    member_id: int = Field(sa_column=Column(TelegramId, primary_key=True, autoincrement=False))
    reason: str = Field(sa_column=Column(String(32), primary_key=True))
    day: date = Field(sa_column=Column(Date, primary_key=True))
    total: int = Field(default=0, sa_type=BigInteger)


# Reward.kind values
REWARD_PHYSICAL = "physical"  # a thing staff hand over: redeeming it opens a fulfilment task
REWARD_COUPON = "coupon"  # a coupon put in the member's /coupons at once: nothing to hand over


class Reward(SQLModel, table=True):
    """Something members can redeem points for; stock None means unlimited."""

    __tablename__ = "reward"
    __table_args__ = (
        CheckConstraint("cost > 0", name="ck_reward_cost"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="ck_reward_stock"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    title: str = Field(max_length=128)
    cost: int = Field(sa_type=BigInteger)  # in points
    stock: int | None = Field(default=None)
    # redeeming this reward gives the member a coupon of this template (None: a perk or gift)
    coupon_template_id: int | None = Field(
        default=None,
        sa_column=Column(
            SurrogateKey, ForeignKey("coupon_template.id", name="fk_reward_coupon_template_id")
        ),
    )
    # what the member receives (REWARD_PHYSICAL or REWARD_COUPON), which says what happens next
    kind: str = Field(default=REWARD_PHYSICAL, max_length=16)
    active: bool = Field(default=True)
    created_by: int = Field(sa_type=TelegramId)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Redemption(SQLModel, table=True):
    """A member redeemed a reward; staff hand it over and mark it delivered."""

    __tablename__ = "redemption"

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    reward_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("reward.id"), nullable=False, index=True)
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    cost: int = Field(sa_type=BigInteger)
    delivered: bool = Field(default=False)  # set when its fulfilment task is handed over
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# Fulfilment.status values
FULFILMENT_OPEN = "open"  # the member waits for the reward; staff see it in /fulfil
FULFILMENT_HANDED_OVER = "handed_over"  # staff handed it over (who and when are kept)


class Fulfilment(SQLModel, table=True):
    """A physical reward staff owe a member: one task per redemption, open until handed over."""

    __tablename__ = "fulfilment"

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    redemption_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("redemption.id"), nullable=False, unique=True)
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    title: str = Field(max_length=128)  # the reward's title when it was redeemed
    status: str = Field(default=FULFILMENT_OPEN, max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    handed_over_by: int | None = Field(default=None, sa_type=TelegramId)  # the staff member
    handed_over_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# CouponTemplate.kind values
COUPON_FIXED = "fixed"  # an amount off, in minor units of the template's currency
COUPON_PERCENT = "percent"  # basis points off the order (1000 = 10%)

# MemberCoupon.status values
COUPON_HELD = "held"
COUPON_USED = "used"


class CouponTemplate(SQLModel, table=True):
    """A kind of coupon staff issue: what it takes off, when, for whom."""

    __tablename__ = "coupon_template"
    __table_args__ = (
        CheckConstraint("value > 0", name="ck_coupon_value"),
        CheckConstraint("min_spend >= 0", name="ck_coupon_min_spend"),
        CheckConstraint("per_member_limit > 0", name="ck_coupon_limit"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    code: str = Field(max_length=32, unique=True)  # upper case, what members see and type
    kind: str = Field(max_length=8)
    value: int = Field(sa_type=BigInteger)  # minor units (fixed) or basis points (percent)
    currency: str = Field(max_length=8)  # orders in this currency only
    min_spend: int = Field(default=0, sa_type=BigInteger)  # the order total it needs
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    per_member_limit: int = Field(default=1)  # how many one member may ever hold
    min_rank: int = Field(default=0)  # the lowest tier that may use it
    active: bool = Field(default=True)
    created_by: int = Field(sa_type=TelegramId)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class MemberCoupon(SQLModel, table=True):
    """One coupon a member holds; used at most once, by one order."""

    __tablename__ = "member_coupon"
    __table_args__ = (UniqueConstraint("member_id", "source", name="uq_member_coupon_source"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    template_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("coupon_template.id"), nullable=False)
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    status: str = Field(default=COUPON_HELD, max_length=8)
    order_id: int | None = Field(default=None, sa_type=BigInteger)  # the order that used it
    # why the member has it, e.g. grant:<staff id>, reward:<redemption id>; unique per member
    source: str = Field(max_length=64)
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# MemberSegment.segment values: the lifecycle of a member, recomputed daily
SEGMENT_NEW = "new"  # joined recently, no paid order yet
SEGMENT_ACTIVE = "active"  # a paid order recently
SEGMENT_LOYAL = "loyal"  # several paid orders recently
SEGMENT_AT_RISK = "at_risk"  # the last order is getting old (or none since joining a while ago)
SEGMENT_CHURNED = "churned"  # no order for a long time
SEGMENTS = (SEGMENT_NEW, SEGMENT_ACTIVE, SEGMENT_LOYAL, SEGMENT_AT_RISK, SEGMENT_CHURNED)


class MemberSegment(SQLModel, table=True):
    """The lifecycle segment a member is in now, and since when."""

    __tablename__ = "member_segment"

    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), primary_key=True, autoincrement=False)
    )
    segment: str = Field(max_length=16, index=True)
    since: datetime = Field(sa_type=UTCDateTime, nullable=False)


class CareRule(SQLModel, table=True):
    """What staff want to happen when a member enters a segment: a message, points, a coupon."""

    __tablename__ = "care_rule"
    __table_args__ = (CheckConstraint("points >= 0", name="ck_care_rule_points"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    to_segment: str = Field(max_length=16)
    from_segment: str | None = Field(default=None, max_length=16)  # None: from any segment
    text: str = Field(default="", max_length=1024)  # staff's words, sent as plain text
    points: int = Field(default=0, sa_type=BigInteger)
    coupon_template_id: int | None = Field(
        default=None,
        sa_column=Column(
            SurrogateKey, ForeignKey("coupon_template.id", name="fk_care_rule_coupon_template_id")
        ),
    )
    active: bool = Field(default=True)
    created_by: int = Field(sa_type=TelegramId)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # an A/B test (services/abtest.py): a second text, and the share of members entering the
    # segment who get nothing from the rule, in percent, to measure what it wins back
    text_b: str = Field(
        default="", sa_column=Column(String(1024), nullable=False, server_default="")
    )
    holdout_pct: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )


REVIEW_PENDING = "pending"  # waiting for staff or the group's leader
REVIEW_APPROVED = "approved"  # shown on the product; the member may share it
REVIEW_REJECTED = "rejected"  # kept for the member's record, shown nowhere
REVIEW_MAX_PHOTOS = 5
REVIEW_MAX_VIDEOS = 1
MEDIA_PHOTO = "photo"
MEDIA_VIDEO = "video"


class Review(SQLModel, table=True):
    """A member's review of an order they picked up: one per order, earning points once."""

    __tablename__ = "review"
    __table_args__ = (CheckConstraint("rating >= 1 AND rating <= 5", name="ck_review_rating"),)

    order_id: int = Field(
        sa_column=Column(
            SurrogateKey, ForeignKey("orders.id"), primary_key=True, autoincrement=False
        )
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    rating: int
    comment: str = Field(default="", max_length=500)  # the member's words, kept for staff
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # moderation: shown on the product only once staff (or the group's leader) approved it
    status: str = Field(default=REVIEW_PENDING, max_length=12, index=True)
    photos: int = Field(default=0)  # how many photos it carries (at most REVIEW_MAX_PHOTOS)
    videos: int = Field(default=0)  # how many videos it carries (at most one)
    moderated_by: int | None = Field(default=None, sa_type=TelegramId)
    moderated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # why it was rejected (or a word with the approval), as the moderator wrote it; "" for none
    moderation_note: str = Field(
        default="", max_length=200, sa_column_kwargs={"server_default": ""}
    )
    # the member consented, and the bot posted the approved review to their group
    shared_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReviewMedia(SQLModel, table=True):
    """A photo or a short video a member sent with their review (晒单), by Telegram file id."""

    __tablename__ = "review_media"
    __table_args__ = (UniqueConstraint("order_id", "position", name="uq_review_media_position"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    order_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("review.order_id"), nullable=False, index=True)
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    kind: str = Field(max_length=8)  # MEDIA_PHOTO or MEDIA_VIDEO
    position: int  # 1, 2, ... in the order the member sent them
    file_id: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
