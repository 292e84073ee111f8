"""Money leaving a leader's hands and coming to them: cash hand-overs and commission payouts.

Each is a request a member makes and staff decide; the decision books the ledger. At most one
request of each kind is open per member (a partial unique index), so two requests cannot both
be approved against the same balance.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Index, text
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow

# CashHandover.status values
HANDOVER_REQUESTED = "requested"  # the holder says they handed the cash over; staff to confirm
HANDOVER_CONFIRMED = "confirmed"  # staff received it: booked leader_cash -> brand_cash
HANDOVER_REFUSED = "refused"  # staff did not receive it: nothing booked

# PayoutRequest.status values
PAYOUT_REQUESTED = "requested"  # the earner asked; staff to approve or refuse
PAYOUT_PAID = "paid"  # staff approved and paid it: booked commission -> commission_paid_out
PAYOUT_REFUSED = "refused"  # staff refused it: nothing booked


class CashHandover(SQLModel, table=True):
    """Cash a leader hands over to the brand (/handover), confirmed or refused by staff."""

    __tablename__ = "cash_handover"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_cash_handover_amount"),
        # one open hand-over per holder
        Index(
            "uq_cash_handover_open",
            "holder_id",
            unique=True,
            sqlite_where=text("status = 'requested'"),
            postgresql_where=text("status = 'requested'"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    holder_id: int = Field(
        sa_column=Column(
            TelegramId, ForeignKey("member.id", name="fk_cash_handover_member"), nullable=False
        )
    )
    currency: str = Field(max_length=8)
    amount: int = Field(sa_type=BigInteger)  # minor units
    status: str = Field(default=HANDOVER_REQUESTED, max_length=12, index=True)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    decided_by: int | None = Field(default=None, sa_type=TelegramId)  # the staff member
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PayoutRequest(SQLModel, table=True):
    """A leader's or referrer's request to be paid their released commission (/payout)."""

    __tablename__ = "payout_request"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_payout_request_amount"),
        CheckConstraint("netted >= 0 AND netted <= amount", name="ck_payout_request_netted"),
        # one open request per member
        Index(
            "uq_payout_request_open",
            "member_id",
            unique=True,
            sqlite_where=text("status = 'requested'"),
            postgresql_where=text("status = 'requested'"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    member_id: int = Field(
        sa_column=Column(
            TelegramId, ForeignKey("member.id", name="fk_payout_request_member"), nullable=False
        )
    )
    currency: str = Field(max_length=8)
    amount: int = Field(sa_type=BigInteger)  # minor units of released commission asked for
    # of `amount`, what was kept against cash the member owed instead of paid (set when paid)
    netted: int = Field(default=0, sa_type=BigInteger)
    status: str = Field(default=PAYOUT_REQUESTED, max_length=12, index=True)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    decided_by: int | None = Field(default=None, sa_type=TelegramId)  # the staff member
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
