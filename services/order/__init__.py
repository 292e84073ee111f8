"""Orders: placing, the status machine, offline and Telegram payments, refunds.

Every status change is a conditional UPDATE on (status, version), so two leaders tapping
"paid" at once, or a payment racing a cancellation, change an order once. Every money
movement goes through the ledger under a key derived from the order, so a retry posts nothing
twice.

The feature lives in submodules (values, read, placing, status, booking, paying, refunds);
its public API is re-exported here, so importers name `services.order` only.
"""

from services.order.booking import LEADER_HOLD as LEADER_HOLD
from services.order.booking import claw_back_order_points as claw_back_order_points
from services.order.booking import release_commissions as release_commissions
from services.order.paying import check_pre_checkout as check_pre_checkout
from services.order.paying import mark_refund_due as mark_refund_due
from services.order.paying import record_telegram_payment as record_telegram_payment
from services.order.paying import refund_paid_back as refund_paid_back
from services.order.paying import star_charge_id as star_charge_id
from services.order.paying import start_invoice as start_invoice
from services.order.placing import cancel_order as cancel_order
from services.order.placing import place_order as place_order
from services.order.placing import release_reserved as release_reserved
from services.order.read import PickupPage as PickupPage
from services.order.read import buyer_name as buyer_name
from services.order.read import get_order as get_order
from services.order.read import order_for_invoice as order_for_invoice
from services.order.read import orders_of_member_in_chat as orders_of_member_in_chat
from services.order.read import pickup_page as pickup_page
from services.order.read import with_translations as with_translations
from services.order.refunds import check_refund as check_refund
from services.order.refunds import refund_order as refund_order
from services.order.status import PICKUP_ALPHABET as PICKUP_ALPHABET
from services.order.status import PICKUP_CODE_LENGTH as PICKUP_CODE_LENGTH
from services.order.status import mark_fulfilled as mark_fulfilled
from services.order.status import mark_paid_offline as mark_paid_offline
from services.order.status import new_pickup_code as new_pickup_code
from services.order.values import TX_CLAWBACK as TX_CLAWBACK
from services.order.values import TX_COMMISSION as TX_COMMISSION
from services.order.values import TX_COMMISSION_RELEASE as TX_COMMISSION_RELEASE
from services.order.values import TX_ORDER_PAID as TX_ORDER_PAID
from services.order.values import TX_ORDER_POINTS as TX_ORDER_POINTS
from services.order.values import TX_ORDER_REFUND as TX_ORDER_REFUND
from services.order.values import TX_PAYMENT_UNMATCHED as TX_PAYMENT_UNMATCHED
from services.order.values import TX_REFUND_PAID as TX_REFUND_PAID
from services.order.values import OrderError as OrderError
from services.order.values import OrderRefusal as OrderRefusal
from services.order.values import OrderView as OrderView
from services.order.values import PaymentOutcome as PaymentOutcome
from services.order.values import RefundOutcome as RefundOutcome
from services.order.values import order_view as order_view
from services.order.values import with_variant as with_variant
