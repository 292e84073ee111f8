"""Rejecting a review from the /reviews buttons asks the moderator why, as the dashboard does:
nothing is decided until the reason comes (/cancel keeps the review waiting); the review is
rejected with the reason kept and audited, and the member is told it, escaped."""

from __future__ import annotations

from models.review import REVIEW_PENDING, REVIEW_REJECTED
from tests.conftest import LEE, MIA, SAM, Harness
from tests.test_levels import audited
from tests.test_review import picked_up_order
from tests.test_review_dashboard import review_row


async def waiting_review(harness: Harness, moderator: int) -> int:
    """Mia reviewed order #1; the moderator opens /reviews: the review's message id."""
    await picked_up_order(harness)
    await harness.send(MIA, MIA, "/review 1 2 Not my taste")
    harness.new_bot_messages(moderator)
    harness.emulator.send_message(moderator, moderator, "/reviews")
    await harness.feed_pending()
    return harness.emulator.last_bot_message(moderator).message_id


async def test_reject_asks_the_reason_and_the_member_reads_it(harness: Harness) -> None:
    review = await waiting_review(harness, SAM)
    # when Sam taps Reject, he is asked why, and nothing is decided yet
    assert await harness.press(SAM, SAM, review, index=1) is None
    assert harness.emulator.last_bot_message(SAM).text == (
        "Why is review #1 rejected? Write the reason in one message: the member reads it. "
        "/cancel keeps the review waiting."
    )
    assert (await review_row(harness, 1)).status == REVIEW_PENDING
    # when he cancels, the review keeps waiting
    assert await harness.send(SAM, SAM, "/cancel") == ["Cancelled. Nothing was changed."]
    assert (await review_row(harness, 1)).status == REVIEW_PENDING
    # when he taps Reject again and writes the reason
    await harness.press(SAM, SAM, review, index=1)
    harness.new_bot_messages(MIA)
    assert await harness.send(SAM, SAM, "The photo shows <another> brand") == [
        "Review #1 rejected. The member was told why."
    ]
    # then the review is rejected with the reason, audited, and Mia reads it as written
    row = await review_row(harness, 1)
    assert (row.status, row.moderation_note) == (REVIEW_REJECTED, "The photo shows <another> brand")
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "Thank you for your review of Oolong tea. This time it will not be shown. The reason: "
        "The photo shows <another> brand"
    ]
    assert [(a.actor_id, a.detail) for a in await audited(harness, "review.reject")] == [
        (SAM, "order #1: The photo shows <another> brand")
    ]
    # and a second Reject on the same review is refused once the reason comes
    await harness.press(SAM, SAM, review, index=1)
    assert await harness.send(SAM, SAM, "Again") == [
        "That review was already approved or rejected."
    ]
    # and his next words are not taken as a reason any more
    assert (await review_row(harness, 1)).moderation_note == "The photo shows <another> brand"


async def test_a_leader_is_asked_in_their_language(harness: Harness) -> None:
    review = await waiting_review(harness, LEE)
    await harness.press(LEE, LEE, review, index=1)
    assert harness.emulator.last_bot_message(LEE).text is not None
    assert await harness.send(LEE, LEE, "照片太暗") == ["评价 #1 已驳回，已告知会员理由。"]
    assert (await review_row(harness, 1)).moderation_note == "照片太暗"
