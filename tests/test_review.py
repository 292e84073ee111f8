"""Reviews and 晒单 end to end: photos after /review, moderation from /reviews, the rating on
the group-buy card and in /products, the Reviews button, sharing to the group as content, the
photo reward paid once; bad input; staff's /points_grant."""

from __future__ import annotations

from sqlmodel import col, select

from bot.cli.playground_world import sample_photo
from models.audit import AuditEntry
from models.review import REVIEW_APPROVED, Review, ReviewMedia
from services.ledger import find_transaction
from services.member import set_locale
from services.points import points_balance
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.test_loyalty import make_staff


async def points_of(harness: Harness, member_id: int) -> int:
    async with harness.session() as session:
        return await points_balance(session, member_id)


async def picked_up_order(harness: Harness) -> None:
    """Mia orders Oolong tea (#1) in Tea Lovers, pays Lee and picks it up; Kai's order #2 waits."""
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(MIA, MIA, "/start")
    await harness.send(LEE, LEE, "/start")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 9.90 CNY | stock 10")
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(KAI, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.send(LEE, TEA, "/pickedup @mia")


async def send_photo(harness: Harness, user_id: int) -> list[str]:
    harness.new_bot_messages(user_id)
    harness.emulator.send_photo(user_id, user_id, sample_photo())
    await harness.feed_pending()
    return [m.text or "" for m in harness.new_bot_messages(user_id)]


async def send_document(harness: Harness, user_id: int, data: bytes, name: str) -> list[str]:
    harness.new_bot_messages(user_id)
    harness.emulator.send_document(user_id, user_id, data, filename=name)
    await harness.feed_pending()
    return [m.text or "" for m in harness.new_bot_messages(user_id)]


async def send_video(harness: Harness, user_id: int, seconds: int) -> list[str]:
    harness.new_bot_messages(user_id)
    harness.emulator.send_video(user_id, user_id, b"not really a video", duration=seconds)
    await harness.feed_pending()
    return [m.text or "" for m in harness.new_bot_messages(user_id)]


async def test_a_photo_review_is_moderated_shown_on_the_card_shared_and_rewarded_once(
    harness: Harness,
) -> None:
    # given Mia picked up her tea and reviewed it
    await picked_up_order(harness)
    assert await harness.send(MIA, MIA, "/review 1 4 Fragrant <b>and</b> smooth") == [
        "Thank you for your review! It earned you 10 points. Send up to 5 photos (and one "
        "short video) here to show what you got; once the brand approves them they earn you "
        "50 points."
    ]
    # when she sends two photos and a PDF
    assert await send_photo(harness, MIA) == [
        "Added to your review of order #1 (photos: 1/5). It shows once the brand approves it."
    ]
    await send_photo(harness, MIA)
    assert await send_video(harness, MIA, 15) == [
        "Video added to your review of order #1. It shows once the brand approves it."
    ]
    assert await send_document(harness, MIA, b"%PDF-1.4", "receipt.pdf") == [
        "That file is not an image. A review takes photos (up to 5) and one short video."
    ]
    # then nothing is shown yet: the product has no rating until the review is approved
    products = await harness.send(MIA, MIA, "/products")
    assert "⭐" not in products[0]
    # a member cannot moderate
    assert await harness.send(MIA, MIA, "/reviews") == [
        "Sorry, only group leaders and brand staff can do that."
    ]
    # staff see the queue: the review's photos as an album, then its buttons
    harness.new_bot_messages(SAM)
    harness.emulator.send_message(SAM, SAM, "/reviews")
    await harness.feed_pending()
    queue = harness.new_bot_messages(SAM)
    assert queue[0].text == "Reviews waiting: 1. The oldest come first."
    assert [m.kind for m in queue[1:4]] == ["photo", "photo", "video"]
    assert queue[1].text == "Order #1\n⭐⭐⭐⭐ Oolong tea · Mia\nFragrant <b>and</b> smooth"
    buttons = queue[4]
    assert buttons.text == "Review of order #1"
    # when staff approve it, twice (a double tap)
    before = await points_of(harness, MIA)
    harness.new_bot_messages(MIA)
    assert await harness.press(SAM, SAM, buttons.message_id, index=0) == "Review #1 approved."
    assert (
        await harness.press(SAM, SAM, buttons.message_id, index=0)
        == "That review was already approved or rejected."
    )
    # then the photo reward is paid once, and Mia is asked whether to share it
    assert await points_of(harness, MIA) == before + 50
    told = harness.new_bot_messages(MIA)
    assert [m.text for m in told] == [
        "Your review of Oolong tea is approved and shows on the product. Your photos earned you "
        "50 points. Would you like me to post it in your group? Only if you tap below."
    ]
    async with harness.session() as session:
        review = await session.get(Review, 1)
        assert review is not None and (review.status, review.photos) == (REVIEW_APPROVED, 2)
        assert await find_transaction(session, "review_photo:1") is not None
    # /stats tells staff the review rate and the rating
    stats = await harness.send(SAM, SAM, "/stats")
    assert any(
        "Reviews: 1 of 1 order picked up (100%); approved: ⭐ 4.0 (1 review)" in t for t in stats
    )
    # the rating shows in /products and on a group-buy card, with a Reviews button
    products = await harness.send(MIA, MIA, "/products")
    assert "⭐ 4.0 (1 review)" in products[0]
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=5")
    card = harness.emulator.last_bot_message(TEA)
    assert "⭐ 4.0 (1 review)" in (card.text or "")
    assert card.reply_markup is not None
    harness.new_bot_messages(KAI)
    await harness.send(KAI, KAI, "/start")
    harness.new_bot_messages(KAI)
    rows = card.reply_markup["inline_keyboard"]
    index = sum(len(row) for row in rows) - 1
    assert (
        await harness.press(KAI, TEA, card.message_id, index=index)
        == "I sent you the latest reviews in private."
    )
    sent = harness.new_bot_messages(KAI)
    assert [m.kind for m in sent] == ["photo", "photo", "video"]
    # when Mia, who now reads Chinese, consents, the bot posts her review in Tea Lovers once,
    # in the group's language (English), and thanks her in hers
    async with harness.session() as session, session.begin():
        await set_locale(session, member_id=MIA, locale="zh_Hans")
    harness.new_bot_messages(TEA)
    answer = await harness.press(MIA, MIA, told[0].message_id, index=0)
    assert answer == "已发到你的群里，感谢分享！"
    posted = harness.new_bot_messages(TEA)
    assert [m.kind for m in posted] == ["photo", "photo", "video"]
    assert (posted[0].text or "").startswith("📸 A member's review\n⭐⭐⭐⭐ Oolong tea · Mia")
    again = await harness.press(MIA, MIA, told[0].message_id, index=0)
    assert again == "这条评价已经发到你的群里了。"
    assert harness.new_bot_messages(TEA) == []


async def test_reviews_refuse_orders_not_picked_up_twice_and_files(harness: Harness) -> None:
    await picked_up_order(harness)
    # a photo with no review waiting is not taken as one
    await send_photo(harness, MIA)
    async with harness.session() as session:
        assert (await session.execute(select(ReviewMedia))).first() is None
    assert await harness.send(KAI, KAI, "/review 2 5") == ["取貨後才能評價訂單。"]
    await harness.send(MIA, MIA, "/review 1 5 Lovely")
    assert await harness.send(MIA, MIA, "/review 1 5 Again") == [
        "You have already reviewed that order. Thank you!"
    ]
    assert await send_document(harness, MIA, sample_photo(), "tea.png") == [
        "Send the picture as a photo, not as a file, and it goes with your review."
    ]
    assert await send_video(harness, MIA, 90) == [
        "The video is too long: a review takes one video of at most 60 seconds."
    ]
    await send_video(harness, MIA, 30)
    assert await send_video(harness, MIA, 30) == [
        "Your review already has a video; one is the most it can carry."
    ]
    for _ in range(5):
        await send_photo(harness, MIA)
    assert await send_photo(harness, MIA) == [
        "Your review already has 5 photos, the most it can carry."
    ]
    async with harness.session() as session:
        media = (await session.execute(select(ReviewMedia))).scalars().all()
    assert sorted(row.kind for row in media) == ["photo"] * 5 + ["video"]
    # a rejected review earns nothing and shows nowhere
    harness.emulator.send_message(SAM, SAM, "/reviews")
    await harness.feed_pending()
    buttons = harness.emulator.last_bot_message(SAM)
    before = await points_of(harness, MIA)
    assert await harness.press(SAM, SAM, buttons.message_id, index=1) is None
    assert await harness.send(SAM, SAM, "Too dark") == [
        "Review #1 rejected. The member was told why."
    ]
    assert await points_of(harness, MIA) == before
    assert "⭐" not in (await harness.send(MIA, MIA, "/products"))[0]
    # /forgetme takes her photos with it
    await harness.send(MIA, MIA, "/forgetme")
    question = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, question.message_id, index=0)
    async with harness.session() as session:
        assert (await session.execute(select(ReviewMedia))).first() is None
        review = await session.get(Review, 1)
        assert review is not None and (review.photos, review.comment) == (0, "")


