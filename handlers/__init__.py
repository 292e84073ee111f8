"""How people talk to the bot: one aiogram Router per feature."""

from __future__ import annotations

from importlib import import_module

from aiogram import Router

# The feature modules whose `router` is tried in this order (specific before general). They
# are imported when the routers are asked for, not when `handlers` is: they import
# handlers.views, which would import this package half-built.
ROUTER_ORDER = (
    "errors",
    "role",
    "role_leaders",  # role's handlers, split in three files, in their old order
    "role_apply",
    "credit",
    "groups",
    "levels",
    "community",
    "ledger",
    "product",
    "delivery",  # its address questions take plain text in private
    "forwhom",  # its question (whom an order is for) takes plain text in private
    "membership",  # before order: subscription payments (payload mship:) are its own
    "order",
    "order_admin",  # right after order: its handlers followed order's in one file
    "myorders",
    "pickup",
    "pickup_points",  # right after pickup: its handlers followed pickup's in one file
    "ticket",
    "ticket_resolve",  # right after ticket: its handlers followed ticket's in one file
    "cash",
    "payout",
    "reservation",
    "coupons",
    "jielong",  # before groupbuy: replies to a list's card are orders
    "groupbuy_open",  # groupbuy's handlers, split in three files, in their old order
    "groupbuy",
    "groupbuy_admin",
    "waitlist",
    # perks' handlers, split by the feature whose verbs they call; their commands differ, so
    # the order among them does not matter, but they keep perks' place in the list
    "loyalty",
    "points",
    "tiers",
    "member",  # also /language, which stood after privacy: no router between takes it
    "rewards",  # right after perks' four: its handlers followed perks' in one file
    "poll",
    "policy",
    "care",
    "abtest",
    "referral",
    "referral_admin",  # right after referral: its handlers followed referral's in one file
    "analytics",  # /stats; with dashboard below, they were one router (stats) in this place
    "dashboard",
    "metrics",
    "digest",
    "alerts",
    "statement",
    "privacy",
    "start",
    "menu",
    "broadcast",  # its wizard steps take plain text too
    "broadcast_send",  # right after broadcast: the wizard's second half followed its first
    "broadcast_control",  # then the control handlers, which followed the wizard in one file
    "suggestion",  # staff's reply step takes plain text
    "nps",  # the comment step takes plain text
    "trial",  # the report's steps take words and photos in private
    "review",  # photos in private with no wizard step open go with a review
    # last: their steps take plain text, after the commands (and /cancel) had their turn
    "product_wizard",
    "groupbuy_wizard",  # also /groupbuy and /drop without arguments
    "groupbuy_wizard_confirm",  # right after groupbuy_wizard: its handlers followed them
    "poll_wizard",
)


def feature_routers() -> list[Router]:
    """Every feature router, in the order they are tried (specific before general)."""
    routers: list[Router] = [import_module(f".{name}", __name__).router for name in ROUTER_ORDER]
    # the very last: private text nobody above took gets a hint with the main menu
    routers.append(import_module(".menu", __name__).fallback)
    for router in routers:
        # Routers live at module level as aiogram intends; a process that builds a second
        # Dispatcher (the test suite builds one per test) re-attaches them to the new one.
        router._parent_router = None
    return routers
