"""Review moderation on the web dashboard: the waiting reviews with their photos (served from
the dashboard's own address, for the review's groups only), approve or reject with a reason by
a same-origin POST, audited, the member told once; a leader sees and decides only their
groups' reviews."""

from __future__ import annotations

import re

import aiohttp

from bot.cli.playground_world import sample_photo
from models.review import REVIEW_APPROVED, REVIEW_PENDING, REVIEW_REJECTED, Review
from tests.conftest import COFFEE, KAI, LEE, MIA, SAM, Harness
from tests.dashboard_kit import dashboard, dashboard_port, settings
from tests.test_delivery_dashboard import signed_in
from tests.test_levels import audited
from tests.test_review import picked_up_order, points_of, send_photo

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures the dashboard test uses

PHOTO = re.compile(r'<img src="(review-photos/(\d+)-\d+-[0-9a-f]{16}\.jpg)"')


async def given_two_waiting_reviews(harness: Harness) -> None:
    """Mia reviewed order #1 (Tea Lovers, Lee's) with a photo, and order #3 (Coffee Club,
    Kai's) in words only."""
    await picked_up_order(harness)
    await harness.send(KAI, KAI, "/start")
    await harness.send(MIA, MIA, "/review 1 4 Fragrant <b>and</b> smooth")
    await send_photo(harness, MIA)
    await harness.send(MIA, COFFEE, "/buy 1")
    await harness.send(KAI, COFFEE, "/paid @mia")
    await harness.send(KAI, COFFEE, "/pickedup @mia")
    await harness.send(MIA, MIA, "/review 3 5 Lovely")


async def review_row(harness: Harness, order_id: int) -> Review:
    async with harness.session() as session:
        row = await session.get(Review, order_id)
    assert row is not None
    return row


async def test_staff_see_every_waiting_review_and_approve_one(
    harness: Harness, dashboard: str
) -> None:
    await given_two_waiting_reviews(harness)
    origin = {"Origin": dashboard.removesuffix("/dashboard")}
    async with await signed_in(harness, SAM) as http:
        # when Sam opens the reviews page
        async with http.get(f"{dashboard}/reviews?lang=en") as response:
            assert response.status == 200
            page = await response.text()
        # then both reviews wait there, the words escaped, the photo from the dashboard
        assert "2 reviews are waiting; the oldest come first." in page
        assert "Order #1 · Oolong tea · Mia · Tea Lovers" in page
        assert "Order #3 · Oolong tea · Mia · Coffee Club" in page
        assert "Fragrant &lt;b&gt;and&lt;/b&gt; smooth" in page
        assert 'action="review"' in page
        [(photo, order)] = PHOTO.findall(page)
        assert order == "1" and "api.telegram.org" not in page
        async with http.get(f"{dashboard}/{photo}") as response:
            assert response.status == 200
            assert await response.read() == sample_photo()
        async with http.get(f"{dashboard}/review-photos/1-1-0123456789abcdef.jpg") as response:
            assert response.status == 404
        # when another site posts an approval in Sam's browser, nothing is decided
        form = {"order": "1", "decision": "approve", "reason": ""}
        async with http.post(
            f"{dashboard}/review", data=form, headers={"Origin": "https://evil.example"}
        ) as response:
            assert response.status == 403
        assert (await review_row(harness, 1)).status == REVIEW_PENDING
        # when Sam approves it from the page
        before = await points_of(harness, MIA)
        harness.new_bot_messages(MIA)
        async with http.post(
            f"{dashboard}/review?lang=en", data=form, headers=origin, allow_redirects=False
        ) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/dashboard/reviews?approve=1"
        async with http.get(f"{dashboard}/reviews?approve=1&lang=en") as response:
            page = await response.text()
        assert "Review #1 approved. The member was told." in page
        # and the page measures the review rate and the rating, as /stats does
        assert "Reviews: 2 of 2 orders picked up (100%); approved: ⭐ 4.0 (1 review)" in page
        assert "1 review is waiting" in page and "Order #1 ·" not in page
        # and the same review approved twice is refused
        async with http.post(f"{dashboard}/review?lang=en", data=form, headers=origin) as r:
            assert r.status == 400
            assert "That review was already approved or rejected." in await r.text()
    # then the review shows, its photo earned points once, Mia was told once and may share it
    assert (await review_row(harness, 1)).status == REVIEW_APPROVED
    assert await points_of(harness, MIA) == before + 50
    await harness.runtime.notifier.drain()
    [told] = harness.new_bot_messages(MIA)
    assert (told.text or "").startswith("Your review of Oolong tea is approved")
    assert told.button_texts == ["📣 Share it in my group"]
    assert [(a.actor_id, a.allowed) for a in await audited(harness, "review.approve")] == [
        (SAM, True),
        (SAM, True),
    ]


