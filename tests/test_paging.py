"""Every list pages with Back / More and says how many there are: no list is cut silently.
Driven at the boundaries (exactly a page, one more than a page) for /products (a card per
product) and for the group-buy wizard's product picker, in English and 简体中文."""

from __future__ import annotations

from sqlmodel import col, delete

from handlers.product import PRODUCT_CARDS
from handlers.views.paging import PAGE_SIZE
from models.payout import CashHandover
from models.suggestion import Suggestion
from services.paging import Page, slice_of
from tests.conftest import LEE, MIA, OWNER, SAM, TEA, Harness
from tgemu.core import StoredMessage


def shown(harness: Harness, chat: int, message_id: int) -> StoredMessage:
    """The message as the chat shows it now (after any edits)."""
    return next(m for m in harness.emulator.messages(chat) if m.message_id == message_id)


async def given_products(harness: Harness, count: int) -> None:
    """Sam is staff and has put `count` products on sale, Tea 1 .. Tea N."""
    await harness.join_groups()
    for user in (SAM, MIA, LEE):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    for n in range(1, count + 1):
        await harness.send(SAM, SAM, f"/product_add Tea {n} | {n}.00 CNY")


def product_titles(texts: list[str]) -> list[str]:
    """The product cards' first lines (the footer left out)."""
    return [text.splitlines()[0] for text in texts[:-1]]


async def test_exactly_a_page_of_products_shows_them_all_with_the_count(harness: Harness) -> None:
    await given_products(harness, PRODUCT_CARDS)
    texts = await harness.send(MIA, MIA, "/products")
    assert product_titles(texts) == [f"#{n} Tea {n}" for n in range(PRODUCT_CARDS, 0, -1)]
    assert texts[-1] == "Products on sale: 5 in all. Order with /buy ID QUANTITY."
    assert harness.emulator.last_bot_message(MIA).button_texts == []


async def test_one_more_than_a_page_of_products_pages_with_more_and_back(
    harness: Harness,
) -> None:
    await given_products(harness, PRODUCT_CARDS + 1)
    # the first page: the newest five, one card each, and a line with the count and More
    texts = await harness.send(MIA, TEA, "/products")
    assert product_titles(texts) == [f"#{n} Tea {n}" for n in range(6, 1, -1)]
    assert texts[-1] == "Products on sale: 1–5 of 6. Order with /buy ID QUANTITY."
    footer = harness.emulator.last_bot_message(TEA)
    assert footer.button_texts == ["More ▶️"]
    # More: the sixth follows as a new card; the old line loses its button
    harness.new_bot_messages(TEA)
    await harness.press(MIA, TEA, footer.message_id, index=0)
    texts = [m.text for m in harness.new_bot_messages(TEA)]
    assert product_titles(texts) == ["#1 Tea 1"]
    assert texts[-1] == "Products on sale: 6–6 of 6. Order with /buy ID QUANTITY."
    assert shown(harness, TEA, footer.message_id).button_texts == []
    second = harness.emulator.last_bot_message(TEA)
    assert second.button_texts == ["◀️ Previous"]
    # Back: the first page again
    await harness.press(MIA, TEA, second.message_id, index=0)
    assert product_titles([m.text for m in harness.new_bot_messages(TEA)])[0] == "#6 Tea 6"
    # a forged offset past the end shows no cards but still counts, never an error
    last = harness.emulator.last_bot_message(TEA)
    await harness.press(MIA, TEA, last.message_id, callback_data="pg:products:500", force=True)
    assert [m.text for m in harness.new_bot_messages(TEA)] == [
        "Products on sale: 6 in all. Order with /buy ID QUANTITY."
    ]
    assert harness.emulator.last_bot_message(TEA).button_texts == ["◀️ Previous"]


async def test_products_page_in_simplified_chinese(harness: Harness) -> None:
    await given_products(harness, PRODUCT_CARDS + 1)
    # Lee's Telegram is in Simplified Chinese
    texts = await harness.send(LEE, LEE, "/products")
    assert texts[-1] == "在售商品：第 1–5 项，共 6 项。用 /buy 编号 数量 下单。"
    footer = harness.emulator.last_bot_message(LEE)
    assert footer.button_texts == ["更多 ▶️"]
    harness.new_bot_messages(LEE)
    await harness.press(LEE, LEE, footer.message_id, index=0)
    texts = [m.text for m in harness.new_bot_messages(LEE)]
    assert texts[-1].startswith("在售商品：第 6–6 项，共 6 项。")
    assert harness.emulator.last_bot_message(LEE).button_texts == ["◀️ 上一页"]


async def test_the_group_buy_product_picker_pages_at_the_boundary(harness: Harness) -> None:
    await given_products(harness, PAGE_SIZE + 1)
    # when Lee starts the wizard in his group (the group speaks English)
    await harness.send(LEE, TEA, "/groupbuy")
    picker = harness.emulator.last_bot_message(TEA)
    assert "Products: 1–10 of 11" in picker.text
    assert picker.button_texts[:1] == ["#11 Tea 11 · CN¥11.00"]
    assert picker.button_texts[10:] == ["More ▶️", "✖️ Cancel"]
    # a member who is not in the wizard cannot turn its pages
    assert await harness.press(MIA, TEA, picker.message_id, index=10) == (
        "That question is not open any more."
    )
    # More shows the eleventh product, which can be chosen
    await harness.press(LEE, TEA, picker.message_id, index=10)
    second = shown(harness, TEA, picker.message_id)
    assert "Products: 11–11 of 11" in second.text
    assert second.button_texts == ["#1 Tea 1 · CN¥1.00", "◀️ Previous", "✖️ Cancel"]
    await harness.press(LEE, TEA, picker.message_id, index=0)
    assert harness.emulator.last_bot_message(TEA).text.startswith("When does it close?")


