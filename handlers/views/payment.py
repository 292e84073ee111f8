"""What members are told once an order's payment committed: the points it earned, a tier they
moved up to, and the referral reward it released, each in the reader's own language."""

from __future__ import annotations

from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from handlers.views.perks import moved_up_text, points_text
from services.payment import PaidOrder, ReferralReward


def buyer_text(i18n: I18n, paid: PaidOrder) -> str | None:
    """The buyer's note: the order's points and a tier they reached; None when nothing to say
    or they cannot be told."""
    if paid.buyer is None:
        return None
    locale = paid.buyer.locale
    lines = []
    with i18n.use_locale(locale):
        if paid.points:
            lines.append(
                _("Order #{id} earned you {points}.").format(
                    id=paid.order.id, points=points_text(paid.points, locale)
                )
            )
    if paid.new_tier is not None:
        lines.append(moved_up_text(paid.new_tier, i18n, locale))
    return "\n".join(lines) if lines else None


def referral_text(i18n: I18n, reward: ReferralReward) -> str | None:
    """The first-order reward, told to whoever got it; None when they cannot be told."""
    if reward.reader is None:
        return None
    locale = reward.reader.locale
    with i18n.use_locale(locale):
        if reward.newcomer:
            text = _("Your first order is paid: {points} from the campaign you joined.")
        else:
            text = _("A friend you invited paid their first order: {points} for you. Thank you!")
        return text.format(points=points_text(reward.points, locale))


def paid_notices(i18n: I18n, paid: PaidOrder) -> list[tuple[int, str]]:
    """Every message a paid order causes, as (chat, text), in the order they are sent."""
    notices = []
    if paid.referral is not None and paid.referral.reader is not None:
        text = referral_text(i18n, paid.referral)
        if text:
            notices.append((paid.referral.reader.id, text))
    if paid.buyer is not None:
        text = buyer_text(i18n, paid)
        if text:
            notices.append((paid.buyer.id, text))
    return notices
