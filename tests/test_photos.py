"""Product photos and descriptions wherever a product is shown: the group-buy card is the
product's photo with the card as its caption (and stays one through every edit), /products
shows a photo card per product a page at a time, and an invoice carries the photo's public
URL when the bot has one."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from sqlmodel import select

from bot.app import build_runtime, prepare
from bot.config import Settings
from bot.i18n import create_i18n
from bot.web.dashboard import create_web_app
from bot.web.photos import PHOTOS
from handlers.views.groupbuy import GroupBuyCallback, card_text, fits_caption
from handlers.views.product import photo_tag
from handlers.views.text import CAPTION_LIMIT, MESSAGE_LIMIT, esc_name, shorten, visible_length
from models.groupbuy import GroupBuyPost
from models.product import Product
from services.groupbuy import GroupBuyView
from services.product import update_product
from tests.conftest import COFFEE, LEE, MIA, OWNER, SAM, TEA, FakeClock, Harness, make_settings
from tests.processes import free_port
from tgemu import EMULATOR_TOKEN, Emulator
from tgemu.core import StoredMessage


def jpeg(width: int = 640, height: int = 480) -> bytes:
    """A photo as a phone sends it."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (180, 120, 60)).save(out, format="JPEG")
    return out.getvalue()


def shown(harness: Harness, chat: int, message_id: int) -> StoredMessage:
    """The message as the chat shows it now (after any edits)."""
    return next(m for m in harness.emulator.messages(chat) if m.message_id == message_id)


async def answers(harness: Harness, user: int, text: str) -> list[StoredMessage]:
    """The messages the bot answers with when the user writes to it in private."""
    before = len(harness.emulator.bot_messages(user))
    await harness.send(user, user, text)
    return harness.emulator.bot_messages(user)[before:]


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
    telegram: bool = False,
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
    # pay the leader offline, or a Telegram invoice
    await harness.press(SAM, SAM, modes.message_id, index=1 if telegram else 0)
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
    assert joined.edit_count == 1 and "Progress: 1/2 people\nUnits left: 8" in joined.text
    assert joined.kind == "photo" and joined.raw["photo"] == card.raw["photo"]
    assert harness.emulator.calls_of("editMessageText") == []
    assert await harness.press(LEE, TEA, card.message_id, index=0) == "你是第 2 位，数量 1。"
    # when the deadline passes, it forms: the caption says so and the buttons go
    harness.clock.advance(hours=24, seconds=1)
    assert await harness.runtime.closer.close_due() == 1
    final = shown(harness, TEA, card.message_id)
    assert final.kind == "photo" and final.raw["photo"] == card.raw["photo"]
    assert "✅ Formed! Orders are open for payment and pickup." in final.text
    assert "Units left" not in final.text  # a closed card has none to take
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
    assert "Progress: 1/1 person" in shown(harness, TEA, card.message_id).text
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


async def test_a_long_description_is_shortened_on_the_card(harness: Harness) -> None:
    # given a product whose description is far longer than a card should carry
    await given_staff(harness)
    description = " ".join(["Hand-picked leaves from the spring harvest."] * 22)
    await new_product(harness, "Oolong tea", description, photo=jpeg())
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2")
    card = harness.emulator.last_bot_message(TEA)
    # then the card is still a photo, and shows the start of the description, cut at a word
    assert card.kind == "photo"
    shortened = card.text.splitlines()[1]
    assert shortened.startswith("Hand-picked leaves from the spring harvest. Hand-picked")
    assert shortened.endswith("…") and len(shortened) <= 200
    assert len(card.text) <= 1024


async def test_a_card_too_long_for_a_caption_is_posted_as_text(harness: Harness) -> None:
    # given a product with a photo, and a group-buy with 35 price tiers and a long pickup place
    await given_staff(harness)
    await new_product(harness, "Oolong tea", "Spring harvest.", photo=jpeg(), price="99.50 CNY")
    tiers = ",".join(f"{n}:{99 - n}.00" for n in range(2, 37))
    pickup = "The tea shop on the corner of Long Street, " * 5
    await harness.send(LEE, TEA, f"/groupbuy 1 24h min=2 stock=50 tiers={tiers} pickup={pickup}")
    card = harness.emulator.last_bot_message(TEA)
    # then the card is a text message (a caption holds 1024 characters), description included
    assert card.kind == "text" and len(card.text) > 1024
    assert card.text.splitlines()[:2] == ["🛒 Oolong tea", "Spring harvest."]
    async with harness.session() as session:
        post = (await session.execute(select(GroupBuyPost))).scalar_one()
    assert not post.photo
    # and its edits are text edits
    await harness.press(MIA, TEA, card.message_id, index=0)
    await harness.runtime.cards.flush()
    assert "Progress: 1/2 people" in shown(harness, TEA, card.message_id).text
    assert harness.emulator.calls_of("editMessageCaption") == []