async def test_the_group_buy_product_picker_with_exactly_a_page(harness: Harness) -> None:
    await given_products(harness, PAGE_SIZE)
    await harness.send(SAM, SAM, "/drop")
    picker = harness.emulator.last_bot_message(SAM)
    assert "Products: 10 in all" in picker.text
    assert len(picker.button_texts) == PAGE_SIZE + 1
    assert picker.button_texts[-1] == "✖️ Cancel"


async def test_lee_reads_the_picker_count_in_simplified_chinese(harness: Harness) -> None:
    await given_products(harness, PAGE_SIZE + 1)
    await harness.send(LEE, TEA, "/settings language zh_Hans")
    await harness.send(LEE, TEA, "/groupbuy")
    picker = harness.emulator.last_bot_message(TEA)
    assert "商品：第 1–10 项，共 11 项" in picker.text
    assert "更多 ▶️" in picker.button_texts


def test_a_page_knows_whether_more_follow() -> None:
    rows = list(range(21))
    assert slice_of(rows, limit=10, offset=10) == Page(list(range(10, 20)), 10, 21)
    assert slice_of(rows, limit=10, offset=10).more
    assert not slice_of(rows, limit=10, offset=20).more
    # a forged offset or limit is kept in range
    assert slice_of(rows, limit=10_000, offset=-5).offset == 0
    assert len(slice_of(rows, limit=0, offset=0).items) == 1


async def test_leader_cash_sends_a_page_of_hand_over_cards_then_more(harness: Harness) -> None:
    # given eleven leaders' hand-overs wait for staff (written as /handover leaves them)
    await given_products(harness, 0)
    holders = [900_000 + n for n in range(PAGE_SIZE + 1)]
    for n, holder in enumerate(holders, start=1):
        harness.emulator.add_user(holder, f"Leader{n}", username=f"leader{n}", language_code="en")
        await harness.send(holder, holder, "/start")
    async with harness.session() as session, session.begin():
        for holder in holders:
            session.add(CashHandover(holder_id=holder, currency="CNY", amount=1000))
    # when Sam asks for /leader_cash
    before = len(harness.emulator.bot_messages(SAM))
    await harness.send(SAM, SAM, "/leader_cash")
    sent = harness.emulator.bot_messages(SAM)[before:]
    # then ten cards come, each with its buttons, and a line that counts them all with More
    cards = [m for m in sent if (m.text or "").startswith("💵 Hand-over #")]
    assert len(cards) == PAGE_SIZE
    assert all(card.button_texts for card in cards)
    assert sent[-1].text == "Hand-overs waiting: 1–10 of 11"
    assert sent[-1].button_texts == ["More ▶️"]
    # when he taps More, the eleventh card comes and the count says where it is
    before = len(harness.emulator.bot_messages(SAM))
    await harness.press(SAM, SAM, sent[-1].message_id, index=0)
    more = harness.emulator.bot_messages(SAM)[before:]
    assert [m for m in more if "Leader11" in (m.text or "")]
    assert more[-1].text == "Hand-overs waiting: 11–11 of 11"
    assert shown(harness, SAM, sent[-1].message_id).button_texts == []


async def test_suggestions_come_a_page_of_cards_at_a_time(harness: Harness) -> None:
    # given eleven suggestions wait for staff (written as /suggest leaves them)
    await given_products(harness, 0)
    async with harness.session() as session, session.begin():
        for n in range(1, PAGE_SIZE + 2):
            session.add(Suggestion(member_id=MIA, text=f"Idea {n}"))
    # when Sam asks for /suggestions, ten cards come and a line that counts them with More
    before = len(harness.emulator.bot_messages(SAM))
    await harness.send(SAM, SAM, "/suggestions")
    sent = harness.emulator.bot_messages(SAM)[before:]
    assert [m.text.splitlines()[1] for m in sent[:-1]] == [f"Idea {n}" for n in range(1, 11)]
    assert (sent[-1].text, sent[-1].button_texts) == ("New suggestions: 1–10 of 11", ["More ▶️"])
    # when he taps More, the eleventh comes, counted
    before = len(harness.emulator.bot_messages(SAM))
    await harness.press(SAM, SAM, sent[-1].message_id, index=0)
    more = harness.emulator.bot_messages(SAM)[before:]
    assert [m.text.splitlines()[1] for m in more[:-1]] == ["Idea 11"]
    assert more[-1].text == "New suggestions: 11–11 of 11"
    # and exactly a page has no footer at all
    async with harness.session() as session, session.begin():
        await session.execute(delete(Suggestion).where(col(Suggestion.text) == "Idea 11"))
    before = len(harness.emulator.bot_messages(SAM))
    await harness.send(SAM, SAM, "/suggestions")
    assert len(harness.emulator.bot_messages(SAM)[before:]) == PAGE_SIZE
