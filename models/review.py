"""Reviews of what members bought (晒单), with their photos and video."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow

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
