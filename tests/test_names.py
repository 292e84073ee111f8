"""Names and titles people typed are stored as typed and shown without the invisible characters
that reorder or hide text: a right-to-left override in a member's name must not mirror a line of
the leader's pickup list, nor one in a group's or a product's title the messages about them."""

from __future__ import annotations

from sqlmodel import select

from models.community import Community
from models.member import Member
from models.product import Product
from services.validation import shown
from tests.conftest import LEE, MIA, OWNER, SAM, TEA, Harness
from tests.dashboard_kit import dashboard, dashboard_port, login_link, settings
from tests.test_dashboard import client, sign_in

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures the dashboard test uses

RLO = "\u202e"  # right-to-left override: what follows reads backwards
HIDDEN = ("\u202e", "\u202a", "\u2066", "\u2069", "\u200b", "\u200e", "\u200f", "\ufeff")


def test_shown_drops_bidi_and_invisible_characters_and_keeps_the_rest() -> None:
    assert shown(f"Mia{RLO}gnp.exe") == "Miagnp.exe"
    assert shown("".join(HIDDEN) + "李小美") == "李小美"
    assert shown("Mia\nSam: paid") == "Mia Sam: paid"  # no forged second line
    assert shown("👨\u200d👩\u200d👧") == "👨\u200d👩\u200d👧"  # joiners shape the emoji
    assert shown("Zoë Ω 小美 😀") == "Zoë Ω 小美 😀"


async def test_a_bidi_override_in_a_name_or_title_is_stored_but_never_shown(
    harness: Harness,
) -> None:
    # given Mia's name, Tea Lovers' title and a product's title carry invisible characters
    harness.emulator.add_user(MIA, f"Mia{RLO}evil", username="mia", language_code="en")
    harness.emulator.add_group(TEA, f"Tea{RLO} Lovers\u200b", creator=LEE, members=[MIA, SAM])
    await harness.join_groups()
    for user in (OWNER, SAM, LEE, MIA):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    product = await harness.send(SAM, SAM, f"/product_add Oolong{RLO} tea | 39.90 CNY | stock 9")
    await harness.send(LEE, LEE, "/language")
    await harness.press(LEE, LEE, harness.emulator.last_bot_message(LEE).message_id, index=0)
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=1 stock=5")
    card = harness.emulator.last_bot_message(TEA)
    await harness.press(MIA, TEA, card.message_id, index=0)
    # when the sign-up list, the group's orders and the leader's pickup sheet are shown
    listing = await harness.send(MIA, TEA, "/list")
    await harness.send(LEE, TEA, "/gb_close 1")
    orders = await harness.send(LEE, TEA, "/orders")
    sheet = harness.emulator.last_bot_message(LEE)
    # then no message the bot sent holds an invisible character, and the names read plainly
    assert "Oolong tea" in product[0]
    assert "1. Miaevil ×1" in listing[0]
    assert "Orders in Tea Lovers" in orders[0] and "Miaevil" in orders[0]
    assert "Miaevil" in (sheet.text or "") or any("Miaevil" in t for t in sheet.button_texts)
    for chat in (TEA, LEE, SAM, MIA):
        for message in harness.emulator.bot_messages(chat):
            shown_text = (message.text or "") + "".join(message.button_texts)
            assert not any(char in shown_text for char in HIDDEN), (chat, shown_text)
    # and the store keeps what they typed
    async with harness.session() as session:
        assert (await session.get(Member, MIA)).first_name == f"Mia{RLO}evil"  # type: ignore[union-attr]
        community = await session.get(Community, TEA)
        assert community is not None and community.title == f"Tea{RLO} Lovers\u200b"
        titles = (await session.execute(select(Product.title))).scalars().all()
        assert titles == [f"Oolong{RLO} tea"]


async def test_the_dashboard_shows_names_and_titles_without_invisible_characters(
    harness: Harness, dashboard: str
) -> None:
    # given Sam's and Mia's names, Tea Lovers' title and a product's title carry bidi controls
    harness.emulator.add_user(SAM, f"Sam{RLO}nimda", username="sam", language_code="en")
    harness.emulator.add_user(MIA, f"Mia{RLO}evil", username="mia", language_code="en")
    harness.emulator.add_group(TEA, f"Tea{RLO} Lovers\u200b", creator=LEE, members=[MIA, SAM])
    await harness.join_groups()
    for user in (OWNER, SAM, LEE, MIA):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, f"/product_add Oolong{RLO} tea | 39.90 CNY | stock 9")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=1 stock=5")
    card = harness.emulator.last_bot_message(TEA)
    await harness.press(MIA, TEA, card.message_id, index=0)
    # when Sam (staff) reads the dashboard's pages
    pages = {}
    async with client() as http:
        await sign_in(http, await login_link(harness, SAM))
        for page in ("", "communities", "groupbuys", "members", "sessions"):
            async with http.get(f"{dashboard}/{page}?lang=en") as response:
                assert response.status == 200, page
                pages[page] = await response.text()
    # then no page holds an invisible character, and the names read plainly
    for page, text in pages.items():
        assert not any(char in text for char in HIDDEN), (
            page,
            [text[max(0, text.find(c) - 80) : text.find(c) + 20] for c in HIDDEN if c in text],
        )
    assert "Samnimda" in pages[""]  # who is signed in, at the top of every page
    assert "Miaevil" in pages["members"] and "Tea Lovers" in pages["communities"]
    assert "Samnimda" in pages["sessions"]
