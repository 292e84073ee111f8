"""Paid membership: staff sell monthly plans as Telegram Stars subscriptions; a plan grants a
tier or a group level (VIP, core) while the membership is active.

The story of one membership, each step one verb in the caller's unit of work:
- the member buys a plan through a subscription invoice link (payload `mship:<plan id>`);
- `take_membership_payment` books each period Telegram charges once (keyed by the charge id):
  the first payment starts the membership, every renewal extends it to Telegram's
  `subscription_expiration_date`; a payment for a plan switched off (or a second subscription
  to a plan the member already holds) is not kept: its Stars go back through the refunder,
  as a payment for an order that can no longer take it does, and the subscription is
  cancelled so Telegram charges it no more;
- `subscription_changed` follows Telegram's `subscription` update (canceled, active, failed);
- `cancel_membership` stops the renewals from the bot (editUserStarSubscription after commit);
- `lapse_membership` ends a membership whose period passed without a renewal (a job).
A tier plan's grant is stored in the member's tier (services/tiers.py recompute takes the
higher of the spend's tier and the active memberships'), recomputed whenever a membership
starts, renews or lapses; a level plan's is read when a join request is decided
(services/levels.py). Only an active membership grants anything.
"""

from services.membership._common import MAX_NAME as MAX_NAME
from services.membership._common import MAX_STARS as MAX_STARS
from services.membership._common import PAID_AGAIN as PAID_AGAIN
from services.membership._common import PAID_REFUSED as PAID_REFUSED
from services.membership._common import PAID_RENEWED as PAID_RENEWED
from services.membership._common import PAID_STARTED as PAID_STARTED
from services.membership._common import PAYLOAD_PREFIX as PAYLOAD_PREFIX
from services.membership._common import PERIOD as PERIOD
from services.membership._common import PERIOD_SECONDS as PERIOD_SECONDS
from services.membership._common import REFUSED_HELD as REFUSED_HELD
from services.membership._common import REFUSED_OFF as REFUSED_OFF
from services.membership._common import REFUSED_PRICE as REFUSED_PRICE
from services.membership._common import REFUSED_UNKNOWN as REFUSED_UNKNOWN
from services.membership._common import RENEWAL_GRACE as RENEWAL_GRACE
from services.membership._common import TX_MEMBERSHIP_PAID as TX_MEMBERSHIP_PAID
from services.membership._common import MembershipError as MembershipError
from services.membership._common import MembershipPaid as MembershipPaid
from services.membership._common import MembershipRefusal as MembershipRefusal
from services.membership._common import MembershipView as MembershipView
from services.membership._common import PlanCount as PlanCount
from services.membership._common import PlanView as PlanView
from services.membership._common import SubscriptionNews as SubscriptionNews
from services.membership._common import payload_of as payload_of
from services.membership._common import plan_of_payload as plan_of_payload
from services.membership.lifecycle import cancel_membership as cancel_membership
from services.membership.lifecycle import due_to_lapse as due_to_lapse
from services.membership.lifecycle import lapse_membership as lapse_membership
from services.membership.lifecycle import memberships_of as memberships_of
from services.membership.lifecycle import subscription_changed as subscription_changed
from services.membership.payment import check_checkout as check_checkout
from services.membership.payment import take_membership_payment as take_membership_payment
from services.membership.plans import PlanMonth as PlanMonth
from services.membership.plans import SwitchedOff as SwitchedOff
from services.membership.plans import add_plan as add_plan
from services.membership.plans import get_plan as get_plan
from services.membership.plans import list_plans as list_plans
from services.membership.plans import membership_offered as membership_offered
from services.membership.plans import membership_stats as membership_stats
from services.membership.plans import parse_grant as parse_grant
from services.membership.plans import parse_stars as parse_stars
from services.membership.plans import plan_payments as plan_payments
from services.membership.plans import switch_off as switch_off