async def given_a_catalog(harness: Harness) -> None:
    """Six products, #1 .. #6; the even ones have a photo, each has stock and a description."""
    await given_staff(harness)
    for n in range(1, 7):
        photo = jpeg() if n % 2 == 0 else None
        await new_product(
            harness, f"Tea {n}", f"Harvest {n}.\nSteep 3 minutes.", photo=photo, stock=str(n * 10)
        )


async def test_products_come_a_page_of_photo_cards_at_a_time(harness: Harness) -> None:
    await given_a_catalog(harness)
    # when Mia asks for the products
    shown_now = await answers(harness, MIA, "/products")
    cards, footer = shown_now[:-1], shown_now[-1]
    # then the newest five come one card each: a photo with its caption where there is one
    assert [m.kind for m in cards] == ["photo", "text", "photo", "text", "photo"]
    assert cards[0].text == "#6 Tea 6\nCN¥39.90 · 60 left\nHarvest 6.\nSteep 3 minutes."
    assert cards[1].text == "#5 Tea 5\nCN¥39.90 · 50 left\nHarvest 5.\nSteep 3 minutes."
    assert cards[0].html is not None and cards[0].html.startswith("<b>#6 Tea 6</b>")
    async with harness.session() as session:
        sixth = await session.get(Product, 6)
    assert sixth is not None and cards[0].raw["photo"][-1]["file_id"] == sixth.photo_file_id
    # and a line that says how many there are, with More
    assert footer.text == "Products on sale: 1–5 of 6. Order with /buy ID QUANTITY."
    assert footer.button_texts == ["More ▶️"]
    # when she taps More, the last product follows, and Back can show the first page again
    await harness.press(MIA, MIA, footer.message_id, index=0)
    shown_now = harness.new_bot_messages(MIA)
    assert [(m.kind, m.text.splitlines()[0]) for m in shown_now[:-1]] == [("text", "#1 Tea 1")]
    assert shown_now[-1].text == "Products on sale: 6–6 of 6. Order with /buy ID QUANTITY."
    assert shown_now[-1].button_texts == ["◀️ Previous"]


async def test_a_chinese_member_reads_the_product_cards_and_the_group_buy_card(
    harness: Harness,
) -> None:
    # given Lee's Telegram speaks Simplified Chinese, and a product with a photo
    await given_staff(harness)
    await new_product(harness, "乌龙茶", "安溪春茶，250 克。", photo=jpeg(), stock="20")
    # when he asks for the products
    card, footer = await answers(harness, LEE, "/products")
    # then he reads the card and the count in Chinese
    assert card.kind == "photo"
    assert card.text == "#1 乌龙茶\n¥39.90 · 剩 20 件\n安溪春茶，250 克。"
    assert footer.text == "在售商品：共 1 项。用 /buy 编号 数量 下单。"
    # and in his group, which speaks Chinese, the group-buy card is the photo, in Chinese
    await harness.send(LEE, TEA, "/settings language zh_Hans")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=10 pickup=茶叶店")
    group_card = harness.emulator.last_bot_message(TEA)
    assert group_card.kind == "photo"
    assert group_card.text.splitlines()[:3] == [
        "🛒 乌龙茶",
        "安溪春茶，250 克。",
        "当前价格：¥39.90",
    ]
    assert "取货：茶叶店" in group_card.text
    await harness.press(LEE, TEA, group_card.message_id, index=0)
    await harness.runtime.cards.flush()
    assert "进度：1/2 人" in shown(harness, TEA, group_card.message_id).text


PUBLIC = "https://shop.example.com/dashboard"


@pytest.fixture
async def public(emulator: Emulator, settings: Settings) -> AsyncIterator[Harness]:
    """The bot with a public dashboard address (DASHBOARD_URL), as in production."""
    clock = FakeClock()
    runtime = build_runtime(
        settings.model_copy(update={"dashboard_url": PUBLIC}), EMULATOR_TOKEN, clock=clock
    )
    await prepare(runtime, migrate=False)
    yield Harness(emulator=emulator, runtime=runtime, clock=clock)
    await runtime.close()


