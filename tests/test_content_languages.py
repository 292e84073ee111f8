"""Content in several languages (#21): a product's title and description, a drop's pickup texts
and a broadcast's text given per language in the wizards; each group reads its own language,
each member theirs, and a language not given falls back to the brand's default (en here),
then to the text as written."""

from __future__ import annotations

from sqlalchemy import select

from models.product import Product
from tests.conftest import COFFEE, LEE, MIA, OWNER, SAM, TEA, Harness

ZH_TITLE = "桂花乌龙礼盒"
ZH_DESCRIPTION = "春茶，250 克"


async def tap(harness: Harness, label: str, *, user: int = SAM, chat: int = SAM) -> str | None:
    message = harness.emulator.last_bot_message(chat)
    assert label in message.button_texts, (label, message.button_texts)
    return await harness.press(
        user, chat, message.message_id, index=message.button_texts.index(label)
    )


def last_text(harness: Harness, chat: int) -> str:
    return harness.emulator.last_bot_message(chat).text or ""


async def given_staff_and_groups(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def given_group_languages(harness: Harness, tea: str, coffee: str) -> None:
    await harness.send(LEE, TEA, f"/settings language {tea}")
    await harness.send(OWNER, COFFEE, f"/settings language {coffee}")


async def given_a_translated_product(harness: Harness) -> None:
    """Sam creates Osmanthus oolong in the wizard, with its title and description in 简体中文."""
    for answer in ("/product_new", "Osmanthus oolong", "Spring tea, 250 g", "/skip"):
        await harness.send(SAM, SAM, answer)
    await harness.send(SAM, SAM, "35.90 CNY")
    await harness.send(SAM, SAM, "20")
    await tap(harness, "Pay the leader offline")
    assert "Osmanthus oolong" in last_text(harness, SAM)
    await tap(harness, "🌐 Add a translation")
    assert last_text(harness, SAM).startswith("Add a translation?")
    await tap(harness, "简体中文")
    assert last_text(harness, SAM) == "The title in 简体中文?"
    await harness.send(SAM, SAM, ZH_TITLE)
    assert last_text(harness, SAM).startswith("The description in 简体中文?")
    await harness.send(SAM, SAM, ZH_DESCRIPTION)
    # the offer again, with what is given so far, the language ticked
    offer = harness.emulator.last_bot_message(SAM)
    assert f"In 简体中文: {ZH_TITLE} · {ZH_DESCRIPTION}" in (offer.text or "")
    assert "✅ 简体中文" in offer.button_texts
    await tap(harness, "Done")
    # the last look shows each language
    summary = last_text(harness, SAM)
    assert summary.splitlines()[:3] == [
        "Osmanthus oolong",
        "Spring tea, 250 g",
        f"In 简体中文: {ZH_TITLE} · {ZH_DESCRIPTION}",
    ]
    await tap(harness, "✅ Create")
    assert last_text(harness, SAM).startswith("Product #1 created: Osmanthus oolong")


async def test_a_product_is_created_with_a_chinese_title_and_description(
    harness: Harness,
) -> None:
    await given_staff_and_groups(harness)
    await given_a_translated_product(harness)
    async with harness.session() as session:
        product = (await session.execute(select(Product))).scalar_one()
    assert (product.title, product.description) == ("Osmanthus oolong", "Spring tea, 250 g")
    assert product.translations == {
        "zh_Hans": {"title": ZH_TITLE, "description": ZH_DESCRIPTION}
    }
