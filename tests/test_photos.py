"""Product photos and descriptions wherever a product is shown: the group-buy card is the
product's photo with the card as its caption (and stays one through every edit), /products
shows a photo card per product a page at a time, and an invoice carries the photo's public
URL when the bot has one."""

from __future__ import annotations

import io

from PIL import Image
from sqlmodel import select

from bot.emulator.core import StoredMessage
from models.groupbuy import GroupBuyPost
from models.product import Product
from tests.conftest import COFFEE, LEE, MIA, OWNER, SAM, TEA, Harness


def jpeg(width: int = 640, height: int = 480) -> bytes:
    """A photo as a phone sends it."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (180, 120, 60)).save(out, format="JPEG")
    return out.getvalue()


def shown(harness: Harness, chat: int, message_id: int) -> StoredMessage:
    """The message as the chat shows it now (after any edits)."""
    return next(m for m in harness.emulator.messages(chat) if m.message_id == message_id)


async def given_staff(harness: Harness) -> None:
    """Sam is staff; Mia and Lee started the bot; the bot is in both groups."""
    await harness.join_groups()
    for user in (SAM, MIA, LEE):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def new_product(
    harness: Harness,
    title: str,
    description: str = "/skip",
    *,
    photo: bytes | None = None,
    price: str = "39.90 CNY",
    stock: str = "/skip",
) -> None:
    """Sam creates a product with /product_new, sending a photo at the photo step (or /skip)."""
    await harness.send(SAM, SAM, "/product_new")
    await harness.send(SAM, SAM, title)
    await harness.send(SAM, SAM, description)
    if photo is None:
        await harness.send(SAM, SAM, "/skip")
    else:
        harness.emulator.send_photo(SAM, SAM, photo)
        await harness.feed_pending()
    assert harness.emulator.last_bot_message(SAM).text.startswith("The price and currency")
    await harness.send(SAM, SAM, price)
    await harness.send(SAM, SAM, stock)
    modes = harness.emulator.last_bot_message(SAM)
    await harness.press(SAM, SAM, modes.message_id, index=0)  # pay the leader offline
    summary = harness.emulator.last_bot_message(SAM)
    await harness.press(SAM, SAM, summary.message_id, index=0)  # create
    assert harness.emulator.last_bot_message(SAM).text.startswith("Product #")


async def test_a_product_with_a_photo_gets_a_photo_card_whose_caption_follows_the_group_buy(
    harness: Harness,
) -> None:
    # given a product with a photo and a description
    await given_staff(harness)
    await new_product(
        harness, "Oolong tea", "Spring harvest from Anxi, 250 g, roasted twice.", photo=jpeg()
    )
    async with harness.session() as session:
        product = (await session.execute(select(Product))).scalar_one()
    assert product.photo_file_id is not None
    assert (product.photo_width, product.photo_height) == (640, 480)
    # when Lee opens a group-buy of it in Tea Lovers
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=10 limit=3 pickup=Tea shop")
    card = harness.emulator.last_bot_message(TEA)
    # then the card is the product's photo with the card as its caption, with the buttons
    assert card.kind == "photo"
    assert card.raw["photo"][-1]["file_id"] == product.photo_file_id
    assert card.text.splitlines()[:3] == [
        "🛒 Oolong tea",
        "Spring harvest from Anxi, 250 g, roasted twice.",
        "Price now: CN¥39.90",
    ]
    assert card.button_texts == ["Join ×1", "Join ×2", "Join ×3", "−1", "Leave", "Details"]
    async with harness.session() as session:
        post = (await session.execute(select(GroupBuyPost))).scalar_one()
    assert post.photo and post.message_id == card.message_id
    # when Mia and Lee join, the refresher edits the caption (editMessageText would be refused)
    assert await harness.press(MIA, TEA, card.message_id, index=1) == "You are #1, quantity 2."
    await harness.runtime.cards.flush()
    joined = shown(harness, TEA, card.message_id)
    assert joined.edit_count == 1 and "Progress: 1/2 people" in joined.text
    assert joined.kind == "photo" and joined.raw["photo"] == card.raw["photo"]
    assert harness.emulator.calls_of("editMessageText") == []
    assert await harness.press(LEE, TEA, card.message_id, index=0) == "You are #2, quantity 1."
    # when the deadline passes, it forms: the caption says so and the buttons go
    harness.clock.advance(hours=24, seconds=1)
    assert await harness.runtime.closer.close_due() == 1
    final = shown(harness, TEA, card.message_id)
    assert final.kind == "photo" and final.raw["photo"] == card.raw["photo"]
    assert "✅ Formed! Orders are open for payment and pickup." in final.text
    assert final.text.startswith("🛒 Oolong tea\nSpring harvest from Anxi")
    assert final.button_texts == []
    assert harness.emulator.last_bot_message(TEA).text == (
        "#1 Oolong tea formed: 3 sold at CN¥39.90 each!"
    )


async def test_a_product_without_a_photo_keeps_a_text_card(harness: Harness) -> None:
    await given_staff(harness)
    await new_product(harness, "Jasmine tea", "Light and floral.")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=1")
    card = harness.emulator.last_bot_message(TEA)
    assert card.kind == "text"
    assert card.text.splitlines()[:2] == ["🛒 Jasmine tea", "Light and floral."]
    await harness.press(MIA, TEA, card.message_id, index=0)
    await harness.runtime.cards.flush()
    assert "Progress: 1/1 people" in shown(harness, TEA, card.message_id).text
    assert harness.emulator.calls_of("editMessageCaption") == []


async def test_a_drop_posts_a_photo_card_in_every_group_each_in_its_language(
    harness: Harness,
) -> None:
    # given Tea Lovers speaks Simplified Chinese, and a product with a photo
    await given_staff(harness)
    await harness.send(LEE, TEA, "/settings language zh_Hans")
    await new_product(harness, "Oolong tea", "Spring harvest.", photo=jpeg())
    # when Sam drops it in every group
    assert await harness.send(SAM, SAM, "/drop 1 24h min=2 stock=10") == [
        "Group-buy #1 posted in 2 groups."
    ]
    tea = harness.emulator.last_bot_message(TEA)
    coffee = harness.emulator.last_bot_message(COFFEE)
    # then both cards are photos, each captioned in the group's language
    assert (tea.kind, coffee.kind) == ("photo", "photo")
    assert tea.text.splitlines()[:3] == ["🛒 Oolong tea", "Spring harvest.", "当前价格：¥39.90"]
    assert tea.button_texts[0] == "参团 ×1"
    assert coffee.text.splitlines()[2] == "Price now: CN¥39.90"
    # and a join in Coffee Club updates both captions, each in its language
    await harness.press(MIA, COFFEE, coffee.message_id, index=0)
    await harness.runtime.cards.flush()
    assert "进度：1/2 人" in shown(harness, TEA, tea.message_id).text
    assert "Progress: 1/2 people" in shown(harness, COFFEE, coffee.message_id).text
    # when Sam calls it off, the captions say so
    await harness.send(LEE, TEA, "/gb_cancel 1")
    assert "❌" in shown(harness, TEA, tea.message_id).text
    assert shown(harness, COFFEE, coffee.message_id).button_texts == []