async def buy_moon_cakes(harness: Harness, *, photo: bytes | None) -> dict[str, object]:
    """Moon cakes sold in Stars, with a photo or none; Mia buys two: the invoice's call."""
    await given_staff(harness)
    await new_product(
        harness,
        "Moon cake",
        "Lotus paste with two salted egg yolks, baked in Hong Kong.",
        photo=photo,
        price="25 XTR",
        stock="5",
        telegram=True,
    )
    await harness.send(MIA, MIA, "/buy 1 2")
    [call] = harness.emulator.calls_of("sendInvoice")
    assert harness.emulator.last_bot_message(MIA).kind == "invoice"
    return call


async def test_an_invoice_shows_the_product_photo_served_at_the_public_address(
    public: Harness,
) -> None:
    # given a product with a photo, and the bot has a public address
    photo = jpeg(800, 600)
    call = await buy_moon_cakes(public, photo=photo)
    # then the invoice's photo is the product's, at the public address, with its size
    async with public.session() as session:
        product = await session.get(Product, 1)
    assert product is not None and product.photo_file_id is not None
    assert call["photo_url"] == f"{PUBLIC}/photos/1-{photo_tag(product.photo_file_id)}.jpg"
    assert (call["photo_width"], call["photo_height"]) == (800, 600)
    # and its description carries the product's
    assert call["description"] == (
        "Order #1: Moon cake ×2\nLotus paste with two salted egg yolks, baked in Hong Kong."
    )
    # when Telegram fetches the photo from the bot's web server (here on this machine)
    path = urlsplit(str(call["photo_url"])).path
    port = free_port()
    app = create_web_app(public.runtime)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as client:
            for _ in range(2):
                async with client.get(path) as response:
                    assert response.status == 200
                    assert response.content_type == "image/jpeg"
                    assert await response.read() == photo
            # then it was downloaded from Telegram once, and served from memory after that
            assert app[PHOTOS].downloads == 1
            assert len(public.emulator.calls_of("getFile")) == 1
            # another tag (an old photo, a guess) or another product is not found
            async with client.get(path.replace("/1-", "/2-")) as response:
                assert response.status == 404
            async with client.get(f"/dashboard/photos/1-{'0' * 16}.jpg") as response:
                assert response.status == 404
    finally:
        await runner.cleanup()


async def test_an_invoice_has_no_photo_without_a_public_address(harness: Harness) -> None:
    call = await buy_moon_cakes(harness, photo=jpeg())
    assert "photo_url" not in call and "photo_width" not in call
    assert str(call["description"]).startswith("Order #1: Moon cake ×2\nLotus paste")


async def test_an_invoice_has_no_photo_for_a_product_without_one(public: Harness) -> None:
    call = await buy_moon_cakes(public, photo=None)
    assert "photo_url" not in call


async def test_a_long_description_is_shortened_to_fit_the_invoice(public: Harness) -> None:
    await given_staff(public)
    await new_product(
        public, "Moon cake", "Lotus paste. " * 40, price="25 XTR", stock="5", telegram=True
    )
    await public.send(MIA, MIA, "/buy 1")
    [call] = public.emulator.calls_of("sendInvoice")
    description = str(call["description"])
    assert description.startswith("Order #1: Moon cake ×1\nLotus paste. Lotus paste.")
    assert description.endswith("…") and len(description) <= 255


def test_the_public_address_is_the_one_the_operator_gave_and_not_this_machine() -> None:
    assert make_settings().public_dashboard_url is None
    assert make_settings(dashboard_url=PUBLIC).public_dashboard_url == PUBLIC
    webhook = make_settings(webhook_url="https://bot.example.com/telegram/hook")
    assert webhook.public_dashboard_url == "https://bot.example.com/dashboard"
    local = make_settings(dashboard_url="http://localhost:8080/dashboard")
    assert local.public_dashboard_url is None
    assert (
        make_settings(dashboard_url="http://127.0.0.1:8080/dashboard").public_dashboard_url is None
    )


ONE_LINE = st.characters(exclude_characters="\n")  # a line of the card (the test splits them)


