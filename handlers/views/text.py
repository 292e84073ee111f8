"""Helpers for rendering messages: extraction markers, escaping, language names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Annotated, Any, Protocol

from aiogram import Bot
from aiogram.methods import TelegramMethod
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import get_i18n, ngettext
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_currency, format_decimal, format_percent, get_currency_precision
from pydantic import Field

from services.compliance import plain_text
from services.pacing import PacingRules
from services.validation import shown

# how each language names itself, for the /language keyboard
LANGUAGE_NAMES = {"en": "English", "zh_Hans": "简体中文", "zh_Hant": "繁體中文"}


# an integer in callback data: bounded to 64 bits, so forged data that does not fit the
# database never matches a button (aiogram treats the failed parse as "not this button")
CallbackId = Annotated[int, Field(ge=-(2**63) + 1, le=2**63 - 1)]


def N_(text: str) -> str:
    """Marks a message for extraction without translating it; translate later with a locale."""
    return text


def NC_(context: str, text: str) -> str:
    """N_ for a message with a context (msgctxt): translate it later with pgettext(context, ...)."""
    return text


def pgettext(context: str, text: str) -> str:
    """The message in the current locale, told apart by its context (msgctxt) from the same
    English words that read differently elsewhere ("Member" as a tier, or as a column)."""
    i18n = get_i18n()
    translator = i18n.locales.get(i18n.current_locale)
    return translator.pgettext(context, text) if translator is not None else text


def default_locale() -> str:
    """The brand's default language (DEFAULT_LOCALE): what content given in other languages
    falls back to when the reader's is missing (services/content.py)."""
    try:
        return get_i18n().default_locale
    except LookupError:  # rendered outside any I18n context: the catalogs' own default
        return "en"


def list_text(items: Iterable[str]) -> str:
    """Items one after the other, as the reader's language lists them (a 、 in Chinese)."""
    return pgettext("list separator", ", ").join(items)


def NP_(singular: str, plural: str) -> tuple[str, str]:
    """Marks a plural message (singular, plural) for extraction without translating it;
    translate later with `ngettext(*message, n)` (see `counted`)."""
    return singular, plural


# a count with its noun, in the reader's language and grammatical number ("1 day", "2 days",
# "2 天"); a sentence with a count takes one of these as its placeholder, so that one
# sentence can hold several counts and each reads right
COUNTS = {
    "day": NP_("{n} day", "{n} days"),
    "month": NP_("{n} month", "{n} months"),
    "minute": NP_("{n} minute", "{n} minutes"),
    "hour": NP_("{n} hour", "{n} hours"),
    "unit": NP_("{n} unit", "{n} units"),
    "person": NP_("{n} person", "{n} people"),
    "group": NP_("{n} group", "{n} groups"),
    "chat": NP_("{n} chat", "{n} chats"),
    "member": NP_("{n} member", "{n} members"),
    "row": NP_("{n} row", "{n} rows"),
    "star": NP_("{n} star", "{n} stars"),
    "friend": NP_("{n} friend", "{n} friends"),
    "answer": NP_("{n} answer", "{n} answers"),
    "character": NP_("{n} character", "{n} characters"),
    "reservation": NP_("{n} reservation", "{n} reservations"),
    "message": NP_("{n} message", "{n} messages"),
}


def counted(noun: str, n: int) -> str:
    """`n` of a noun in COUNTS, in the current locale: "1 group", "3 groups", "3 个群"."""
    i18n = get_i18n()
    singular, plural = COUNTS[noun]
    number = format_decimal(n, locale=i18n.current_locale)
    return i18n.gettext(singular, plural, abs(n)).format(n=number)


def esc(value: object) -> str:
    """User-supplied text made safe for an HTML message."""
    return escape(str(value), quote=False)


def esc_name(value: object) -> str:
    """A name or title someone typed (a group's, a product's, a member's), as an HTML message
    shows it: without the invisible characters that reorder or hide text, escaped."""
    return escape(shown(str(value)), quote=False)


