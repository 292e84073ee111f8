"""Members: the Telegram users the bot has seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, text
from sqlmodel import Field, SQLModel

from models.base import TelegramId, UTCDateTime, utcnow


class Member(SQLModel, table=True):
    """A Telegram user who has talked to the bot or acted in one of its groups."""

    __tablename__ = "member"
    # the few bots, which every metric leaves out (NOT IN): found at once instead of by a scan
    # of every member, once per table the metric reads (services/metrics/)
    __table_args__ = (
        Index(
            "ix_member_is_bot",
            "id",
            sqlite_where=text("is_bot IS 1"),
            postgresql_where=text("is_bot IS TRUE"),
        ),
    )

    id: int = Field(sa_column=Column(TelegramId, primary_key=True, autoincrement=False))
    first_name: str = Field(default="", max_length=128)
    last_name: str | None = Field(default=None, max_length=128)
    username: str | None = Field(default=None, max_length=64, index=True)
    # the language Telegram reports for the user's app, as sent (e.g. "zh-hans")
    language_code: str | None = Field(default=None, max_length=16)
    # the bot's locale for this member (en, zh_Hans, zh_Hant)
    locale: str = Field(default="en", max_length=16)
    # True once the member picked a language with /language: Telegram's value no longer wins
    locale_chosen: bool = Field(default=False)
    is_bot: bool = Field(default=False)
    # True once the member has opened a private chat with the bot (/start)
    started: bool = Field(default=False)
    # the member's own IANA time zone when they set one (/timezone); else the brand's default
    timezone: str | None = Field(default=None, max_length=64)
    # the birthday the member chose to tell (/birthday): month and day, never the year
    birthday_month: int | None = Field(default=None)
    birthday_day: int | None = Field(default=None)
    # the last year the birthday gift was granted (once a year)
    birthday_gift_year: int | None = Field(default=None)
    # when the member last had their personal fields erased (/forgetme); kept when they come
    # back, so an old referral never pays again and the erasure stays on record
    forgotten_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
