"""Pickup (提货): the leader's sheet of a formed group-buy and the reminders to pay; pickup
points with their keepers, and pickup by code (核销).

The sheet is read from the group-buy's orders, one line per order in the order they were
opened (by id), so a line never moves when another order is paid or picked up: a button that
names an order keeps meaning that order. Marking itself is the order verbs'
(services/order/), with every rule they carry.

A pickup point belongs to a group; the orders placed in that group are picked up at one of its
active points, the member's choice when there are several. A paid order carries a pickup code
(services/order/ gives it); a keeper of the order's point, the group's leader or staff type
or scan it, and the order moves to fulfilled once: the conditional UPDATE on its status and
version decides between two keepers at the same moment.
"""

from services.pickup.codes import PointSheet as PointSheet
from services.pickup.codes import PointSheetLine as PointSheetLine
from services.pickup.codes import Redeemed as Redeemed
from services.pickup.codes import is_keeper as is_keeper
from services.pickup.codes import normalize_code as normalize_code
from services.pickup.codes import point_sheet as point_sheet
from services.pickup.codes import redeem_code as redeem_code
from services.pickup.points import ADDRESS_MAX as ADDRESS_MAX
from services.pickup.points import CHOOSABLE as CHOOSABLE
from services.pickup.points import HOURS_MAX as HOURS_MAX
from services.pickup.points import NAME_MAX as NAME_MAX
from services.pickup.points import Keeper as Keeper
from services.pickup.points import PickupError as PickupError
from services.pickup.points import PointView as PointView
from services.pickup.points import add_keeper as add_keeper
from services.pickup.points import add_point as add_point
from services.pickup.points import choose_point as choose_point
from services.pickup.points import get_point as get_point
from services.pickup.points import groupbuy_point_ids as groupbuy_point_ids
from services.pickup.points import groupbuy_points as groupbuy_points
from services.pickup.points import kept_points as kept_points
from services.pickup.points import may_manage_points as may_manage_points
from services.pickup.points import offered_points as offered_points
from services.pickup.points import points_of as points_of
from services.pickup.points import remove_keeper as remove_keeper
from services.pickup.points import remove_point as remove_point
from services.pickup.points import set_groupbuy_points as set_groupbuy_points
from services.pickup.sheet import SHEET_STATUSES as SHEET_STATUSES
from services.pickup.sheet import PickupLine as PickupLine
from services.pickup.sheet import PickupSheet as PickupSheet
from services.pickup.sheet import ProductTotal as ProductTotal
from services.pickup.sheet import Reminded as Reminded
from services.pickup.sheet import Reminders as Reminders
from services.pickup.sheet import may_run_pickup as may_run_pickup
from services.pickup.sheet import pickup_sheet as pickup_sheet
from services.pickup.sheet import remind_unpaid as remind_unpaid
from services.pickup.sheet import runs_pickups as runs_pickups
from services.pickup.sheet import sheet_order as sheet_order
