"""Callback data: a field with a closed set of values is a StrEnum, and the wire format of the
buttons already posted in chats stays what it was."""

from __future__ import annotations

from enum import StrEnum

import pytest
from aiogram.filters.callback_data import CallbackData

import handlers
from handlers.loyalty import CheckInCallback
from handlers.menu import callback_data_classes
from handlers.order_admin import OrderAction, OrderCallback
from handlers.views.groupbuy import GroupBuyAction, GroupBuyCallback
from handlers.views.groups import GroupAction
from handlers.views.myorders import MyOrderAction
from handlers.views.perks import RewardAction, RewardCallback
from handlers.views.ticket import TicketKind
from models.ticket import TICKET_KINDS
from services import myorders
from services.groups import ACTIONS

# the fields that name what a button does: a free string here lets a typo or a stale value slip
CLOSED_FIELDS = {"action", "choice", "kind"}
# kept free on purpose, with the reason
FREE = {
    # a screen this version does not know (forged, or from a newer menu) shows the menu again
    # (tests/test_menu.py), so an unknown name must reach its fallback handler
    ("MenuCallback", "action"),
}


def callback_classes() -> list[type[CallbackData]]:
    """Every CallbackData class the feature routers know (importing them declares all)."""
    handlers.feature_routers()
    return sorted(callback_data_classes(), key=lambda cls: cls.__qualname__)


def test_the_walk_finds_the_callback_classes_of_the_handlers() -> None:
    names = {cls.__name__ for cls in callback_classes()}
    assert {"OrderCallback", "GroupBuyCallback", "StepCallback", "MenuCallback"} <= names


@pytest.mark.parametrize(
    "cls", callback_classes(), ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}"
)
def test_no_callback_names_its_action_with_a_free_string(cls: type[CallbackData]) -> None:
    free = [
        name
        for name, field in cls.model_fields.items()
        if name in CLOSED_FIELDS
        and (cls.__name__, name) not in FREE
        and not (isinstance(field.annotation, type) and issubclass(field.annotation, StrEnum))
    ]
    assert free == [], f"{cls.__module__}.{cls.__qualname__}: make {free} a StrEnum"


def test_an_enum_member_packs_to_the_same_string_as_the_old_literal() -> None:
    # given buttons built with the enums, then the same buttons as the old code built them
    assert OrderCallback(action=OrderAction.PAID, order_id=7).pack() == "ord:paid:7"
    assert GroupBuyCallback(action=GroupBuyAction.JOIN, groupbuy_id=3, quantity=2).pack() == (
        "gb:join:3:2"
    )
    assert RewardCallback(action=RewardAction.ASK, reward_id=5).pack() == "rw:ask:5"
    assert CheckInCallback().pack() == "ck:in"


def test_an_old_button_unpacks_to_the_enum_member() -> None:
    assert OrderCallback.unpack("ord:picked:7").action is OrderAction.PICKED
    assert GroupBuyCallback.unpack("gb:details:3:0").action is GroupBuyAction.DETAILS


def test_a_forged_action_is_no_member_and_fails_to_unpack() -> None:
    with pytest.raises(ValueError):
        OrderCallback.unpack("ord:refund:7")


def test_the_enums_cover_the_values_the_services_hand_to_the_buttons() -> None:
    # the decisions, an order's actions and the kinds of a ticket are named in services/models
    assert set(ACTIONS) <= set(GroupAction)
    offered = {value for name, value in vars(myorders).items() if name.startswith("ACTION_")}
    assert offered <= set(MyOrderAction)
    assert tuple(TicketKind) == TICKET_KINDS
