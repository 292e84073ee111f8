"""Products: the step-by-step wizard with /cancel at every step, and one-line edits."""

from __future__ import annotations

from sqlmodel import select

from handlers.product_wizard import ProductDraft
from models.product import Product
from services.product import ProductPhoto, VariantSpec
from tests.conftest import MIA, OWNER, SAM, Harness


async def make_staff(harness: Harness) -> None:
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def test_staff_create_a_product_step_by_step(harness: Harness) -> None:
    await make_staff(harness)
    steps = [
        ("/product_new", "New product. What is its title?"),
        ("Oolong gift box", "A short description?"),
        ("Spring harvest, 250 g", "Send a photo of it."),
        ("/skip", "The price and currency, for example 35.90 CNY"),
        ("cheap", "The price and currency, for example 35.90 CNY"),
        ("35,90 CNY", "The amount must be a number, like 35.90."),
        ("35.90 CNY", "How many are in stock? /skip for no limit."),
        ("lots", "Stock must be a whole number"),
        ("20", "How do members pay?"),
    ]
    for text, expected in steps:
        reply = await harness.send(SAM, SAM, text)
        assert reply and reply[-1].startswith(expected), (text, reply)
    modes = harness.emulator.last_bot_message(SAM)
    assert modes.button_texts == [
        "Pay the leader offline",
        "Telegram invoice",
        "⬅️ Back",
        "✖️ Cancel",
    ]
    # Telegram invoices in yuan need a provider token: refused with the reason
    refused = await harness.press(SAM, SAM, modes.message_id, index=1)
    assert refused is not None and refused.startswith("Telegram payments in CNY need")
    await harness.press(SAM, SAM, modes.message_id, index=0)
    summary = harness.emulator.last_bot_message(SAM)
    assert summary.text.splitlines() == [
        "Oolong gift box",
        "Spring harvest, 250 g",
        "Price: CN¥35.90",
        "Stock: 20",
        "Payment: Pay the leader offline",
    ]
    await harness.press(SAM, SAM, summary.message_id, index=0)
    assert harness.emulator.last_bot_message(SAM).text == (
        "Product #1 created: Oolong gift box, CN¥35.90."
    )
    async with harness.session() as session:
        row = (await session.execute(select(Product))).scalar_one()
    assert (row.title, row.description, row.price, row.currency, row.stock, row.payment_mode) == (
        "Oolong gift box",
        "Spring harvest, 250 g",
        3590,
        "CNY",
        20,
        "offline",
    )
    # and the wizard is over: plain text is not taken as a title any more
    assert await harness.send(SAM, SAM, "hello") == [
        "I didn't understand that. Here is what I can do:"
    ]


async def test_cancel_works_at_every_step_and_creates_nothing(harness: Harness) -> None:
    await make_staff(harness)
    answers = ["Tea", "/skip", "/skip", "9.90 CNY", "5"]
    for step in range(len(answers) + 1):
        await harness.send(SAM, SAM, "/product_new")
        for text in answers[:step]:
            await harness.send(SAM, SAM, text)
        assert await harness.send(SAM, SAM, "/cancel") == ["Cancelled. Nothing was changed."]
    async with harness.session() as session:
        assert (await session.execute(select(Product))).first() is None


def test_a_draft_kept_before_drafts_were_typed_still_reads() -> None:
    # given the wizard's FSM data as the untyped wizard kept it (a deploy while staff were
    # halfway), with the photo's size and the variants as plain dicts
    stored = {
        "wizard_trail": ["title", "description", "photo", "price", "stock", "mode", "confirm"],
        "title": "Oolong tea",
        "description": "",
        "photo": {"file_id": "AgAD", "width": 1280, "height": 960},
        "price": 3990,
        "currency": "CNY",
        "stock": None,
        "mode": "offline",
        "variants": [{"name": "250g", "price": 3990, "stock": 7}],
        "translations": {"zh": {"title": "乌龙茶"}},
    }
    # when it is read as the typed draft
    draft = ProductDraft.model_validate(stored)
    # then every answer keeps its meaning, under the same keys
    assert draft.photo == ProductPhoto("AgAD", 1280, 960)
    assert draft.variants == [VariantSpec("250g", 3990, 7)]
    assert (draft.title, draft.price, draft.currency) == ("Oolong tea", 3990, "CNY")
    assert draft.translations == {"zh": {"title": "乌龙茶"}}
    assert set(stored) - {"wizard_trail"} <= set(draft.model_dump(mode="json"))
    # and a photo kept as a bare file id (before sizes were kept) still reads
    assert ProductDraft.model_validate({"photo": "AgAD"}).photo == "AgAD"


async def test_members_cannot_open_the_wizard(harness: Harness) -> None:
    assert await harness.send(MIA, MIA, "/product_new") == ["Sorry, only brand staff can do that."]
    assert await harness.send(MIA, MIA, "Tea") == [
        "I didn't understand that. Here is what I can do:"
    ]


async def test_staff_edit_a_product_in_one_line(harness: Harness) -> None:
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Tea | 9.90 CNY | stock 5")
    assert await harness.send(SAM, SAM, "/product_set 1 price 8.50") == [
        "Product #1 saved: Tea, CN¥8.50, stock 5."
    ]
    assert await harness.send(SAM, SAM, "/product_set 1 stock none") == [
        "Product #1 saved: Tea, CN¥8.50, stock no limit."
    ]
    assert await harness.send(SAM, SAM, "/product_set 1 title <i>Green</i> tea") == [
        "Product #1 saved: <i>Green</i> tea, CN¥8.50, stock no limit."
    ]
    assert (await harness.send(SAM, SAM, "/product_set 1 price -1"))[0] == (
        "The amount must be more than zero."
    )
    assert (await harness.send(SAM, SAM, "/product_set 1 colour red"))[0].startswith(
        "Send /product_set ID FIELD VALUE"
    )
    assert (await harness.send(SAM, SAM, "/product_set 7 price 1"))[0].startswith(
        "There is no product #7."
    )
    assert await harness.send(SAM, SAM, "/product_set 1 active off") == [
        "Product #1 saved: <i>Green</i> tea, CN¥8.50, stock no limit."
    ]
    assert await harness.send(MIA, MIA, "/products") == ["There are no products on sale yet."]