async def test_a_leader_rejects_a_review_of_their_group_with_a_reason(
    harness: Harness, dashboard: str
) -> None:
    await given_two_waiting_reviews(harness)
    origin = {"Origin": dashboard.removesuffix("/dashboard")}
    async with await signed_in(harness, LEE) as http:
        # when Lee (who leads Tea Lovers only) opens the reviews page
        async with http.get(f"{dashboard}/reviews?lang=en") as response:
            page = await response.text()
        # then only his group's review is there, with its photo
        assert "1 review is waiting" in page
        assert "Order #1 ·" in page and "Order #3 ·" not in page
        [(photo, _order)] = PHOTO.findall(page)
        async with http.get(f"{dashboard}/{photo}") as response:
            assert response.status == 200
        # and deciding Coffee Club's review is refused, audited
        form = {"order": "3", "decision": "approve"}
        async with http.post(f"{dashboard}/review?lang=en", data=form, headers=origin) as r:
            assert r.status == 403
        assert (await review_row(harness, 3)).status == REVIEW_PENDING
        # and a rejection without a reason is sent back
        form = {"order": "1", "decision": "reject", "reason": "  "}
        async with http.post(f"{dashboard}/review?lang=en", data=form, headers=origin) as r:
            assert r.status == 400
            assert "Write why the review is rejected" in await r.text()
        # when he rejects it with the reason
        harness.new_bot_messages(MIA)
        form["reason"] = "The photo shows <another> brand"
        async with http.post(
            f"{dashboard}/review?lang=en", data=form, headers=origin, allow_redirects=False
        ) as response:
            assert response.headers["Location"] == "/dashboard/reviews?reject=1"
    # then it is rejected with the reason kept, audited, and Mia is told why
    row = await review_row(harness, 1)
    assert (row.status, row.moderation_note) == (
        REVIEW_REJECTED,
        "The photo shows <another> brand",
    )
    await harness.runtime.notifier.drain()
    # (the reason was escaped: Telegram shows it as written)
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "Thank you for your review of Oolong tea. This time it will not be shown. The reason: "
        "The photo shows <another> brand"
    ]
    assert [(a.actor_id, a.allowed, a.detail) for a in await audited(harness, "review.reject")] == [
        (LEE, True, "order #1: The photo shows <another> brand")
    ]
    assert [(a.actor_id, a.allowed) for a in await audited(harness, "review.approve")] == [
        (LEE, False)
    ]
    # and Kai, who leads Coffee Club, sees his group's review but not Tea Lovers' photo
    async with await signed_in(harness, KAI) as http:
        async with http.get(f"{dashboard}/reviews?lang=en") as response:
            page = await response.text()
        assert "Order #3 ·" in page and "Order #1 ·" not in page
        async with http.get(f"{dashboard}/{photo}") as response:
            assert response.status == 404
    # and nobody signed out gets the page
    async with aiohttp.ClientSession() as anonymous, anonymous.get(f"{dashboard}/reviews") as r:
        assert r.status == 401
