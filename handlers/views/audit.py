"""The audit log in the reader's words: a translated label for every action code recorded
with services.audit.record_action, and the known words of a detail (the record's keys, not
what a person typed) translated, so a Chinese /audit shows no English its reader did not type.

Codes stay stable English in the database (tests, exports and queries read them); they are
translated only when shown. A code the table does not know (a future one) is shown as stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from aiogram.utils.i18n import gettext as _

from handlers.views.text import N_, NC_, pgettext

DETAIL = "audit detail"  # the msgctxt of the detail words

# every action code recorded anywhere (tests/test_audit.py greps the code for them)
ACTION_LABELS: Mapping[str, str] = {
    "alert.added": N_("Alert set"),
    "alert.list": N_("List alerts"),
    "alert.remove": N_("Remove an alert"),
    "alert.removed": N_("Alert removed"),
    "alert.set": N_("Set an alert"),
    "audit.read": N_("Read the audit log"),
    "digest.set": N_("The weekly digest: on or off"),
    "group.invite": N_("Invite a member to a VIP or core group"),
    "group.invited": N_("Member invited to a group"),
    "group.buyers": N_("Set a buyers' group"),
    "group.buyers_set": N_("Buyers' group set"),
    "group.join_approved": N_("Join request approved"),
    "group.join_declined": N_("Join request declined"),
    "group.level": N_("Set a group's level"),
    "group.level_set": N_("Group level set"),
    "membership.cancel": N_("Cancel a paid membership"),
    "membership.lapsed": N_("Paid membership ended"),
    "membership.plan_add": N_("Membership plan added"),
    "membership.plan_off": N_("Membership plan switched off"),
    "membership.plans": N_("Manage membership plans"),
    "order.for_whom": N_("Say whom an order is for"),
    "points.grant": N_("Grant or take points by hand"),
    "review.approve": N_("Approve a review"),
    "review.list": N_("List reviews waiting for moderation"),
    "review.reject": N_("Reject a review"),
    "trial.create": N_("Create a product trial"),
    "trial.report": N_("Read a product trial's reports"),
    "broadcast.confirm": N_("Confirm a broadcast"),
    "broadcast.control": N_("Pause, resume or cancel a broadcast"),
    "broadcast.create": N_("Create a broadcast"),
    "broadcast.list": N_("List broadcasts"),
    "broadcast.override": N_("Broadcast despite the pacing rules"),
    "broadcast.schedule": N_("Schedule a broadcast"),
    "broadcast.status": N_("Check a broadcast's progress"),
    "broadcast.result": N_("Read what a broadcast earned"),
    "broadcast.tag": N_("Tag members for broadcasts"),
    "broadcast.pause": N_("Pause a broadcast"),
    "broadcast.resume": N_("Resume a broadcast"),
    "broadcast.cancel": N_("Cancel a broadcast"),
    "care.add": N_("Add a care message"),
    "care.list": N_("List care messages"),
    "care.result": N_("Read what a care message won back"),
    "care.retire": N_("Retire a care message"),
    "cash.handover": N_("Hand over cash"),
    "cash.handover.confirm": N_("Confirm a cash hand-over"),
    "cash.handover.refuse": N_("Refuse a cash hand-over"),
    "cash.list": N_("List cash held by leaders"),
    "community.settings": N_("Open group settings"),
    "community.settings.changed": N_("Change a group setting"),
    "coupons.create": N_("Create a coupon"),
    "coupons.grant": N_("Grant a coupon"),
    "coupons.list": N_("List coupons"),
    "dashboard.export": N_("Export a table from the dashboard"),
    "dashboard.link": N_("Ask for a dashboard link"),
    "dashboard.sign_in": N_("Sign in to the dashboard"),
    "dashboard.sign_out": N_("Sign out of the dashboard"),
    "delivery.delivered": N_("Mark an order delivered"),
    "delivery.list": N_("List orders to ship"),
    "delivery.option_add": N_("Add a delivery option"),
    "delivery.option_remove": N_("Remove a delivery option"),
    "delivery.options": N_("List delivery options"),
    "delivery.ship": N_("Ship an order"),
    "group.approved": N_("Approve a group"),
    "group.declined": N_("Decline a group"),
    "group.list": N_("List groups"),
    "group.reinstated": N_("Reinstate a group"),
    "group.review": N_("Review a group"),
    "group.suspended": N_("Suspend a group"),
    "groupbuy.cancel": N_("Cancel a group-buy"),
    "groupbuy.close": N_("Close a group-buy"),
    "groupbuy.drop": N_("Open a drop"),
    "groupbuy.extend": N_("Extend a group-buy"),
    "groupbuy.open": N_("Open a group-buy"),
    "groupbuy.pickup_text": N_("Change a drop's pickup text in one language"),
    "leader.appointed": N_("Appoint a leader"),
    "leader.apply": N_("Apply to lead a group"),
    "leader.approved": N_("Approve a leader"),
    "leader.decide": N_("Decide on a leader application"),
    "leader.declined": N_("Decline a leader"),
    "leader.designate": N_("Designate a leader"),
    "leader.designated": N_("Leader designated"),
    "leader.limit": N_("Set a leader's cash limit"),
    "leader.list": N_("List leaders"),
    "leader.record": N_("Read a leader's record"),
    "leader.reinstate": N_("Reinstate a leader"),
    "leader.reinstated": N_("Leader reinstated"),
    "leader.remove": N_("Remove a leader"),
    "leader.removed": N_("Leader removed"),
    "leader.suspend": N_("Suspend a leader"),
    "leader.suspended": N_("Leader suspended"),
    "ledger.export": N_("Export the ledger"),
    "nps.report": N_("Read the satisfaction survey"),
    "nps.send": N_("Send the satisfaction survey"),
    "order.list": N_("List orders"),
    "order.mark": N_("Mark an order paid"),
    "order.refund": N_("Refund an order"),
    "order.refund_paid": N_("Record a refund paid"),
    "payout.decide": N_("Decide on a payout"),
    "payout.pay": N_("Pay a payout"),
    "payout.refuse": N_("Refuse a payout"),
    "perks.charity": N_("Manage the charity pool"),
    "perks.fulfil": N_("List rewards to fulfil"),
    "perks.handover": N_("Hand over a reward"),
    "perks.handover.done": N_("Reward handed over"),
    "perks.reward": N_("Add a reward"),
    "perks.rewards": N_("Manage rewards"),
    "perks.tiers": N_("Manage member tiers"),
    "pickup.gb_points": N_("Set a group-buy's pickup points"),
    "pickup.keeper": N_("Manage pickup keepers"),
    "pickup.keeper_add": N_("Add a pickup keeper"),
    "pickup.keeper_remove": N_("Remove a pickup keeper"),
    "pickup.point_add": N_("Add a pickup point"),
    "pickup.point_remove": N_("Remove a pickup point"),
    "pickup.point_sheet": N_("Pickup sheet of a pickup point"),
    "pickup.points": N_("List pickup points"),
    "pickup.redeem": N_("Hand over an order at pickup"),
    "pickup.sheet": N_("Pickup sheet"),
    "poll.close": N_("Close a poll"),
    "poll.create": N_("Create a poll"),
    "poll.list": N_("List polls"),
    "poll.presale": N_("Turn a poll into a presale"),
    "privacy.export": N_("Export a member's data"),
    "privacy.forget": N_("Erase a member's data"),
    "product.create": N_("Create a product"),
    "product.edit": N_("Edit a product"),
    "product.translate": N_("Translate a product"),
    "promotions.calendar": N_("Read the promotions calendar"),
    "referral.approve": N_("Approve a referral"),
    "referral.campaign": N_("Manage referral campaigns"),
    "referral.campaign_created": N_("Create a referral campaign"),
    "referral.held": N_("List held referrals"),
    "referral.reject": N_("Reject a referral"),
    "referral.review": N_("Review a referral"),
    "referral.stats": N_("Read referral statistics"),
    "staff.grant": N_("Make someone staff"),
    "staff.granted": N_("Staff added"),
    "staff.list": N_("List staff"),
    "staff.revoke": N_("Remove someone from staff"),
    "staff.revoked": N_("Staff removed"),
    "statement.export": N_("Export a statement"),
    "statement.view": N_("Read a statement"),
    "stats.view": N_("Read group statistics"),
    "metrics.view": N_("Read the weekly rates chart"),
    "suggestion.decide": N_("Decide on a suggestion"),
    "suggestion.list": N_("List suggestions"),
    "ticket.answer": N_("Answer a ticket"),
    "ticket.coupon": N_("Give a coupon on a ticket"),
    "ticket.escalate": N_("Escalate a ticket"),
    "ticket.message": N_("Write on a ticket"),
    "ticket.open": N_("Open a ticket"),
    "ticket.queue": N_("List open tickets"),
    "ticket.refund": N_("Refund on a ticket"),
    "ticket.resolve": N_("Resolve a ticket"),
    "ticket.say": N_("Reply on a ticket"),
    "ticket.view": N_("Read a ticket"),
}

OVERRIDE = ".override"  # a text the lint flagged went ahead anyway: "<action>.override"

# the words the code writes into details, longest first (so "sent as a chat" wins over "a")
DETAIL_WORDS: Mapping[str, str] = {
    "sent as a chat": NC_("audit detail", "sent as a chat"),
    "added the bot": NC_("audit detail", "added the bot"),
    "this browser": NC_("audit detail", "this browser"),
    "everywhere": NC_("audit detail", "everywhere"),
    "mini app": NC_("audit detail", "mini app"),
    "mini_app": NC_("audit detail", "mini app"),
    "command line": NC_("audit detail", "command line"),
    "operator": NC_("audit detail", "operator"),
    "creator": NC_("audit detail", "creator"),
    "photo": NC_("audit detail", "photo"),
    "member": NC_("audit detail", "member"),
    "ticket": NC_("audit detail", "ticket"),
    "order": NC_("audit detail", "order"),
    "option": NC_("audit detail", "option"),
    "payout": NC_("audit detail", "payout"),
    "hand-over": NC_("audit detail", "hand-over"),
    "fulfilment": NC_("audit detail", "fulfilment"),
    "redemption": NC_("audit detail", "redemption"),
    "campaign": NC_("audit detail", "campaign"),
    "code": NC_("audit detail", "code"),
    "invitee": NC_("audit detail", "invitee"),
    "refund": NC_("audit detail", "refund"),
    "coupon": NC_("audit detail", "coupon"),
    "statement": NC_("audit detail", "statement"),
    "group-buy": NC_("audit detail", "group-buy"),
    "findings=": NC_("audit detail", "found words:"),
    "reason=": NC_("audit detail", "reason:"),
    "leader=": NC_("audit detail", "leader:"),
    "groups=": NC_("audit detail", "groups:"),
    "q=": NC_("audit detail", "search:"),
    "of": NC_("audit detail", "of"),
    "to": NC_("audit detail", "to"),
    "on": NC_("audit detail", "on"),
}

# where a detail turns to what a person typed (a reason, flagged words, a status after a
# colon): nothing after it is translated
_FREE_TEXT = re.compile(r": |(?<![\w-])(?:findings|reason)=")
_WORDS = re.compile(
    "|".join(
        rf"(?<![\w-]){re.escape(word)}" + ("" if word.endswith("=") else r"(?![\w-])")
        for word in sorted(DETAIL_WORDS, key=len, reverse=True)
    )
)


def action_label(code: str) -> str:
    """The action as the reader reads it, in the current locale (not escaped)."""
    known = ACTION_LABELS.get(code)
    if known is not None:
        return _(known)
    if code.endswith(OVERRIDE) and code[: -len(OVERRIDE)] in ACTION_LABELS:
        return _("{action}, despite the wording check").format(
            action=_(ACTION_LABELS[code[: -len(OVERRIDE)]])
        )
    return code


def detail_text(detail: str) -> str:
    """The detail with the words the code wrote translated (ids, amounts and what a person
    typed stay as they are); not escaped."""
    free = _FREE_TEXT.search(detail)
    cut = free.end() if free else len(detail)
    head = _WORDS.sub(lambda found: pgettext(DETAIL, DETAIL_WORDS[found.group(0)]), detail[:cut])
    return head + detail[cut:]