@given(
    description=st.text(max_size=1024),
    tiers=st.integers(min_value=0, max_value=60),
    pickup=st.text(ONE_LINE, max_size=255),
    title=st.text(ONE_LINE, min_size=1, max_size=128),
    locale=st.sampled_from(["en", "zh_Hans", "zh_Hant"]),
    status=st.sampled_from(["open", "formed", "failed", "cancelled"]),
)
def test_a_photo_card_caption_always_fits_and_a_text_card_holds_the_whole_card(
    description: str, tiers: int, pickup: str, title: str, locale: str, status: str
) -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    gb = GroupBuyView(
        id=1,
        title=title,
        unit_price=100_000,
        currency="CNY",
        payment_mode="offline",
        min_kind="people",
        min_count=2,
        stock_cap=100,
        per_member_limit=3,
        units_sold=0,
        participants=0,
        deadline=now + timedelta(days=1),
        pickup_point=pickup,
        pickup_time="",
        status=status,
        opened_by=OWNER,
        final_price=None,
        tiers=tuple((n + 2, 100_000 - n - 1) for n in range(tiers)),
        product_id=1,
        commission_bps=0,
        description=description,
        photo_file_id="photo",
    )
    i18n = create_i18n("en")
    with i18n.context(), i18n.use_locale(locale):
        caption = card_text(gb, locale, "Asia/Shanghai", now, caption=True)
        text = card_text(gb, locale, "Asia/Shanghai", now)
        bare = card_text(replace(gb, description=""), locale, "Asia/Shanghai", now)
        fits = fits_caption(gb, locale, "Asia/Shanghai", now)
    # a caption never exceeds Telegram's limit, and keeps at least the title
    assert visible_length(caption) <= CAPTION_LIMIT
    assert caption.startswith(f"🛒 <b>{esc_name(title)}</b>")  # shown without control characters
    # a text card holds every line, the (shortened) description second
    assert visible_length(text) <= MESSAGE_LIMIT
    lines = text.split("\n")
    described = len(lines) > len(bare.split("\n"))
    assert lines[:1] + lines[1 + described :] == bare.split("\n")
    # a card posted as a photo loses no line either: only the description is shorter
    if fits:
        assert caption.split("\n")[-1] == lines[-1]


@given(text=st.text(max_size=600), limit=st.integers(min_value=0, max_value=300))
def test_shorten_never_exceeds_its_limit(text: str, limit: int) -> None:
    short = shorten(text, limit)
    assert len(short.encode("utf-16-le", "surrogatepass")) // 2 <= limit
    if len(text.encode("utf-16-le", "surrogatepass")) // 2 <= limit:
        assert short == " ".join(text.split())


async def test_details_in_private_show_the_card_with_its_photo(harness: Harness) -> None:
    # given a group-buy of a product with a photo, which Mia has not joined
    await given_staff(harness)
    await new_product(harness, "Oolong tea", "Spring harvest.", photo=jpeg())
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2")
    # when she taps Details under it in private (a broadcast's button)
    menu = harness.emulator.last_bot_message(MIA)
    details = GroupBuyCallback(action="details", groupbuy_id=1).pack()
    await harness.press(MIA, MIA, menu.message_id, callback_data=details, force=True)
    # then she gets the card as the photo, with how to join under it
    card = harness.emulator.last_bot_message(MIA)
    assert card.kind == "photo"
    assert card.text.startswith("🛒 Oolong tea\nSpring harvest.\nPrice now: CN¥39.90")
    assert card.text.endswith(
        "Join it with the button under its card in your group.\n"
        "Times on this card are UTC time."  # she set no zone: the zone is named
    )


async def test_a_photo_telegram_refuses_falls_back_to_text_cards(harness: Harness) -> None:
    # given a product whose photo file id this bot cannot send (kept from another bot token)
    await given_staff(harness)
    await new_product(harness, "Oolong tea", "Spring harvest.")
    async with harness.session() as session, session.begin():
        await update_product(
            session, product_id=1, field="photo_file_id", value="AgACAgIAAxkBAAIC-another-bot"
        )
    # when a group-buy opens, the card is a text card (with the description), not an error
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2")
    card = harness.emulator.last_bot_message(TEA)
    assert card.kind == "text" and card.text.startswith("🛒 Oolong tea\nSpring harvest.")
    async with harness.session() as session:
        post = (await session.execute(select(GroupBuyPost))).scalar_one()
    assert not post.photo
    await harness.press(MIA, TEA, card.message_id, index=0)
    await harness.runtime.cards.flush()
    assert "Progress: 1/2 people" in shown(harness, TEA, card.message_id).text
    # and /products shows it as a text card too
    cards = await answers(harness, MIA, "/products")
    assert [(m.kind, m.text) for m in cards[:1]] == [
        ("text", "#1 Oolong tea\nCN¥39.90\nSpring harvest.")
    ]