CAPTION_LIMIT = 1024  # characters of a photo caption, after entities parsing
MESSAGE_LIMIT = 4096  # characters of a text message, after entities parsing


def pages_of_lines(text_html: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """A long text of short lines (a list of commands) cut between lines into messages that
    each fit Telegram's limit."""
    if visible_length(text_html) <= limit:  # most texts: one page, measured once
        return [text_html]
    pages: list[str] = []
    current: list[str] = []
    for line in text_html.split("\n"):
        if current and visible_length("\n".join([*current, line])) > limit:
            pages.append("\n".join(current))
            current = []
        current.append(line)
    pages.append("\n".join(current))
    return pages


def visible_length(text_html: str) -> int:
    """How long Telegram counts an HTML text against its limits: tags parsed, entities decoded,
    in UTF-16 code units (never shorter than the characters, so a text that fits, fits)."""
    return utf16_length(plain_text(text_html).strip())


def utf16_length(text: str) -> int:
    """How long Telegram counts plain text: in UTF-16 code units (an emoji may count two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def shorten(text: str, limit: int, *, one_paragraph: bool = True) -> str:
    """Plain text (not yet escaped) in at most `limit` characters as Telegram counts them: cut
    at a word where there is one near the end, with "…"; runs of spaces and line breaks
    become one space unless `one_paragraph` is False ("" when nothing fits)."""
    text = " ".join(text.split()) if one_paragraph else text.strip()
    if utf16_length(text) <= limit:
        return text
    if limit < 2:
        return ""
    kept, used = [], 0
    for char in text:
        used += utf16_length(char)
        if used > limit - 1:  # room for the "…"
            break
        kept.append(char)
    cut = "".join(kept)
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > len(cut) * 2 // 3:  # a word boundary not far back (Chinese has none)
        cut = cut[:space]
    return cut.rstrip(" \n,.;:，。；：、") + "…"


def sentences(*parts: str) -> str:
    """Translated sentences one after another: a space after an English full stop, none after
    a Chinese one (。！？ and other full-width marks end a sentence without a gap)."""
    text = ""
    for part in parts:
        if not part:
            continue
        gap = "" if not text or text[-1] in FULL_WIDTH_ENDS else " "
        text += gap + part
    return text


FULL_WIDTH_ENDS = "。！？：；，）」』"


def pack_blocks(blocks: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Blocks of HTML lines joined into as few messages as fit the limit, a block never split
    (each block must fit on its own)."""
    messages: list[str] = []
    for block in blocks:
        if messages and visible_length(messages[-1] + "\n\n" + block) <= limit:
            messages[-1] += "\n\n" + block
        else:
            messages.append(block)
    return messages


class HandlerSettings(Protocol):
    """The settings handlers read (bot.config.Settings provides them)."""

    owner_ids: frozenset[int]
    admin_cache_seconds: int
    creator_leads_staff_added_group: bool
    default_locale: str
    default_timezone: str
    max_order_amount: int
    reservation_hours: int
    reservation_reminder_hours: int
    reservation_cap: int
    leader_commission_bps: int
    tier_currency: str
    points_per_unit: int
    checkin_points: int
    checkin_streak_bonus: dict[int, int]
    points_daily_caps: dict[str, int]
    gift_daily_cap: int
    points_expiry_months: int
    review_points: int
    review_photo_points: int
    refund_window_days: int
    payout_min_amount: int
    cash_overdue_days: int
    late_pickup_days: int
    referral_reward_points: int
    referral_welcome_points: int
    referral_daily_limit: int
    referral_burst_count: int
    referral_burst_minutes: int
    suggestion_points: int
    nps_interval_days: int
    ticket_answer_hours: int
    ticket_resolve_hours: int
    compliance_extra_words: tuple[str, ...]

    @property
    def referral_rates(self) -> tuple[int, ...]: ...

    def pacing_rules(self) -> PacingRules: ...

    @property
    def provider_token(self) -> str | None: ...

    @property
    def public_dashboard_url(self) -> str | None: ...

    @property
    def tier_basis(self) -> str: ...

    @property
    def tier_measure(self) -> str: ...


class CardToucher(Protocol):
    """Something that refreshes a group-buy's cards soon (bot.cards.CardRefresher)."""

    def touch(self, groupbuy_id: int) -> None: ...


class BackgroundSender(Protocol):
    """Sends a message without holding up the update (bot.sender.Notifier); `kwargs` go to
    sendMessage (a reply's `reply_parameters`, a keyboard)."""

    def send(self, chat_id: int, text: str, **kwargs: Any) -> None: ...

    def send_steps(self, chat_id: int, *steps: Callable[[], Awaitable[object]]) -> None:
        """Calls to Telegram for one chat, in order, each retried as a message is (an invite
        link, then the message that carries it)."""


class GroupBuyCounters(Protocol):
    """Counts group-buy joins and settlements for monitoring (bot.metrics.Metrics)."""

    def joined(self) -> None: ...

    def settled(self, formed: bool) -> None: ...


class RefundWaker(Protocol):
    """Starts the refunder on a Stars refund just committed (bot.refunds.StarRefunder)."""

    def wake(self) -> None: ...


class CommitHook(Protocol):
    """Runs calls once the update's transaction committed (bot.transactions.UnitOfWork)."""

    def add(self, call: Callable[[], Awaitable[object]]) -> None: ...


def later(call: Callable[..., object], *args: object) -> Callable[[], Awaitable[None]]:
    """A plain call wrapped for a CommitHook."""

    async def run() -> None:
        call(*args)

    return run


@dataclass(frozen=True, slots=True)
class Notice:
    """A message to send once the transaction committed, through the background sender (which
    sends it again while Telegram fails for a passing reason)."""

    chat_id: int
    text: str
    markup: InlineKeyboardMarkup | None = None  # buttons under the message, if any


@dataclass(frozen=True, slots=True)
class Calls:
    """Bot API calls to make in order once the transaction committed (a card's final edit, a
    message and then its invoice); a failure stops the rest and is logged and counted."""

    methods: tuple[TelegramMethod[Any], ...]


@dataclass(frozen=True, slots=True)
class StartLinkNotice:
    """A message with one button that opens the bot in private on a /start parameter
    (t.me/<bot>?start=...); the bot's username is read once the transaction committed."""

    chat_id: int
    text: str
    label: str  # the button's text
    start: str  # the /start parameter


Effect = Notice | Calls | StartLinkNotice


def carry_out(
    effects: Iterable[Effect], *, bot: Bot, notifier: BackgroundSender, after_commit: CommitHook
) -> None:
    """Queue rendered effects on the transaction open now: nothing goes before it committed.

    `notifier` must itself wait for the commit (the one handlers get does)."""
    for effect in effects:
        if isinstance(effect, Notice) and effect.markup is not None:
            notifier.send(effect.chat_id, effect.text, reply_markup=effect.markup)
        elif isinstance(effect, Notice):
            notifier.send(effect.chat_id, effect.text)
        elif isinstance(effect, StartLinkNotice):
            after_commit.add(_with_start_link(bot, effect))
        else:
            after_commit.add(_in_order(bot, effect.methods))


def _with_start_link(bot: Bot, effect: StartLinkNotice) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        me = await bot.me()  # aiogram asks Telegram once and keeps the answer
        link = f"https://t.me/{me.username}?start={effect.start}"
        button = InlineKeyboardButton(text=effect.label, url=link)
        markup = InlineKeyboardMarkup(inline_keyboard=[[button]])
        await bot.send_message(effect.chat_id, effect.text, reply_markup=markup)

    return run


def _in_order(bot: Bot, methods: tuple[TelegramMethod[Any], ...]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        for method in methods:
            await bot(method)

    return run


class DeadlineScheduler(Protocol):
    """Something that closes a group-buy at its deadline (bot.scheduler.GroupBuyCloser)."""

    def schedule(self, groupbuy_id: int, deadline: datetime) -> None: ...


class CardPoster(Protocol):
    """Posts the group-buy cards the promotion policy scheduled (bot.policy.CardPoster)."""

    async def post(self, groupbuy_id: int) -> int: ...

    def schedule(self, item_id: int, when: datetime) -> None: ...


class PollScheduler(Protocol):
    """Something that closes a poll at its closing time (bot.scheduler.PollCloser)."""

    def schedule(self, poll_id: int, closes_at: datetime) -> None: ...

    def schedule_release(self, poll_id: int, when: datetime) -> None: ...


def format_money(amount_minor: int, currency: str, locale: str) -> str:
    """An amount in minor units as the reader's locale writes it (⭐ for Telegram Stars)."""
    if currency == "XTR":
        return f"⭐ {format_decimal(amount_minor, locale=locale)}"
    digits = get_currency_precision(currency)
    value = Decimal(amount_minor).scaleb(-digits)
    return format_currency(value, currency, locale=locale)


def format_amounts(amounts: dict[str, int], locale: str) -> str:
    """Amounts in several currencies, one after another by currency code ("0" for none)."""
    return ", ".join(format_money(v, c, locale) for c, v in sorted(amounts.items())) or "0"


def discount_figures(bps: int, locale: str) -> dict[str, str]:
    """A percentage discount of `bps` basis points, for a message to show the way its reader
    counts: `percent` is what comes off ("2%", English), `zhe` what is paid in tenths as a
    Chinese price tag writes it before 折 (98 for 2% off, 9 for 10% off, 97.5 for 2.5% off)."""
    paid = 10_000 - bps  # basis points of the price that are paid
    tenths = Decimal(paid) / (1_000 if paid % 1_000 == 0 else 100)
    return {
        "percent": format_percent(bps / 10_000, "#,##0.##%", locale=locale),
        "zhe": format_decimal(tenths, "#,##0.##", locale=locale),
    }


QUOTED_MAX = 64  # characters of what the user typed that a refusal repeats back


def quoted(part: str) -> str:
    """A piece of what the user typed, escaped and set apart, for a refusal to name; cut
    with "…" past QUOTED_MAX, so a refusal of a long paste still fits one message."""
    return f"<code>{esc(shorten(part, QUOTED_MAX))}</code>"


# what the bot says when it cannot read a kind of input (services/parsing/ Unreadable),
# with examples as the reader would type them (the Chinese catalogs give Chinese ones)
UNREADABLE = {
    "when": N_(
        "I could not read {part} as a time. Write it like 3d, 24h, tomorrow 8pm, "
        "saturday 10am or 2026-12-31 20:00."
    ),
    "zone": N_(
        "{part} is not a time zone I know. Write a city, a country or an offset, like "
        "Singapore, London, Asia/Shanghai or UTC+8."
    ),
}


def unreadable_text(kind: str, part: str) -> str:
    """The localized refusal naming the part the bot could not read, with an example."""
    return _(UNREADABLE[kind]).format(part=quoted(part))


def countdown(seconds: float) -> str:
    """Time left as people say it: days and hours once over a day (26 days 13 hours), hours
    and minutes under it (5 hours 8 minutes), in the current locale."""
    minutes = max(0, int(seconds)) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts: list[str] = []
    if days:
        parts.append(ngettext("{n} day", "{n} days", days).format(n=days))
    if hours:
        parts.append(ngettext("{n} hour", "{n} hours", hours).format(n=hours))
    if not days and (mins or not hours):
        parts.append(ngettext("{n} minute", "{n} minutes", mins).format(n=mins))
    return " ".join(parts)
