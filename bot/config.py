"""Configuration from the environment and `.env`, validated once at start."""

from __future__ import annotations

import contextlib
import re
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from services.pacing import PacingRules

OFFICIAL_API_URL = "https://api.telegram.org"
SUPPORTED_LOCALES = ("en", "zh_Hans", "zh_Hant")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/bot.sqlite3"
# referral commission never goes further up the chain than this, whatever the config says
MAX_REFERRAL_DEPTH = 3
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
_PLAIN_DRIVERS = {
    "sqlite://": "sqlite+aiosqlite://",
    "postgres://": "postgresql+asyncpg://",
    "postgresql://": "postgresql+asyncpg://",
}


# Telegram's rule for a webhook secret token: 1-256 ASCII letters, digits, _ and - (str.isalnum
# would let non-ASCII letters through, which no HTTP header can carry as such)
WEBHOOK_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,256}", re.ASCII)


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    """Every setting the bot reads, by its environment variable name."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr | None = None
    telegram_api_url: str = OFFICIAL_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL: connections each process keeps open, and the most it opens (bot.db)
    database_pool_size: int = Field(default=20, ge=1, le=1000)
    redis_url: str | None = None
    owner_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    default_locale: str = "en"
    default_timezone: str = "UTC"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    # where the web server of polling mode listens (with DASHBOARD_URL: the dashboard, /healthz,
    # /readyz and /metrics): this machine only unless set (put a reverse proxy in front, or set
    # 0.0.0.0 and keep /metrics in by a firewall). Webhook mode listens on WEBHOOK_HOST
    metrics_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    # a webhook request body larger than this many bytes is refused (413) unread
    webhook_max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    # with Redis, a redelivered update id is dropped before it reaches the handlers for this
    # many seconds (0: off); the database claim of update ids stays the source of truth
    webhook_dedup_seconds: int = Field(default=3600, ge=0, le=7 * 86_400)
    # answer Telegram as soon as the update is stored in the database inbox and handle it in
    # the background (false: handle it before answering, as Telegram waits)
    webhook_background: bool = True
    # a worker holds an inbox update this long; when it dies, another worker's sweep takes the
    # update over once this ran out
    webhook_lease_seconds: int = Field(default=60, ge=1, le=3600)
    # how often every webhook worker looks for inbox updates whose lease ran out
    webhook_sweep_seconds: float = Field(default=5.0, gt=0.0, le=600.0)
    # on SIGTERM, updates still being handled after this many seconds are cut short (rolled
    # back) and released to the other workers; keep it under the orchestrator's stop timeout
    webhook_drain_seconds: float = Field(default=8.0, ge=0.0, le=600.0)
    # whether `run` runs the scheduled jobs (deadlines, polls, perks, retention); with
    # REDIS_URL only the process holding the leader lock does. Set false on workers when a
    # dedicated `python -m bot scheduler` process runs them
    run_scheduler: bool = True
    # the scheduler leader lock lives this many seconds unless renewed (every third of it):
    # when the leader dies, another process takes over within about 4/3 of this
    leader_ttl_seconds: float = Field(default=15.0, ge=0.3, le=600.0)
    # per-user throttling: at most `throttle_limit` updates in `throttle_window` seconds
    throttle_limit: int = Field(default=20, ge=1)
    throttle_window: int = Field(default=10, ge=1)
    # how long the Telegram admin list of a group is trusted before it is fetched again
    admin_cache_seconds: int = Field(default=600, ge=0)
    # when staff or the owner add the bot to a group, its Telegram creator is appointed its
    # leader at once: staff chose the group, and its creator is who runs it. False: the
    # creator applies with /lead like the group's other admins, and staff approve
    creator_leads_staff_added_group: bool = True
    # Telegram Payments provider token for invoices in real currencies (Stars need none)
    payment_provider_token: SecretStr | None = None
    # the largest order or refund anyone can enter, in minor units (default 100,000.00)
    max_order_amount: int = Field(default=10_000_000, ge=1)
    # a /buy of a pay-at-pickup (offline) product holds its stock this many hours; unpaid by
    # then, it expires and the stock goes back on sale (0: held until paid or cancelled)
    reservation_hours: int = Field(default=48, ge=0, le=24 * 90)
    # the member is reminded in private this many hours before the reservation expires (0: no
    # reminder)
    reservation_reminder_hours: int = Field(default=12, ge=0, le=24 * 90)
    # at most this many open pay-at-pickup reservations per member, across all groups (0: no
    # cap); enough for a basket of a few products per pickup, too few to hoard scarce stock
    reservation_cap: int = Field(default=5, ge=0, le=1000)
    # how often the scheduler reminds of and expires reservations
    reservation_sweep_seconds: int = Field(default=60, ge=1)
    # waitlists: how long a member has to accept units freed for them before they pass to the
    # next one waiting, and how often the scheduler looks for freed units and lapsed offers
    waitlist_offer_minutes: int = Field(default=30, ge=1, le=24 * 60)
    waitlist_sweep_seconds: int = Field(default=30, ge=1)
    # after-sales tickets: the first answer of staff or the group's leader is due this many
    # hours after a ticket is opened, its resolution this many; past either, all staff are told
    ticket_answer_hours: int = Field(default=2, ge=1, le=24 * 30)
    ticket_resolve_hours: int = Field(default=24, ge=1, le=24 * 90)
    # how often the scheduler looks for tickets past their clock
    ticket_sweep_seconds: int = Field(default=60, ge=1)
    # layered communities: the most members a group should hold (its leader and staff are
    # warned at 90%), and how often the bot reads the groups' member counts
    group_size_limit: int = Field(default=500, ge=10, le=200_000)
    group_size_check_seconds: int = Field(default=3600, ge=60)
    # the weekly digest (issue #26): sent on Monday from this hour of the brand's time zone
    # (DEFAULT_TIMEZONE), looked for every DIGEST_SWEEP_SECONDS; alerts checked every
    # ALERT_SWEEP_SECONDS
    digest_hour: int = Field(default=9, ge=0, le=23)
    digest_sweep_seconds: int = Field(default=600, ge=10)
    alert_sweep_seconds: int = Field(default=900, ge=10)
    # each process writes its members' message and tap counts (the interaction rate) every
    # this many seconds, as one batched upsert, and once more when it stops
    interaction_flush_seconds: int = Field(default=60, ge=1, le=3600)
    # how often the refunder looks for Stars refunds to send when nobody wakes it
    refund_poll_seconds: int = Field(default=30, ge=1)
    # a refund being sent is another refunder's to take over this long after its claim (when
    # its process died before Telegram answered); keep it above Telegram's answer time
    refund_lease_seconds: int = Field(default=60, ge=1, le=3600)
    # a Bot API call made while a database transaction is open fails instead of being only
    # logged and counted (the test suite runs so, to prove the rule on every path it takes)
    strict_transactions: bool = False
    # pace outgoing messages to Telegram's limits (off only in tests that do not measure it)
    pace_messages: bool = True
    # a group-buy leader's commission, in basis points of each paid order (500 = 5%)
    leader_commission_bps: int = Field(default=500, ge=0, le=5000)
    # days after payment before a leader's commission is released (refunds reverse it before)
    refund_window_days: int = Field(default=7, ge=0, le=365)
    # the least commission a leader or referrer may ask to be paid out with /payout, in minor
    # units of its currency (5000 = ¥50.00)
    payout_min_amount: int = Field(default=5000, ge=1, le=10**12)
    # cash a leader collected and has not handed over for longer than this many days is
    # overdue: /leader_cash marks it for staff
    cash_overdue_days: int = Field(default=7, ge=1, le=365)
    # a paid order picked up more than this many days after payment counts as picked up late
    # on its leader's record (/leader_record); one still waiting after it, as never picked up
    late_pickup_days: int = Field(default=3, ge=1, le=365)
    # group-buy cards are edited at most once per this many seconds per group
    card_edit_seconds: float = Field(default=3.0, ge=0.0)
    # how often the scheduler looks for group-buys whose deadline passed
    sweep_seconds: int = Field(default=30, ge=1)
    # member perks: tiers are reached by paid spend over 12 months in this currency, or by
    # points earned over 12 months with TIER_BASIS=points
    tier_currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    tier_basis: Literal["spend", "points"] = "spend"
    # points per whole unit of money paid (before the tier multiplier)
    points_per_unit: int = Field(default=1, ge=0, le=1000)
    # points for a daily check-in, and the bonus on given streak days, as JSON {"7": 20}
    checkin_points: int = Field(default=5, ge=0, le=100_000)
    checkin_streak_bonus: dict[int, int] = Field(default_factory=lambda: {7: 20, 30: 100})
    # the most points one member may receive for a reason in one day, as JSON {"checkin": 50}
    points_daily_caps: dict[str, int] = Field(
        default_factory=lambda: {
            "checkin": 1_000,
            "vote": 100,
            "suggestion": 500,
            "review": 100,
            "referral": 5_000,
        }
    )
    # points for reviewing an order after pickup (0: reviews earn nothing)
    review_points: int = Field(default=10, ge=0, le=100_000)
    # points for a review with photos (晒单), paid once per order when staff approve it
    review_photo_points: int = Field(default=50, ge=0, le=100_000)
    # the most points one member may give away to others in one day
    gift_daily_cap: int = Field(default=500, ge=0, le=10**9)
    # points expire this many months after they were earned, oldest first (0: never)
    points_expiry_months: int = Field(default=0, ge=0, le=120)
    # lifecycle segments: new for this many days after joining (no order yet); active while
    # the last paid order is this recent; churned once it is older than SEGMENT_CHURN_DAYS;
    # loyal with this many paid orders in the last SEGMENT_LOYAL_WINDOW_DAYS (and active)
    segment_new_days: int = Field(default=14, ge=1, le=365)
    segment_active_days: int = Field(default=60, ge=1, le=3650)
    segment_churn_days: int = Field(default=120, ge=2, le=3650)
    segment_loyal_orders: int = Field(default=3, ge=2, le=1000)
    segment_loyal_window_days: int = Field(default=180, ge=1, le=3650)
    # how often the perks job runs: tier recompute, birthdays, points expiry
    care_seconds: int = Field(default=3600, ge=60)
    # a care rule's return counts members who pay an order within this many days of its care
    care_return_days: int = Field(default=14, ge=1, le=365)
    # how often the bot looks for A/B tests of broadcasts whose 48 hours have passed
    ab_report_seconds: int = Field(default=900, ge=30)
    # --- promotions and broadcasts (issue #8) ---
    # a community gets at most this many promotional posts in any rolling 7 days
    promo_group_week_cap: int = Field(default=3, ge=0, le=100)
    # an opted-in member gets at most this many private promotions in any rolling 7 days
    promo_member_week_cap: int = Field(default=2, ge=0, le=100)
    # a leader's own group-buys in their own group in any rolling 7 days (apart from the cap above)
    promo_leader_week_cap: int = Field(default=5, ge=0, le=100)
    # the least time between two promotional posts to the same chat, in hours
    promo_min_gap_hours: float = Field(default=4.0, ge=0.0, le=168.0)
    # no promotional post in these local hours of the recipient ("HH:MM-HH:MM", or "off")
    promo_quiet_hours: str = "22:00-08:00"
    # messages a second the broadcast sender may use (the rest of the 30/s is for replies)
    broadcast_per_second: float = Field(default=20.0, gt=0.0, le=30.0)
    # paid broadcasts (allow_paid_broadcast, charged in Stars) lift the rate to their own
    broadcast_paid: bool = False
    broadcast_paid_per_second: float = Field(default=300.0, gt=0.0, le=1000.0)
    # sends in flight at once per process, and how long one may take before it counts as lost
    broadcast_concurrency: int = Field(default=8, ge=1, le=100)
    broadcast_lease_seconds: int = Field(default=300, ge=10, le=86_400)
    # transient errors (5xx, connection refused) are retried this often, backing off from
    # broadcast_retry_seconds, then the row fails
    broadcast_max_attempts: int = Field(default=5, ge=1, le=50)
    broadcast_retry_seconds: float = Field(default=5.0, ge=0.0, le=3600.0)
    # how often an idle sender looks for due rows even when nothing woke it
    broadcast_poll_seconds: float = Field(default=5.0, gt=0.0, le=3600.0)
    # who promotions in private say they are from (the ad label: "📢 Promotion from ...")
    brand_name: str = Field(default="Community Shop", min_length=1, max_length=64)
    # extra words the compliance lint flags, comma-separated (beyond the built-in lists)
    compliance_extra_words: Annotated[tuple[str, ...], NoDecode] = ()
    # the version of the opt-in wording members agree to (stored with their consent)
    consent_wording_version: str = Field(default="2026-11", min_length=1, max_length=32)

    # referrals: the referrer's points when the newcomer's first order is paid, and a welcome
    # gift for the newcomer on joining (0: none)
    referral_reward_points: int = Field(default=100, ge=0, le=1_000_000)
    referral_welcome_points: int = Field(default=0, ge=0, le=1_000_000)
    # commission on referred members' paid orders, in basis points per level up the chain, as
    # JSON [300, 100]; the depth defaults to 2 and is capped at 3 levels whatever is configured
    referral_commission_bps: list[int] = Field(default_factory=lambda: [300, 100])
    referral_depth: int = Field(default=2, ge=0)
    # at most this many referrals rewarded per referrer per day
    referral_daily_limit: int = Field(default=10, ge=0, le=10_000)
    # this many sign-ups through one code within this many minutes are held for staff review
    referral_burst_count: int = Field(default=5, ge=2, le=10_000)
    referral_burst_minutes: int = Field(default=10, ge=1, le=10_080)
    # privacy: days a review comment is kept before the retention job erases it (0: erased at
    # the next run), and the retention of any other free text by its key, as JSON
    # {"suggestion_text": 180} (see models/privacy.py FREE_TEXTS)
    review_comment_retention_days: int = Field(default=365, ge=0, le=36_500)
    text_retention_days: dict[str, int] = Field(default_factory=dict)
    # how often the retention job runs
    retention_seconds: int = Field(default=3600, ge=60)
    # days the claims of handled updates are kept (a redelivery older than this would be
    # handled again; Telegram gives up on an update long before)
    processed_update_days: int = Field(default=7, ge=1, le=365)
    # co-creation: points for an adopted suggestion (0: none; capped by POINTS_DAILY_CAPS)
    suggestion_points: int = Field(default=50, ge=0, le=1_000_000)
    # NPS: a member is asked at most once in this many days
    nps_interval_days: int = Field(default=30, ge=1, le=3650)
    # the web dashboard's public address (the bot's web server, path /dashboard); empty: the
    # origin of WEBHOOK_URL + /dashboard, or http://localhost:WEBHOOK_PORT/dashboard without it
    dashboard_url: str | None = None
    # a /dashboard login link works once, for this many minutes
    dashboard_link_minutes: int = Field(default=10, ge=1, le=60)
    # a dashboard session (a cookie naming a session the store keeps) lasts this many hours
    dashboard_session_hours: int = Field(default=12, ge=1, le=24 * 7)
    # Mini App initData signed by Telegram longer ago than this many seconds is refused
    dashboard_init_data_max_age: int = Field(default=3600, ge=30, le=86_400)
    # sign-in attempts (login links and Mini App initData) one address may make per minute;
    # more are answered 429 before the store is asked
    dashboard_login_limit: int = Field(default=10, ge=1, le=10_000)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # plain lines, or one JSON object a line with the update, chat and user ids (no text)
    log_format: Literal["plain", "json"] = "plain"

    @field_validator("bot_token", mode="before")
    @classmethod
    def _token_shape(cls, value: object) -> object:
        if value in (None, ""):
            return None
        text = str(value).strip()
        head, _, tail = text.partition(":")
        if not head.isdigit() or not tail:
            raise ValueError("expected a token like 123456:ABC-DEF from @BotFather")
        return text

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        # plain URLs are accepted and given the async driver the bot uses
        for plain, driver in _PLAIN_DRIVERS.items():
            if value.startswith(plain):
                value = driver + value[len(plain) :]
                break
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError("expected a SQLAlchemy URL such as " + DEFAULT_DATABASE_URL) from exc
        if url.drivername not in SUPPORTED_DRIVERS:
            raise ValueError(
                f"driver {url.drivername!r} is not supported; use one of "
                + ", ".join(SUPPORTED_DRIVERS)
            )
        return value

    @field_validator(
        "redis_url",
        "webhook_url",
        "webhook_secret",
        "payment_provider_token",
        "dashboard_url",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a URL like redis://127.0.0.1:6379/0")
        return value

    @field_validator("owner_ids", mode="before")
    @classmethod
    def _owner_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            bad = [part for part in parts if not part.lstrip("-").isdigit()]
            if bad:
                raise ValueError(f"expected comma-separated Telegram user ids, got {bad[0]!r}")
            return frozenset(int(part) for part in parts)
        return value

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        if value not in SUPPORTED_LOCALES:
            raise ValueError("expected one of " + ", ".join(SUPPORTED_LOCALES))
        return value

    @field_validator("default_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("expected an IANA time zone such as Asia/Shanghai") from exc
        return value

    @field_validator("checkin_streak_bonus", "points_daily_caps")
    @classmethod
    def _non_negative_values(cls, value: dict[object, int]) -> dict[object, int]:
        for key, amount in value.items():
            if amount < 0 or amount > 10**9:
                raise ValueError(f"{key}: expected points from 0 to 1000000000")
            if isinstance(key, int) and not 1 <= key <= 3660:
                raise ValueError(f"{key}: expected a streak length in days from 1 to 3660")
        return value

    @field_validator("text_retention_days")
    @classmethod
    def _retention(cls, value: dict[str, int]) -> dict[str, int]:
        for key, days in value.items():
            if not 0 <= days <= 36_500:
                raise ValueError(f"{key}: expected days from 0 to 36500")
        return value

    @field_validator("promo_quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        text = value.strip().lower()
        if text in ("off", "none", ""):
            return "off"
        parse_quiet_hours(text)
        return text

    @field_validator("compliance_extra_words", mode="before")
    @classmethod
    def _extra_words(cls, value: object) -> object:
        if isinstance(value, str):
            words = tuple(word.strip() for word in value.split(",") if word.strip())
            if any(len(word) > 64 for word in words):
                raise ValueError("expected comma-separated words of at most 64 characters")
            return words
        return value

    @field_validator("referral_commission_bps")
    def _commission_levels(cls, value: list[int]) -> list[int]:
        # multi-level schemes beyond three levels are illegal in several jurisdictions
        levels = value[:MAX_REFERRAL_DEPTH]
        for rate in levels:
            if not 0 <= rate <= 5000:
                raise ValueError("expected basis points from 0 to 5000 per level, like [300, 100]")
        if sum(levels) > 5000:
            raise ValueError("the levels together may pay at most 5000 basis points (50%)")
        return levels

    @field_validator("referral_depth")
    def _depth(cls, value: int) -> int:
        return min(value, MAX_REFERRAL_DEPTH)

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("expected an https:// URL such as https://bot.example.com/dashboard")
        return None if value is None else value.rstrip("/")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("expected an https:// URL that Telegram can reach")
        return value

    @property
    def referral_rates(self) -> tuple[int, ...]:
        """The commission rate of each level actually paid: at most `referral_depth` levels."""
        return tuple(self.referral_commission_bps[: self.referral_depth])

    def secret_values(self) -> list[str]:
        """Every secret the logs must never show: each SecretStr setting (the bot token,
        provider token, webhook and dashboard secrets) and the passwords in the database and
        Redis URLs."""
        found = [
            value.get_secret_value()
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), SecretStr)
        ]
        for url in (self.database_url, self.redis_url):
            if url:
                with contextlib.suppress(ValueError):
                    password = urlsplit(url).password
                    if password:
                        found.append(password)
        return [secret for secret in found if secret]

    @property
    def dashboard_base(self) -> str:
        """The dashboard's public URL, without a trailing slash."""
        if self.dashboard_url:
            return self.dashboard_url
        if self.webhook_url:
            parts = urlsplit(self.webhook_url)
            return f"{parts.scheme}://{parts.netloc}/dashboard"
        return f"http://localhost:{self.webhook_port}/dashboard"

    @property
    def public_dashboard_url(self) -> str | None:
        """The dashboard's address when the operator gave one that others can reach
        (DASHBOARD_URL, or WEBHOOK_URL's origin): Telegram fetches invoice photos from it.
        None without one, or when it is this machine (localhost)."""
        if not (self.dashboard_url or self.webhook_url):
            return None
        host = (urlsplit(self.dashboard_base).hostname or "").lower()
        if host == "localhost" or host.startswith("127.") or host == "::1":
            return None
        return self.dashboard_base

    @property
    def tier_measure(self) -> str:
        """What tiers are measured in: the tier currency, or points (PTS)."""
        return "PTS" if self.tier_basis == "points" else self.tier_currency

    @property
    def text_retention(self) -> dict[str, int]:
        """Retention in days per free-text key, as configured (defaults come from the registry)."""
        return {"review_comment": self.review_comment_retention_days, **self.text_retention_days}

    @property
    def provider_token(self) -> str | None:
        """The payments provider token, if one is configured."""
        if self.payment_provider_token is None:
            return None
        return self.payment_provider_token.get_secret_value() or None

    def broadcast_rate(self, paid: bool) -> float:
        """Messages a second a broadcast goes out at: the paid rate only while it is enabled."""
        return (
            self.broadcast_paid_per_second
            if paid and self.broadcast_paid
            else (self.broadcast_per_second)
        )

    def pacing_rules(self) -> PacingRules:
        """The promotion pacing limits as the pure policy takes them."""
        start, end = (
            (time(0, 0), time(0, 0))
            if self.promo_quiet_hours == "off"
            else parse_quiet_hours(self.promo_quiet_hours)
        )
        return PacingRules(
            group_week_cap=self.promo_group_week_cap,
            member_week_cap=self.promo_member_week_cap,
            leader_week_cap=self.promo_leader_week_cap,
            min_gap=timedelta(hours=self.promo_min_gap_hours),
            quiet_start=start,
            quiet_end=end,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        """The SQLite file behind DATABASE_URL, or None for another backend or memory."""
        if not self.is_sqlite:
            return None
        database = make_url(self.database_url).database
        if not database or database == ":memory:":
            return None
        return Path(database)


def parse_quiet_hours(text: str) -> tuple[time, time]:
    """'22:00-08:00' as two times; ValueError with a readable message otherwise."""
    try:
        first, second = (part.strip() for part in text.split("-"))
        start, end = time.fromisoformat(first), time.fromisoformat(second)
    except ValueError:
        raise ValueError("expected quiet hours like 22:00-08:00, or off") from None
    if start.second or end.second or start.microsecond or end.microsecond:
        raise ValueError("expected quiet hours like 22:00-08:00, or off")
    return start, end


def describe_error(exc: ValidationError) -> str:
    """One line naming the first bad variable and what is expected of it."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"] if part != "__root__"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if not loc and ":" in message:
        return f"configuration error: {message}"
    name = loc[0].upper() if loc else "configuration"
    return f"configuration error: {name}: {message}"


def load_settings(**overrides: object) -> Settings:
    """Read the settings; raise ConfigError with one readable line when a value is bad."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_error(exc)) from None


def require_token(settings: Settings) -> str:
    """The bot token, or a ConfigError saying that BOT_TOKEN must be set."""
    if settings.bot_token is None:
        raise ConfigError(
            "configuration error: BOT_TOKEN is not set; get one from @BotFather, "
            "or run `python -m bot playground` to try the bot without Telegram"
        )
    return settings.bot_token.get_secret_value()


def require_webhook(settings: Settings) -> tuple[str, str]:
    """The webhook URL and secret, or a ConfigError naming the missing one."""
    if not settings.webhook_url:
        raise ConfigError("configuration error: WEBHOOK_URL is not set; it is needed for --webhook")
    if settings.webhook_secret is None or not settings.webhook_secret.get_secret_value():
        raise ConfigError(
            "configuration error: WEBHOOK_SECRET is not set; it is needed for --webhook"
        )
    secret = settings.webhook_secret.get_secret_value()
    if not WEBHOOK_SECRET_SHAPE.fullmatch(secret):
        raise ConfigError(
            "configuration error: WEBHOOK_SECRET: use 1-256 characters A-Z, a-z, 0-9, _ and -"
        )
    return settings.webhook_url, secret
