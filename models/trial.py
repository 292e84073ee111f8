"""The product-trial programme (体验官): trials staff create, the members invited to them, the
free trial orders of those who accepted, and their reports with ratings, words and photos."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow

# Trial.status values
TRIAL_OPEN = "open"  # invitations may be accepted while places are left
TRIAL_CLOSED = "closed"  # past its due date: reports still welcome, no new acceptances

# TrialInvite.status values
INVITE_INVITED = "invited"  # asked in private, no answer yet
INVITE_ACCEPTED = "accepted"  # took a place: a free trial order was made
INVITE_DECLINED = "declined"  # said no
INVITE_MISSED = "missed"  # accepted after every place was taken

PAYMENT_TRIAL = "trial"  # Order.payment_mode of a free trial order: nothing to pay

TRIAL_MAX_ASPECTS = 6  # aspects a report rates: one row of buttons each
TRIAL_MAX_PHOTOS = 5  # photos a report carries, as a review does
TRIAL_REPORT_MAX = 1000  # characters of a report's words


class Trial(SQLModel, table=True):
    """A product trial: a product (or one variant) given free to `places` invited members, who
    report on chosen aspects by `due_at`."""

    __tablename__ = "trial"
    __table_args__ = (
        CheckConstraint("places > 0", name="ck_trial_places_positive"),
        CheckConstraint("taken >= 0 AND taken <= places", name="ck_trial_taken_within_places"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    product_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("product.id"), nullable=False, index=True)
    )
    variant_id: int | None = Field(
        default=None,
        sa_column=Column(SurrogateKey, ForeignKey("product_variant.id", name="fk_trial_variant")),
    )
    title: str = Field(max_length=128)  # the product's title (with the variant's) when created
    places: int
    # places accepted so far: moved only by a conditional UPDATE, never past `places`
    taken: int = Field(default=0)
    # the audience as staff wrote it (promoters, adopted, tier:gold, @mia...), for the summary
    audience: str = Field(default="", max_length=200)
    aspects: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    status: str = Field(default=TRIAL_OPEN, max_length=12, index=True)
    created_by: int = Field(sa_type=TelegramId)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class TrialInvite(SQLModel, table=True):
    """One member invited to a trial, their answer, their free order and their report."""

    __tablename__ = "trial_invite"
    __table_args__ = (UniqueConstraint("order_id", name="uq_trial_invite_order"),)

    trial_id: int = Field(
        sa_column=Column(
            SurrogateKey, ForeignKey("trial.id"), primary_key=True, autoincrement=False
        )
    )
    member_id: int = Field(
        sa_column=Column(
            TelegramId, ForeignKey("member.id"), primary_key=True, autoincrement=False, index=True
        )
    )
    status: str = Field(default=INVITE_INVITED, max_length=12, index=True)
    invited_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the free trial order made when the member accepted
    order_id: int | None = Field(
        default=None, sa_column=Column(SurrogateKey, ForeignKey("orders.id"), nullable=True)
    )
    # the reminder before the due date (once) and the one after it (once)
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    late_reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the report: a rating 1-5 per aspect, the member's words, how many photos
    ratings: dict[str, int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    report: str = Field(default="", max_length=TRIAL_REPORT_MAX)
    photos: int = Field(default=0)
    reported_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # reported on time, every aspect rated, with photos or enough words: tagged an ambassador
    # whom `invite=ambassadors` reaches next time
    good: bool = Field(default=False)
    # the member consented, and the report became a review marked as a free trial
    shared_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TrialMedia(SQLModel, table=True):
    """A photo an ambassador sent with their report, by Telegram file id."""

    __tablename__ = "trial_media"
    __table_args__ = (
        UniqueConstraint("trial_id", "member_id", "position", name="uq_trial_media_position"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    trial_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("trial.id"), nullable=False, index=True)
    )
    member_id: int = Field(sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False))
    position: int
    file_id: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
