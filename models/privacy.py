"""What the store holds about members: which columns carry a member's id, and which free
texts a member writes, so /mydata, /forgetme and the retention job are driven by the schema.

Columns with a ForeignKey to member.id are found on SQLModel.metadata by themselves. Plain
Telegram-id columns (no foreign key, because a group id or the brand's 0 may sit there too,
or because the row outlives the member's) are declared here. `tests/test_privacy.py` fails
when a table gains an id-like column that is neither a foreign key nor classified below: a
new table that refers to a member cannot be forgotten by the export or the erasure.
"""

from __future__ import annotations

from dataclasses import dataclass

# "table.column" of plain columns that hold the id of the member the row is about
MEMBER_ID_COLUMNS: frozenset[str] = frozenset(
    {
        "audit_log.actor_id",  # the member's own privileged actions
        # a private recipient's chat id is the member's id (groups are negative)
        "broadcast_recipient.chat_id",
        "care_exposure.member_id",  # which arm of a care rule's A/B test the member was in
        "chat_admin.member_id",
        # member accounts; a group's accounts carry its (negative) id, the brand's 0
        "ledger_account.owner_id",
        "marketing_consent.member_id",
        # how many messages and taps the member made in a group on a day (interaction rate)
        "member_interaction.member_id",
        "payment.member_id",
        "points_day.member_id",
        "referral_attempt.member_id",
        "star_refund.member_id",
    }
)

# "table.column" of plain columns that hold the id of a member who acted on a row about
# something or someone else (a leader's order list, staff's products): /mydata names the
# row and the member's part in it, never the rest of the row
ACTOR_ID_COLUMNS: frozenset[str] = frozenset(
    {
        "alert.created_by",
        "broadcast.created_by",
        "buyers_group.set_by",
        "cash_handover.decided_by",
        "care_rule.created_by",
        "membership_plan.created_by",
        "community.added_by",
        "community.approval_by",
        "coupon_template.created_by",
        "group_invite.invited_by",
        "fulfilment.handed_over_by",
        "groupbuy.opened_by",
        "leader_designation.decided_by",
        "leader_designation.designated_by",
        "leader_limit.set_by",
        "payout_request.decided_by",
        "pickup_reminder.reminded_by",
        "pickup_keeper.added_by",
        "pickup_point.created_by",
        "orders.picked_up_by",
        "orders.shipped_by",
        "shipping_option.created_by",
        "ledger_transaction.actor_id",
        "order_event.actor_id",
        "orders.leader_id",
        "poll.created_by",
        "product.created_by",
        "referral.reviewed_by",
        "review.moderated_by",
        "referral_campaign.created_by",
        "reward.created_by",
        "staff_grant.granted_by",
        "staff_grant.revoked_by",
        "suggestion.decided_by",
        "ticket.answered_by",
        "ticket.closed_by",
        "ticket.leader_id",
        "trial.created_by",
    }
)

# "table.column" of id-like columns that never hold a member's id, and what they hold instead
NOT_MEMBER_COLUMNS: dict[str, str] = {
    "alert.community_id": "a group",
    "audit_log.chat_id": "a chat: a group, or the actor's own private chat",
    "broadcast.button_groupbuy_id": "a group-buy",
    "broadcast_recipient.message_id": "a Telegram message",
    "buyers_invite.order_id": "an order",
    "care_exposure.coupon_id": "a coupon given by the care rule",
    "checkin.chat_id": "a chat: a group, or the member's own private chat",
    "member_interaction.community_id": "a group",
    "community.id": "a group",
    "community_member.community_id": "a group",
    "group_invite.community_id": "a group",
    "groupbuy_join.chat_id": "a group",
    "groupbuy_post.chat_id": "a group",
    "groupbuy_post.message_id": "a Telegram message",
    "ledger_transaction.order_id": "an order",
    "nps_survey.community_id": "a group",
    "poll_ballot.chat_id": "a chat: a group, or the voter's own private chat (an early copy)",
    "poll_post.chat_id": "a chat: a group, or an ambassador's own private chat (an early copy)",
    "promotion_post.chat_id": "a group",
    "promotion_post.groupbuy_id": "a group-buy",
    "promotion_lock.chat_id": "a group",
    "scheduled_post.chat_id": "a group",
    "scheduled_post.groupbuy_id": "a group-buy",
    "poll_post.message_id": "a Telegram message",
    "member_coupon.order_id": "an order",
    "orders.chat_id": "a chat: a group, or the member's own private chat",
    "processed_update.update_id": "a Telegram update",
    "referral.community_id": "a group",
    "referral.first_order_id": "an order",
    "referral_invite_link.chat_id": "a group",
    "suggestion.community_id": "a group",
    "ticket.chat_id": "a group",
    "ticket.product_id": "a product",
    "waitlist_entry.chat_id": "a group",
    "waitlist_entry.variant_id": "a product variant",
    # the raw update (its body) is kept only until a worker handled it, seconds as a rule
    "webhook_inbox.update_id": "a Telegram update",
}

# tables that refer to a member but stay out of /mydata, with the reason (none so far)
NOT_EXPORTED: dict[str, str] = {}

# columns dropped from every exported row: they may name other people
REDACTED_COLUMNS: frozenset[str] = frozenset(
    {
        "audit_log.detail",  # staff actions name their targets
        "dashboard_session.id",  # names a live dashboard session
    }
)


@dataclass(frozen=True, slots=True)
class FreeText:
    """A column of words a member wrote: erased by /forgetme and after its retention period."""

    table: str
    column: str  # the text; erased to "" (the row stays for counts and ratings)
    member_column: str  # whose words they are
    time_column: str  # when they were written; retention runs from it
    key: str  # the name in TEXT_RETENTION_DAYS
    default_days: int  # retention when the configuration says nothing


# every free-text column members write; a feature that stores one adds it here
FREE_TEXTS: tuple[FreeText, ...] = (
    FreeText("review", "comment", "member_id", "created_at", "review_comment", 365),
    FreeText("suggestion", "text", "member_id", "created_at", "suggestion_text", 365),
    FreeText("nps_survey", "comment", "member_id", "answered_at", "nps_comment", 365),
    FreeText("ticket", "description", "member_id", "opened_at", "ticket_text", 365),
    FreeText("ticket_message", "text", "author_id", "created_at", "ticket_message", 365),
    # a photo on a ticket (its Telegram file id): the dashboard shows it until it is erased
    FreeText("ticket_message", "photo_file_id", "author_id", "created_at", "ticket_message", 365),
    # a delivered order's address: kept while it travels, erased after its days from shipping
    # whom an order is for (代订), e.g. "Mom, building 3": kept a year like other texts
    FreeText("orders", "for_whom", "member_id", "created_at", "order_for", 365),
    FreeText("orders", "ship_name", "member_id", "shipped_at", "delivery_address", 90),
    FreeText("orders", "ship_phone", "member_id", "shipped_at", "delivery_address", 90),
    FreeText("orders", "ship_address", "member_id", "shipped_at", "delivery_address", 90),
    # a product trial's report (体验官) and its photos: kept as long as review comments
    FreeText("trial_invite", "report", "member_id", "reported_at", "review_comment", 365),
    FreeText("trial_media", "file_id", "member_id", "created_at", "review_comment", 365),
)
