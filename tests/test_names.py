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
