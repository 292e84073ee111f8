"""How people talk to the bot: one aiogram Router per feature."""

from __future__ import annotations

from aiogram import Router


def feature_routers() -> list[Router]:
    """Every feature router, in the order they are tried (specific before general)."""
    from handlers import (
        abtest,
        alerts,
        broadcast,
        care,
        cash,
        community,
        coupons,
        credit,
        delivery,
        digest,
        errors,
        forwhom,
        groupbuy,
        groupbuy_wizard,
        groups,
        jielong,
        language,
        ledger,
        levels,
        membership,
        menu,
        metrics,
        myorders,
        nps,
        order,
        payout,
        perks,
        pickup,
        policy,
        poll,
        poll_wizard,
        privacy,
        product,
        product_wizard,
        referral,
        reservation,
        review,
        role,
        start,
        statement,
        stats,
        suggestion,
        ticket,
        trial,
        waitlist,
    )

    routers = [
        errors.router,
        role.router,
        credit.router,
        groups.router,
        levels.router,
        community.router,
        ledger.router,
        product.router,
        delivery.router,  # its address questions take plain text in private
        forwhom.router,  # its question (whom an order is for) takes plain text in private
        membership.router,  # before order: subscription payments (payload mship:) are its own
        order.router,
        myorders.router,
        pickup.router,
        ticket.router,
        cash.router,
        payout.router,
        reservation.router,
        coupons.router,
        jielong.router,  # before groupbuy: replies to a list's card are orders
        groupbuy.router,
        waitlist.router,
        perks.router,
        poll.router,
        policy.router,
        care.router,
        abtest.router,
        referral.router,
        stats.router,
        metrics.router,
        digest.router,
        alerts.router,
        statement.router,
        privacy.router,
        language.router,
        start.router,
        menu.router,
        broadcast.router,  # its wizard steps take plain text too
        suggestion.router,  # staff's reply step takes plain text
        nps.router,  # the comment step takes plain text
        trial.router,  # the report's steps take words and photos in private
        review.router,  # photos in private with no wizard step open go with a review
        # last: their steps take plain text, after the commands (and /cancel) had their turn
        product_wizard.router,
        groupbuy_wizard.router,  # also /groupbuy and /drop without arguments
        poll_wizard.router,
        # the very last: private text nobody above took gets a hint with the main menu
        menu.fallback,
    ]
    for router in routers:
        # Routers live at module level as aiogram intends; a process that builds a second
        # Dispatcher (the test suite builds one per test) re-attaches them to the new one.
        router._parent_router = None
    return routers
