"""Every reason a service refuses with has a message in the handler that shows it, and that
message is translated in every catalog (issue #28): a new reason without one fails here rather
than reaching a member as the handler's catch-all fallback."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum

import pytest
from aiogram.utils.i18n import gettext as _

from bot.i18n import create_i18n
from handlers.alerts import REFUSALS as ALERT_REFUSALS
from handlers.alerts import USAGE as ALERT_USAGE
from handlers.care import CARE_ERRORS
from handlers.cash import CASH_ERRORS, REFUND_PAID_ERRORS
from handlers.coupons import COUPON_ERRORS
from handlers.forwhom import ERRORS as FOR_WHOM_ERRORS
from handlers.groupbuy import VIP_LEVEL_ONLY, VIP_ONLY
from handlers.groupbuy_admin import CANNOT_EXTEND
from handlers.groups import REFUSALS as GROUP_REFUSALS
from handlers.jielong import ITEM_REFUSALS
from handlers.myorders import PAY_ERRORS
from handlers.nps import NPS_ERRORS
from handlers.order import PLACE_ERRORS
from handlers.payout import PAYOUT_ERRORS
from handlers.referral_admin import CAMPAIGN_ERRORS
from handlers.referral_admin import REVIEW_ERRORS as REFERRAL_REVIEW_ERRORS
from handlers.review import MEDIA_ERRORS
from handlers.suggestion import SUGGEST_ERRORS
from handlers.tiers import TIER_ERRORS
from handlers.trial import NOT_RECEIVED
from handlers.views.delivery import DELIVERY_REFUSALS
from handlers.views.groupbuy_join import REFUSALS as GROUPBUY_REFUSALS
from handlers.views.groupbuy_open import DROP_ERRORS, OPEN_ERRORS
from handlers.views.groupbuy_open import USAGE as GROUPBUY_USAGE
from handlers.views.levels import REFUSALS as LEVEL_REFUSALS
from handlers.views.membership import PLAN_REFUSALS
from handlers.views.order import ORDER_ERRORS, OVER_CASH_LIMIT
from handlers.views.perks import POINTS_ERRORS, REVIEW_ERRORS
from handlers.views.poll import FIRST_USAGE, POLL_ERRORS
from handlers.views.product import AMOUNT_ERRORS, BAD_TITLE, VARIANT_ERRORS
from handlers.views.reservation import CANCEL_ERRORS
from handlers.views.review import MODERATION_ERRORS
from handlers.views.ticket import ERRORS as TICKET_ERRORS
from handlers.views.trial import ERRORS as TRIAL_ERRORS
from handlers.waitlist import WAITLIST_REFUSALS
from services.alerts import AlertRefusal
from services.cash import CashRefusal
from services.coupons import CouponRefusal
from services.delivery import DeliveryRefusal
from services.drop import DropRefusal
from services.forwhom import ForWhomRefusal
from services.groupbuy import GroupBuyRefusal
from services.groups import GroupRefusal
from services.levels import LevelRefusal
from services.loyalty import ReviewRefusal
from services.membership import MembershipRefusal
from services.money import AmountRefusal
from services.nps import NpsRefusal
from services.order import OrderRefusal
from services.payout import PayoutRefusal
from services.points import PointsRefusal
from services.poll import PollRefusal
from services.product import ProductRefusal
from services.referral import ReferralRefusal
from services.review import ModerationRefusal, ReviewMediaRefusal
from services.segments import SegmentRefusal
from services.suggestion import SuggestionRefusal
from services.ticket import TicketRefusal
from services.tiers import TierRefusal
from services.trial import TrialRefusal
from services.waitlist import WaitlistRefusal

LOCALES = ("en", "zh_Hans", "zh_Hant")
PLACEHOLDER = re.compile(r"\{(\w*)\}")

# each service's reasons, and the messages its handlers show them with (several maps when
# different commands show the same service's refusals)
REFUSALS: list[tuple[type[StrEnum], tuple[Mapping[str, str], ...]]] = [
    # a rule staff cannot write, or a value out of range, is answered with the usage
    (
        AlertRefusal,
        (ALERT_REFUSALS, {AlertRefusal.USAGE: ALERT_USAGE, AlertRefusal.VALUE: ALERT_USAGE}),
    ),
    (AmountRefusal, (AMOUNT_ERRORS,)),
    (CashRefusal, (CASH_ERRORS, REFUND_PAID_ERRORS)),
    (CouponRefusal, (COUPON_ERRORS,)),
    (DeliveryRefusal, (DELIVERY_REFUSALS,)),
    (DropRefusal, (DROP_ERRORS,)),
    (ForWhomRefusal, (FOR_WHOM_ERRORS,)),
    # a join or change, an opening, a list's items; the VIP window and the usage apart
    (
        GroupBuyRefusal,
        (
            GROUPBUY_REFUSALS,
            OPEN_ERRORS,
            ITEM_REFUSALS,
            {
                GroupBuyRefusal.VIP_ONLY: VIP_ONLY,
                GroupBuyRefusal.VIP_LEVEL_ONLY: VIP_LEVEL_ONLY,
                GroupBuyRefusal.CANNOT_EXTEND: CANNOT_EXTEND,
                GroupBuyRefusal.USAGE: GROUPBUY_USAGE,
                GroupBuyRefusal.BAD_OPTION: GROUPBUY_USAGE,
            },
        ),
    ),
    (GroupRefusal, (GROUP_REFUSALS,)),
    (LevelRefusal, (LEVEL_REFUSALS,)),
    (MembershipRefusal, (PLAN_REFUSALS,)),
    (ModerationRefusal, (MODERATION_ERRORS,)),
    (NpsRefusal, (NPS_ERRORS,)),
    # a change by leaders or staff, a /buy, a reservation's cancel, a member's payment
    (
        OrderRefusal,
        (
            ORDER_ERRORS,
            PLACE_ERRORS,
            CANCEL_ERRORS,
            PAY_ERRORS,
            {OrderRefusal.OVER_CASH_LIMIT: OVER_CASH_LIMIT},
        ),
    ),
    (PayoutRefusal, (PAYOUT_ERRORS,)),
    (PointsRefusal, (POINTS_ERRORS,)),
    # an unreadable first= is answered with how to write it
    (PollRefusal, (POLL_ERRORS, {PollRefusal.BAD_FIRST: FIRST_USAGE})),
    (ProductRefusal, (VARIANT_ERRORS, {ProductRefusal.TITLE: BAD_TITLE})),
    (ReferralRefusal, (CAMPAIGN_ERRORS, REFERRAL_REVIEW_ERRORS)),
    (ReviewRefusal, (REVIEW_ERRORS,)),
    (ReviewMediaRefusal, (MEDIA_ERRORS,)),
    (SegmentRefusal, (CARE_ERRORS,)),
    (SuggestionRefusal, (SUGGEST_ERRORS,)),
    (TicketRefusal, (TICKET_ERRORS,)),
    (TierRefusal, (TIER_ERRORS,)),
    # a report refused before the goods arrived has its own message, naming the order
    (TrialRefusal, (TRIAL_ERRORS, {TrialRefusal.NOT_RECEIVED: NOT_RECEIVED})),
    (WaitlistRefusal, (WAITLIST_REFUSALS,)),
]

# reasons a service raises that no handler has a message for, and why: listed so that each
# gap is known and no new one slips in (pairs, not a dict: two services' "busy" compare equal)
NO_MESSAGE: tuple[tuple[StrEnum, str], ...] = (
    (CouponRefusal.BAD_KIND, "none yet: the handler's fallback shows (no coupon)"),
    (GroupBuyRefusal.BAD_MIN_KIND, "none yet: the handlers pass only the kinds they parse"),
    (GroupBuyRefusal.CHANGED_MEANWHILE, "none yet: a join says the group-buy is closed"),
    # /buy checks these itself before it places the order
    (OrderRefusal.BAD_QUANTITY, "none yet: /buy would say the order cannot be placed"),
    (OrderRefusal.NO_PRODUCT, "none yet: /buy would say the order cannot be placed"),
    (OrderRefusal.CHOOSE_VARIANT, "none yet: /buy would say the order cannot be placed"),
    # a plural message (ngettext), in too_many_variants
    (ProductRefusal.TOO_MANY_VARIANTS, "by design: its count chooses the plural form"),
    # the product handlers look the product up and check these first; /product_set answers
    # a refusal with its usage
    (ProductRefusal.NOT_FOUND, "none yet: checked first, or the usage"),
    (ProductRefusal.PRICE, "none yet: checked first, or the usage"),
    (ProductRefusal.STOCK, "none yet: checked first, or the usage"),
    (ProductRefusal.PAYMENT_MODE, "none yet: checked first, or the usage"),
    (ProductRefusal.FIELD, "none yet: checked first, or the usage"),
    (ProductRefusal.FULFILMENT, "none yet: checked first, or the usage"),
    (ReferralRefusal.BUSY, "none yet: /campaign_new shows its usage when codes kept colliding"),
    (ReviewMediaRefusal.NO_REVIEW, "by design: a photo not for a review goes on to others"),
    # these show "That cannot be done with this ticket."
    (TicketRefusal.BAD_RESOLUTION, "none yet: /ticket_reship and /ticket_decline pass their own"),
    (TicketRefusal.PARTIAL_STARS_REFUND, "none yet: a part of a Stars payment is refunded owed"),
    (TicketRefusal.EXPIRED, "none yet: a paid order does not expire"),
    (TicketRefusal.BAD_TRANSITION, "none yet: the refund checks the order is paid first"),
    (TicketRefusal.COUPON_NO_COUPON, "none yet: the template was checked active just before"),
)


def _name(refusal: type[StrEnum]) -> str:
    return refusal.__name__


@pytest.mark.parametrize(("refusal", "maps"), REFUSALS, ids=[_name(r) for r, _m in REFUSALS])
def test_every_refusal_reason_has_a_message(
    refusal: type[StrEnum], maps: tuple[Mapping[str, str], ...]
) -> None:
    # given every reason the service can refuse with
    reasons = set(refusal)
    # when the handlers' maps are looked up
    shown = {reason for reason in reasons if any(reason in messages for messages in maps)}
    # then each has a message, but for the known gaps
    assert reasons - shown == {reason for reason, _why in NO_MESSAGE if isinstance(reason, refusal)}


def _messages() -> list[tuple[str, str]]:
    return sorted(
        {
            (_name(refusal), message)
            for refusal, maps in REFUSALS
            for messages in maps
            for message in messages.values()
        }
    )


@pytest.mark.parametrize(("refusal", "message"), _messages())
def test_every_refusal_message_is_translated(refusal: str, message: str) -> None:
    # given a refusal message and every catalog
    i18n = create_i18n("en")
    placeholders = {name: "x" for name in PLACEHOLDER.findall(message)}
    with i18n.context():
        for locale in LOCALES:
            with i18n.use_locale(locale):
                # when it is shown in that language
                text = _(message)
                # then it reads in that language and its placeholders fill in
                assert text.strip(), (locale, message)
                if locale != "en":
                    assert text != message, (locale, message)
                assert text.format(**placeholders)
