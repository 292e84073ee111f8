"""Callback data: a field with a closed set of values is a StrEnum, and the wire format of the
buttons already posted in chats stays what it was."""

from __future__ import annotations

from enum import StrEnum
from typing import get_args

import pytest
from aiogram.filters.callback_data import CallbackData

import handlers
from handlers.community import SettingsCallback, SettingsField
from handlers.loyalty import CheckInCallback
from handlers.menu import callback_data_classes
from handlers.order_admin import OrderAction, OrderCallback
from handlers.views.content import ContentAction, ContentCallback
from handlers.views.groupbuy import GroupBuyAction, GroupBuyCallback
from handlers.views.groupbuy_wizard import GroupBuyWizardAction, GroupBuyWizardCallback
from handlers.views.groups import GroupAction
from handlers.views.language import LanguageCallback
from handlers.views.menu import MenuCallback, MenuScreen
from handlers.views.myorders import MyOrderAction
from handlers.views.perks import RewardAction, RewardCallback
from handlers.views.ticket import TicketKind
from models.product import Fulfilment
from models.ticket import TICKET_KINDS
from services import myorders
from services.groups import ACTIONS
from services.member import Locale

# the fields that name what a button does: a free string here lets a typo or a stale value slip
CLOSED_FIELDS = {"action", "choice", "kind", "field", "mode", "locale"}


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
        if name in CLOSED_FIELDS and not _enum_or_none(field.annotation)
    ]
    assert free == [], f"{cls.__module__}.{cls.__qualname__}: make {free} a StrEnum"


def _enum_or_none(annotation: object) -> bool:
    """A StrEnum, or a StrEnum or None (an empty field on the wire)."""
    kinds = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    return len(kinds) == 1 and isinstance(kinds[0], type) and issubclass(kinds[0], StrEnum)


def test_an_enum_member_packs_to_the_same_string_as_the_old_literal() -> None:
    # given buttons built with the enums, then the same buttons as the old code built them
    assert OrderCallback(action=OrderAction.PAID, order_id=7).pack() == "ord:paid:7"
    assert GroupBuyCallback(action=GroupBuyAction.JOIN, groupbuy_id=3, quantity=2).pack() == (
        "gb:join:3:2"
    )
    assert RewardCallback(action=RewardAction.ASK, reward_id=5).pack() == "rw:ask:5"
    assert CheckInCallback().pack() == "ck:in"
    delivery = GroupBuyWizardCallback(
        action=GroupBuyWizardAction.DELIVERY, step="delivery", mode=Fulfilment.BOTH
    )
    assert delivery.pack() == "gbw:delivery:delivery:0::both"
    confirm = GroupBuyWizardCallback(action=GroupBuyWizardAction.CONFIRM, step="confirm")
    assert confirm.pack() == "gbw:confirm:confirm:0::"


def test_an_old_button_unpacks_to_the_enum_member() -> None:
    assert OrderCallback.unpack("ord:picked:7").action is OrderAction.PICKED
    assert GroupBuyCallback.unpack("gb:details:3:0").action is GroupBuyAction.DETAILS


def test_a_language_button_keeps_its_wire_format() -> None:
    assert LanguageCallback(locale=Locale.ZH_HANS).pack() == "lang:zh_Hans"
    assert LanguageCallback.unpack("lang:zh_Hant").locale is Locale.ZH_HANT
    offered = ContentCallback(wizard="NewProduct", action=ContentAction.LANG, locale=Locale.EN)
    assert offered.pack() == "ct:NewProduct:lang:en"
    done = ContentCallback(wizard="NewProduct", action=ContentAction.DONE)
    assert done.pack() == "ct:NewProduct:done:"
    assert ContentCallback.unpack("ct:NewProduct:done:").locale is None
    with pytest.raises(ValueError):
        LanguageCallback.unpack("lang:fr")


def test_an_old_delivery_button_unpacks_to_its_mode() -> None:
    assert GroupBuyWizardCallback.unpack("gbw:delivery:delivery:0::pickup").mode is (
        Fulfilment.PICKUP
    )
    assert GroupBuyWizardCallback.unpack("gbw:confirm:confirm:0::").mode is None


def test_a_forged_action_is_no_member_and_fails_to_unpack() -> None:
    with pytest.raises(ValueError):
        OrderCallback.unpack("ord:refund:7")


def test_the_enums_cover_the_values_the_services_hand_to_the_buttons() -> None:
    # the decisions, an order's actions and the kinds of a ticket are named in services/models
    assert set(ACTIONS) <= set(GroupAction)
    offered = {value for name, value in vars(myorders).items() if name.startswith("ACTION_")}
    assert offered <= set(MyOrderAction)
    assert tuple(TicketKind) == TICKET_KINDS


def test_the_menu_and_settings_buttons_pack_as_before() -> None:
    # given the screens and settings as enum members, then the data the old strings packed
    assert MenuCallback(action=MenuScreen.HISTORY_FILE).pack() == "menu:history_file"
    assert MenuCallback.unpack("menu:membership").action is MenuScreen.MEMBERSHIP
    assert SettingsCallback(field=SettingsField.TIMEZONE, value="UTC").pack() == "gset:tz:UTC"
    assert SettingsCallback.unpack("gset:locale:en").field is SettingsField.LOCALE
