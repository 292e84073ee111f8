"""Group-buys: open, join, change, leave, and settle at the deadline, safe under a rush.

Stock and the per-member limit are enforced by the database: a join is one conditional UPDATE
of the group-buy's counters plus one conditional upsert of the member's join row, in the
caller's transaction, so concurrent joins on any number of workers never oversell.

The feature lives in submodules (values, parse, read, stock, opening, joining, lists,
prepay, settling, cards); its public API is re-exported here, so importers name
`services.groupbuy` only.
"""

from services.groupbuy.cards import CardSlot as CardSlot
from services.groupbuy.cards import claim_card_edit as claim_card_edit
from services.groupbuy.cards import groupbuys_in_chat as groupbuys_in_chat
from services.groupbuy.cards import posts as posts
from services.groupbuy.cards import record_card as record_card
from services.groupbuy.joining import set_quantity as set_quantity
from services.groupbuy.lists import LineChange as LineChange
from services.groupbuy.lists import ListOrder as ListOrder
from services.groupbuy.lists import OrderLine as OrderLine
from services.groupbuy.lists import change_lines as change_lines
from services.groupbuy.lists import formed_items as formed_items
from services.groupbuy.lists import list_lines as list_lines
from services.groupbuy.lists import my_lines as my_lines
from services.groupbuy.opening import extend_deadline as extend_deadline
from services.groupbuy.opening import open_groupbuy as open_groupbuy
from services.groupbuy.opening import set_pickup_language as set_pickup_language
from services.groupbuy.parse import MAX_DAYS_OPEN as MAX_DAYS_OPEN
from services.groupbuy.parse import parse_count as parse_count
from services.groupbuy.parse import parse_deadline as parse_deadline
from services.groupbuy.parse import parse_minimum as parse_minimum
from services.groupbuy.parse import parse_tiers as parse_tiers
from services.groupbuy.prepay import PREPAY_OPEN as PREPAY_OPEN
from services.groupbuy.prepay import PREPAY_PAID as PREPAY_PAID
from services.groupbuy.prepay import book_after_forming as book_after_forming
from services.groupbuy.prepay import prepaid_units as prepaid_units
from services.groupbuy.prepay import prepayment_due as prepayment_due
from services.groupbuy.prepay import sync_prepayment as sync_prepayment
from services.groupbuy.read import due_groupbuys as due_groupbuys
from services.groupbuy.read import get_groupbuy as get_groupbuy
from services.groupbuy.read import open_groupbuys as open_groupbuys
from services.groupbuy.read import participants as participants
from services.groupbuy.settling import call_off_groupbuy as call_off_groupbuy
from services.groupbuy.settling import cancel_groupbuy as cancel_groupbuy
from services.groupbuy.settling import settle as settle
from services.groupbuy.settling import settle_groupbuy as settle_groupbuy
from services.groupbuy.stock import groupbuy_variants as groupbuy_variants
from services.groupbuy.values import Closing as Closing
from services.groupbuy.values import GroupBuyError as GroupBuyError
from services.groupbuy.values import GroupBuyRefusal as GroupBuyRefusal
from services.groupbuy.values import GroupBuyVariantView as GroupBuyVariantView
from services.groupbuy.values import GroupBuyView as GroupBuyView
from services.groupbuy.values import GroupNotice as GroupNotice
from services.groupbuy.values import JoinResult as JoinResult
from services.groupbuy.values import ListEntry as ListEntry
from services.groupbuy.values import MemberNotice as MemberNotice
from services.groupbuy.values import OwedBack as OwedBack
from services.groupbuy.values import Participant as Participant
from services.groupbuy.values import Settlement as Settlement
from services.groupbuy.values import UnreachedLeader as UnreachedLeader
from services.groupbuy.values import price_for as price_for