async def test_leaders_moderate_their_groups_reviews(harness: Harness) -> None:
    await picked_up_order(harness)
    await harness.send(MIA, MIA, "/review 1 5 Lovely")
    # the owner moderates as staff do
    owner = await harness.send(OWNER, OWNER, "/reviews")
    assert owner[0] == "Reviews waiting: 1. The oldest come first."
    harness.new_bot_messages(LEE)
    harness.emulator.send_message(LEE, LEE, "/reviews")
    await harness.feed_pending()
    queue = harness.new_bot_messages(LEE)
    # Lee leads Tea Lovers and reads Chinese
    assert queue[0].text == "待审核评价：1 条，最早的排在前面。"
    assert queue[1].text == "订单 #1\n⭐⭐⭐⭐⭐ Oolong tea · Mia\nLovely"
    assert await harness.press(LEE, LEE, queue[1].message_id, index=0) == "评价 #1 已通过。"
    assert "⭐ 5.0 (1 review)" in (await harness.send(MIA, MIA, "/products"))[0]


async def test_staff_grant_and_take_points_with_a_reason_never_below_zero(
    harness: Harness,
) -> None:
    await picked_up_order(harness)
    base = await points_of(harness, MIA)
    assert await harness.send(SAM, SAM, "/points_grant @mia 200 晒单 prize") == [
        "Granted 200 points to Mia: 晒单 prize"
    ]
    assert await points_of(harness, MIA) == base + 200
    assert await harness.send(SAM, SAM, "/points_grant @mia -50 typo") == [
        "Took 50 points from Mia: typo"
    ]
    assert await points_of(harness, MIA) == base + 150
    assert await harness.send(SAM, SAM, f"/points_grant @mia -{base + 151} too much") == [
        f"Mia does not have {base + 151:,} points to take back."
    ]
    assert await points_of(harness, MIA) == base + 150
    usage = (
        "Send /points_grant @member N reason, for example /points_grant @mia 200 晒单 prize; a "
        "negative N takes points back."
    )
    assert await harness.send(SAM, SAM, "/points_grant @mia 200") == [usage]
    assert await harness.send(SAM, SAM, "/points_grant @nobody 200 prize") == [
        "I don't know that user yet. Ask them to send /start to me (or to write in one of our "
        "groups), then try again."
    ]
    assert await harness.send(SAM, SAM, "/points_grant @mia lots because") == [usage]
    assert await harness.send(MIA, MIA, "/points_grant @mia 200 me") == [
        "Sorry, only brand staff can do that."
    ]
    async with harness.session() as session:
        audited = (
            (
                await session.execute(
                    select(AuditEntry.detail).where(
                        col(AuditEntry.action) == "points.grant", col(AuditEntry.allowed)
                    )
                )
            )
            .scalars()
            .all()
        )
    assert [detail for detail in audited if detail] == [
        "+200 to 1004: 晒单 prize",
        "-50 to 1004: typo",
    ]
