"""Waitlists: members waiting for a sold-out group-buy item, offered freed units in turn."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, text
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow

# WaitlistEntry.status values
WAIT_WAITING = "waiting"  # in line, ordered by `since`
WAIT_OFFERED = "offered"  # offered `offer_units` until `offer_until`; not held: Accept books
WAIT_BOOKED = "booked"  # accepted in time and booked like a Join
WAIT_LAPSED = "lapsed"  # the offer passed unanswered: out of the line (joins again at its end)
WAIT_LEFT = "left"  # the member left the waitlist


class WaitlistEntry(SQLModel, table=True):
    """A member waiting for one item of a group-buy (the group-buy, or one of its variants):
    one row per member per item, which a member who comes back reuses at the end of the line."""

    __tablename__ = "waitlist_entry"
    __table_args__ = (
        # variant_id is NULL for a group-buy without variants: coalesced, so that NULLs
        # collide too on SQLite and PostgreSQL alike
        Index(
            "uq_waitlist_entry_item_member",
            "groupbuy_id",
            text("coalesce(variant_id, 0)"),
            "member_id",
            unique=True,
        ),
        CheckConstraint("quantity > 0", name="ck_waitlist_entry_quantity"),
        CheckConstraint("offer_units >= 0", name="ck_waitlist_entry_offer_units"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    groupbuy_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("groupbuy.id"), nullable=False, index=True)
    )
    # the variant (or sign-up list item) waited for; NULL: the group-buy itself
    variant_id: int | None = Field(
        default=None,
        sa_column=Column(SurrogateKey, ForeignKey("product_variant.id"), nullable=True),
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    chat_id: int = Field(sa_type=TelegramId)  # the group they asked from (books from there)
    quantity: int = Field(default=1)  # units wanted
    status: str = Field(default=WAIT_WAITING, max_length=12, index=True)
    since: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # the current offer: how many units, until when, and its number (a stale button's
    # number no longer matches)
    offer_units: int = Field(default=0)
    offer_until: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    offer_no: int = Field(default=0)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
