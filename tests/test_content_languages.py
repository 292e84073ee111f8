"""Content in several languages (#21): a product's title and description, a drop's pickup texts
and a broadcast's text given per language in the wizards; each group reads its own language,
each member theirs, and a language not given falls back to the brand's default (en here),
then to the text as written."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.config import Settings
from models.broadcast import Broadcast
from models.product import Product
from services.content import ContentError, clean, localized
from services.product import translate_product
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.test_broadcast_outbox import MORNING, make_harness
from tgemu import Emulator

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
    assert product.translations == {"zh_Hans": {"title": ZH_TITLE, "description": ZH_DESCRIPTION}}


async def open_a_drop(harness: Harness, *, pickup: str = "/skip", zh_pickup: str = "") -> None:
    """Sam drops the product in every group; with `zh_pickup`, the pickup point in 简体中文."""
    await harness.send(SAM, SAM, "/drop")
    await tap(harness, "#1 Osmanthus oolong · CN¥35.90")
    for answer in ("3d", "2", "/skip", "2", "/skip", pickup, "/skip"):
        await harness.send(SAM, SAM, answer)
    await tap(harness, "All groups")
    await harness.send(SAM, SAM, "/skip")  # no pickup text of a group's own
    await harness.send(SAM, SAM, "/skip")  # delivered as the product is
    if zh_pickup:
        await tap(harness, "🌐 Add a translation")
        await tap(harness, "简体中文")
        assert last_text(harness, SAM).startswith("Where do members pick it up, in 简体中文?")
        await harness.send(SAM, SAM, zh_pickup)
        assert last_text(harness, SAM).startswith("When can they pick it up, in 简体中文?")
        await harness.send(SAM, SAM, "/skip")
        await tap(harness, "Done")
        assert f"In 简体中文: {zh_pickup}" in last_text(harness, SAM)
    await tap(harness, "✅ Confirm")
    assert last_text(harness, SAM) == "Group-buy #1 posted in 2 groups."


async def test_a_card_shows_the_title_in_the_groups_language(harness: Harness) -> None:
    # given a product with an English title and a 简体中文 one
    await given_staff_and_groups(harness)
    await given_a_translated_product(harness)
    # when it is dropped in a 简体中文 group and an English one
    await given_group_languages(harness, "zh_Hans", "en")
    await open_a_drop(harness)
    # then each group's card reads in the group's language
    tea, coffee = last_text(harness, TEA), last_text(harness, COFFEE)
    assert tea.splitlines()[:2] == [f"🛒 {ZH_TITLE}", ZH_DESCRIPTION]
    assert coffee.splitlines()[:2] == ["🛒 Osmanthus oolong", "Spring tea, 250 g"]
    # and /products in private is in each member's language
    await harness.send(MIA, MIA, "/start")
    products = "\n".join(await harness.send(MIA, MIA, "/products"))
    assert "Osmanthus oolong" in products and ZH_TITLE not in products


async def test_a_language_not_given_falls_back_to_the_brands_default(harness: Harness) -> None:
    # given the product in English (the original) and 简体中文 only
    await given_staff_and_groups(harness)
    await given_a_translated_product(harness)
    # when it is dropped in a 繁體中文 group
    await given_group_languages(harness, "zh_Hant", "zh_Hans")
    await open_a_drop(harness)
    # then that group reads the brand's default language (en: the original text), in a card
    # whose own words are in 繁體中文
    tea = last_text(harness, TEA)
    assert tea.startswith("🛒 Osmanthus oolong\nSpring tea, 250 g\n")
    assert ZH_TITLE not in tea
    assert last_text(harness, COFFEE).startswith(f"🛒 {ZH_TITLE}")


async def test_a_drops_pickup_text_is_given_per_group_language(harness: Harness) -> None:
    await given_staff_and_groups(harness)
    await given_a_translated_product(harness)
    await given_group_languages(harness, "zh_Hans", "en")
    # when Sam drops it with the pickup point in English and in 简体中文
    await open_a_drop(harness, pickup="Shop at 12 Garden Road", zh_pickup="花园路 12 号门店")
    # then each group's card says where in its language
    assert "取货：花园路 12 号门店" in last_text(harness, TEA)
    assert "Pickup: Shop at 12 Garden Road" in last_text(harness, COFFEE)


async def test_staff_change_a_drops_pickup_text_in_one_language_after_it_opened(
    harness: Harness,
) -> None:
    await given_staff_and_groups(harness)
    await harness.send(SAM, SAM, "/product_add Osmanthus oolong | 35.90 CNY")
    await given_group_languages(harness, "zh_Hans", "en")
    await harness.send(SAM, SAM, "/drop 1 3d pickup=Shop at 12 Garden Road")
    assert "取货：Shop at 12 Garden Road" in last_text(harness, TEA)
    # when Sam gives the pickup in 简体中文 after the drop opened
    replies = await harness.send(SAM, SAM, "/drop_pickup 1 zh-hans 花园路 12 号门店 | 周六 10:00")
    assert replies == [
        "Saved. In 简体中文, group-buy #1 is picked up at: 花园路 12 号门店 · 周六 10:00"
    ]
    await harness.runtime.cards.flush()
    # then the 简体中文 group's card says it, and the English group's card is unchanged
    assert "花园路 12 号门店" in last_text(harness, TEA)
    assert "周六 10:00" in last_text(harness, TEA)
    assert "Pickup: Shop at 12 Garden Road" in last_text(harness, COFFEE)
    # and with nothing after the language, that language falls back to the original again
    replies = await harness.send(SAM, SAM, "/drop_pickup 1 zh_Hans")
    assert replies[0].startswith("Group-buy #1 no longer has its own pickup text in 简体中文")
    await harness.runtime.cards.flush()
    assert "取货：Shop at 12 Garden Road" in last_text(harness, TEA)
    # an unknown language or group-buy is refused
    assert (await harness.send(SAM, SAM, "/drop_pickup 1 fr Boutique"))[0].startswith(
        "Send /drop_pickup ID LANGUAGE PLACE | TIME"
    )
    assert await harness.send(SAM, SAM, "/drop_pickup 9 en Shop") == [
        "There is no open group-buy #9."
    ]
    # and a leader may not
    await harness.send(LEE, LEE, "/start")
    assert "Shop" not in " ".join(await harness.send(LEE, LEE, "/drop_pickup 1 en Shop"))


async def tap_first(harness: Harness, prefix: str, *, user: int) -> None:
    """Taps the first button whose label starts with `prefix` (any language)."""
    message = harness.emulator.last_bot_message(user)
    labels = [label.startswith(prefix) for label in message.button_texts]
    await harness.press(user, user, message.message_id, index=labels.index(True))


async def given_opted_in(harness: Harness, member: int) -> None:
    await harness.send(member, member, "/start")
    await tap_first(harness, "🔔", user=member)  # Offers, in the member's language
    await tap_first(harness, "✅", user=member)  # Yes, send me offers


async def test_a_broadcast_in_two_languages_reaches_each_member_in_theirs(
    harness: Harness,
) -> None:
    harness.clock.now = MORNING
    await given_staff_and_groups(harness)
    # given Lee reads 简体中文, Mia English and Kai 繁體中文 (their Telegram apps'), all opted
    # in to offers
    for member in (MIA, LEE, KAI):
        await given_opted_in(harness, member)
    await given_group_languages(harness, "zh_Hans", "en")
    # when Sam writes a broadcast in English and adds its 简体中文 text
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, "<b>New oolong</b> 39.90 CNY, until Sunday")
    await tap(harness, "⏭ Skip")  # no photo
    await tap(harness, "⏭ Skip")  # no button
    await tap(harness, "Everyone: groups and members")
    await tap(harness, "Now")
    await tap(harness, "🌐 Add a translation")
    await tap(harness, "简体中文")
    assert last_text(harness, SAM) == "The message in 简体中文, as members should see it?"
    await harness.send(SAM, SAM, "<b>新品乌龙</b> 39.90 元，周日截止")
    await tap(harness, "Done")
    # then the last look comes with a preview of each language, and says who gets which
    # (each as a member gets it in private: with the ad label, here in Sam's language)
    previews = [m.text for m in harness.emulator.bot_messages(SAM)[-3:-1]]
    assert previews == [
        "📢 Promotion from Community Shop\nNew oolong 39.90 CNY, until Sunday",
        "📢 Promotion from Community Shop\n新品乌龙 39.90 元，周日截止",
    ]
    summary = last_text(harness, SAM)
    assert (
        "Also in: 简体中文. Every other chat gets it in the brand's language, else as you wrote it."
        in summary
    )
    await tap(harness, "✅ Confirm")
    await harness.runtime.broadcasts.pump()

    # then each member and group got it once, in their language (Kai's 繁體中文 is not given:
    # the brand's default, the text as written)
    def got(chat: int) -> list[str]:
        return [
            m.text or ""
            for m in harness.emulator.bot_messages(chat)
            if "oolong" in (m.text or "") or "乌龙" in (m.text or "")
        ]

    # (in private with the ad label in the member's language)
    assert got(LEE) == ["📢 推广信息 · 来自Community Shop\n新品乌龙 39.90 元，周日截止"]
    assert got(TEA) == ["新品乌龙 39.90 元，周日截止"]
    assert got(MIA) == ["📢 Promotion from Community Shop\nNew oolong 39.90 CNY, until Sunday"]
    assert got(KAI) == ["📢 推廣訊息 · 來自Community Shop\nNew oolong 39.90 CNY, until Sunday"]
    assert got(COFFEE) == ["New oolong 39.90 CNY, until Sunday"]
    # the Chinese text kept its bold, as the English one
    [chinese] = [m for m in harness.emulator.bot_messages(LEE) if "乌龙" in (m.text or "")]
    assert chinese.entities and [e["type"] for e in chinese.entities] == ["bold", "bold"]
    async with harness.session() as session:
        broadcast = (await session.execute(select(Broadcast))).scalar_one()
    assert broadcast.translations == {"zh_Hans": {"text": "<b>新品乌龙</b> 39.90 元，周日截止"}}


async def test_every_languages_text_is_linted(harness: Harness) -> None:
    harness.clock.now = MORNING
    await given_staff_and_groups(harness)
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, "New oolong, fresh from the hills")
    await tap(harness, "⏭ Skip")
    await tap(harness, "⏭ Skip")
    await tap(harness, "All groups")
    await tap(harness, "Now")
    assert "⚠️ Compliance findings:" not in last_text(harness, SAM)
    # when the 简体中文 text makes an absolute claim the English one does not
    await tap(harness, "🌐 Add a translation")
    await tap(harness, "简体中文")
    await harness.send(SAM, SAM, "全网最好的乌龙")
    await tap(harness, "Done")
    # then the findings name it, in that language's text, and Confirm needs a reason
    summary = harness.emulator.last_bot_message(SAM)
    assert "Absolute claims that advertising law forbids: 最" in (summary.text or "")
    assert "In 简体中文: 全网最好的乌龙" in (summary.text or "")
    assert "⚠️ Send anyway" in summary.button_texts
    assert "✅ Confirm" not in summary.button_texts


async def test_staff_translate_an_existing_product_and_members_see_it_in_their_orders(
    harness: Harness,
) -> None:
    # given a product added in one line, in English only
    await given_staff_and_groups(harness)
    await harness.send(SAM, SAM, "/product_add Osmanthus oolong | 35.90 CNY | stock 20")
    # when Sam gives its 繁體中文 and 简体中文 title and description later
    assert await harness.send(SAM, SAM, "/product_translate 1 zh-hant 桂花烏龍禮盒 | 春茶") == [
        "Product #1 in 繁體中文 saved: 桂花烏龍禮盒."
    ]
    await harness.send(SAM, SAM, f"/product_translate 1 zh_Hans {ZH_TITLE} | {ZH_DESCRIPTION}")
    shown = await harness.send(SAM, SAM, "/product_translate 1")
    assert shown[0].splitlines()[:3] == [
        "#1 Osmanthus oolong",
        f"In 简体中文: {ZH_TITLE} · {ZH_DESCRIPTION}",
        "In 繁體中文: 桂花烏龍禮盒 · 春茶",
    ]
    # bad input is refused with what to send
    assert (await harness.send(SAM, SAM, "/product_translate 1 fr Thé"))[0].startswith(
        "#1 Osmanthus oolong"
    )
    assert (await harness.send(SAM, SAM, "/product_translate 9 en Tea")) == [
        "There is no product #9. Send /products to see them."
    ]
    assert (await harness.send(MIA, MIA, "/product_translate 1 en Tea")) == [
        "Sorry, only brand staff can do that."
    ]
    # then a 繁體中文 group's card shows it
    await given_group_languages(harness, "zh_Hant", "en")
    await harness.send(SAM, SAM, "/drop")
    await tap(harness, "#1 Osmanthus oolong · CN¥35.90")
    for answer in ("3d", "2", "/skip", "2", "/skip", "/skip", "/skip"):
        await harness.send(SAM, SAM, answer)
    await tap(harness, "All groups")
    await harness.send(SAM, SAM, "/skip")
    await harness.send(SAM, SAM, "/skip")  # delivered as the product is
    await tap(harness, "✅ Confirm")
    assert last_text(harness, TEA).startswith("🛒 桂花烏龍禮盒\n春茶\n")
    assert last_text(harness, COFFEE).startswith("🛒 Osmanthus oolong\n")
    # and Lee (简体中文) who joins from the English group reads it in his language in his orders
    await harness.send(LEE, LEE, "/start")
    card = harness.emulator.last_bot_message(COFFEE)
    await harness.press(LEE, COFFEE, card.message_id, index=0)
    orders = await harness.send(LEE, LEE, "/orders")
    assert ZH_TITLE in orders[0] and "Osmanthus" not in orders[0]
    # and removing a language brings back the default for its readers
    assert await harness.send(SAM, SAM, "/product_translate 1 zh_Hant none") == [
        "Product #1 has no 繁體中文 text any more: readers of 繁體中文 see it in the brand's "
        "language."
    ]
    async with harness.session() as session:
        product = (await session.execute(select(Product))).scalar_one()
    assert product.translations == {"zh_Hans": {"title": ZH_TITLE, "description": ZH_DESCRIPTION}}


async def test_two_staff_translating_one_product_at_once_both_keep_their_language(
    harness: Harness,
) -> None:
    # given a product in English
    await given_staff_and_groups(harness)
    await harness.send(SAM, SAM, "/product_add Osmanthus oolong | 35.90 CNY")

    async def translate(locale: str, title: str) -> None:
        async with harness.session() as session, session.begin():
            await translate_product(session, product_id=1, locale=locale, title=title)

    # when two translations are stored at the same moment
    await asyncio.gather(translate("zh_Hans", ZH_TITLE), translate("zh_Hant", "桂花烏龍禮盒"))
    # then neither overwrote the other (the row is locked while it changes)
    async with harness.session() as session:
        product = (await session.execute(select(Product))).scalar_one()
    assert product.translations == {
        "zh_Hans": {"title": ZH_TITLE},
        "zh_Hant": {"title": "桂花烏龍禮盒"},
    }


def test_a_missing_language_falls_back_to_the_default_then_to_the_original() -> None:
    translations = {"en": {"title": "Osmanthus oolong"}, "zh_Hans": {"title": ZH_TITLE}}
    assert localized("桂花乌龙", translations, "title", "zh_Hans", "en") == ZH_TITLE
    # a language not given: the default language's text, when it was given
    assert localized("桂花乌龙", translations, "title", "zh_Hant", "en") == "Osmanthus oolong"
    # neither: the text as written
    assert localized("桂花乌龙", translations, "title", "zh_Hant", "zh_Hant") == "桂花乌龙"
    assert localized("Tea", None, "title", "zh_Hans", "en") == "Tea"
    # a field not given in a language falls back on its own
    assert localized("Spring tea", translations, "description", "zh_Hans", "en") == "Spring tea"


def test_translations_are_checked_before_they_are_stored() -> None:
    assert clean({"zh_Hans": {"title": "  茶  ", "description": ""}}, ("title", "description")) == {
        "zh_Hans": {"title": "茶"}
    }
    for bad, reason in (
        ({"fr": {"title": "Thé"}}, "locale"),
        ({"zh_Hans": {"price": "1"}}, "field"),
        ({"zh_Hans": {"title": "茶" * 129}}, "length"),
    ):
        with pytest.raises(ContentError) as refused:
            clean(bad, ("title", "description"))
        assert refused.value.reason == reason


async def test_a_language_not_given_reads_the_brands_default_language_when_it_is_given(
    emulator: Emulator, settings: Settings
) -> None:
    # given a brand whose default language is 简体中文, and a product written in English with
    # its 简体中文 title
    harness = await make_harness(emulator, settings, default_locale="zh_Hans")
    try:
        await given_staff_and_groups(harness)
        await harness.send(SAM, SAM, "/product_add Osmanthus oolong | 35.90 CNY")
        await harness.send(SAM, SAM, f"/product_translate 1 zh_Hans {ZH_TITLE}")
        # when it is dropped in a 繁體中文 group
        await harness.send(LEE, TEA, "/settings language zh_Hant")
        await harness.send(SAM, SAM, "/drop 1 3d")
        # then the group reads the brand's default language, not the text as written
        assert last_text(harness, TEA).startswith(f"🛒 {ZH_TITLE}\n")
    finally:
        await harness.runtime.close()


async def test_an_invoice_names_the_product_in_the_members_language(harness: Harness) -> None:
    # given a Stars group-buy of a product with its 简体中文 title and description
    await given_staff_and_groups(harness)
    for member in (MIA, LEE):
        await harness.send(member, member, "/start")
    await harness.send(SAM, SAM, "/product_add Moon cake | 30 XTR | stock 20 | telegram")
    await harness.send(SAM, SAM, "/product_set 1 description Lotus seed paste, 4 in a box")
    await harness.send(SAM, SAM, "/product_translate 1 zh_Hans 月饼 | 莲蓉月饼，一盒 4 个")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=10 limit=3")
    card = harness.emulator.last_bot_message(TEA).message_id
    # when Lee (简体中文) and Mia (English) join, each gets an invoice
    invoices = {}
    for member in (LEE, MIA):
        harness.new_bot_messages(member)
        await harness.press(member, TEA, card, index=0)
        [sent] = [m for m in harness.new_bot_messages(member) if m.kind == "invoice"]
        invoices[member] = sent.raw["invoice"]
    # then each names the product in the member's language
    assert invoices[LEE]["title"] == "月饼"  # type: ignore[index]
    assert "莲蓉月饼，一盒 4 个" in invoices[LEE]["description"]  # type: ignore[index]
    assert invoices[MIA]["title"] == "Moon cake"  # type: ignore[index]
    assert "Lotus seed paste" in invoices[MIA]["description"]  # type: ignore[index]


async def test_the_pickup_sheet_reminders_and_reservations_name_the_product_in_each_language(
    harness: Harness,
) -> None:
    # given Oolong tea with its title in 简体中文 and 繁體中文; Lee (简体中文) leads Tea Lovers
    # (English), Mia reads English and Kai 繁體中文
    await given_staff_and_groups(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 200")
    await harness.send(SAM, SAM, "/product_translate 1 zh_Hans 乌龙茶 | 春茶")
    await harness.send(SAM, SAM, "/product_translate 1 zh_Hant 烏龍茶 | 春茶")
    for member in (LEE, MIA, KAI):
        await harness.send(member, member, "/start")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=100 limit=3 pickup=Shop A")
    card = harness.emulator.last_bot_message(TEA)
    assert (card.text or "").startswith("🛒 Oolong tea")  # the group reads English
    await harness.press(MIA, TEA, card.message_id, index=0)
    await harness.press(KAI, TEA, card.message_id, index=0)
    # when it forms, Lee's pickup sheet names the product in his language, totals too
    await harness.send(LEE, TEA, "/gb_close 1")
    sheet = harness.emulator.last_bot_message(LEE)
    assert "#1 乌龙茶" in sheet.text.splitlines()[0], sheet.text
    assert "乌龙茶 ×2" in sheet.text and "Oolong" not in sheet.text, sheet.text
    # and "Remind unpaid" reminds each member in theirs
    remind = next(i for i, text in enumerate(sheet.button_texts) if text.startswith("🔔"))
    await harness.press(LEE, LEE, sheet.message_id, index=remind)
    assert "Oolong tea is waiting for your payment" in last_text(harness, MIA)
    kai = last_text(harness, KAI)
    assert "烏龍茶" in kai and "Oolong" not in kai, kai
    # and a reservation's reply and the list of reservations are in the reader's language
    reserved = await harness.send(KAI, KAI, "/buy 1")
    assert "烏龍茶 ×1" in reserved[0] and "Oolong" not in reserved[0], reserved
    held = await harness.send(KAI, KAI, "/reservations")
    assert "烏龍茶 ×1" in held[0] and "Oolong" not in held[0], held
    in_group = await harness.send(MIA, TEA, "/buy 1")
    assert "Oolong tea ×1" in in_group[0], in_group
