"""Every staff list pages with Back / More and says how many there are, driven at the
boundaries (exactly a page, one more than a page): /polls, /broadcasts, the broadcast wizard's
community picker, /leaders and /coupon_templates."""

from __future__ import annotations

from datetime import timedelta

from handlers.views.paging import PAGE_SIZE
from models.broadcast import Broadcast
from models.poll import Poll
from tests.conftest import LEE, MIA, OWNER, SAM, TEA, Harness
from tgemu.core import StoredMessage

EXTRA_GROUP = -1002000000000  # the groups added to Tea Lovers and Coffee Club: -1002000000001 ..
EXTRA_CREATOR = 700_000  # each extra group's creator, its leader once the owner adds the bot


def shown(harness: Harness, chat: int, message_id: int) -> StoredMessage:
    """The message as the chat shows it now (after any edits)."""
    return next(m for m in harness.emulator.messages(chat) if m.message_id == message_id)


async def given_staff(harness: Harness, groups: int = 2) -> None:
    """Sam is staff; the owner added the bot to `groups` groups (Tea Lovers, Coffee Club, then
    Group 03 .. Group N), each led by its creator."""
    await harness.join_groups()
    for n in range(3, groups + 1):
        creator = EXTRA_CREATOR + n
        harness.emulator.add_user(creator, f"Creator{n:02}", language_code="en")
        harness.emulator.add_group(EXTRA_GROUP - n, f"Group {n:02}", creator=creator)
        harness.emulator.add_bot_to_group(EXTRA_GROUP - n, OWNER)
    await harness.feed_pending()
    for user in (SAM, MIA, LEE):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def given_polls(harness: Harness, count: int) -> None:
    async with harness.session() as session, session.begin():
        for n in range(1, count + 1):
            session.add(
                Poll(
                    question=f"Flavour {n}?",
                    option_count=2,
                    closes_at=harness.clock.now + timedelta(days=3),
                    created_by=SAM,
                )
            )


async def test_exactly_a_page_of_polls_lists_them_all_with_the_count(harness: Harness) -> None:
    await given_staff(harness)
    await given_polls(harness, PAGE_SIZE)
    [text] = await harness.send(SAM, SAM, "/polls")
    lines = text.splitlines()
    assert lines[0] == "Polls (10 in all):"
    assert [line.split(" — ")[0] for line in lines[1:]] == [
        f"#{n} Flavour {n}?" for n in range(10, 0, -1)
    ]
    assert harness.emulator.last_bot_message(SAM).button_texts == []


async def test_one_more_than_a_page_of_polls_pages_with_more_and_back(harness: Harness) -> None:
    await given_staff(harness)
    await given_polls(harness, PAGE_SIZE + 1)
    [text] = await harness.send(SAM, SAM, "/polls")
    assert text.splitlines()[0] == "Polls (1–10 of 11):"
    listing = harness.emulator.last_bot_message(SAM)
    assert listing.button_texts == ["More ▶️"]
    await harness.press(SAM, SAM, listing.message_id, index=0)
    second = shown(harness, SAM, listing.message_id)
    assert second.text.splitlines()[:2] == ["Polls (11–11 of 11):", second.text.splitlines()[1]]
    assert second.text.splitlines()[1].startswith("#1 Flavour 1? — open until ")
    assert second.button_texts == ["◀️ Previous"]
    # a member who forges the button is refused, and the list stays
    answer = await harness.press(
        MIA, SAM, listing.message_id, callback_data="pg:polls:0", force=True
    )
    assert answer == "Sorry, only brand staff can do that."
    await harness.press(SAM, SAM, listing.message_id, index=0)
    assert shown(harness, SAM, listing.message_id).text.splitlines()[0] == "Polls (1–10 of 11):"


async def test_polls_count_in_simplified_chinese(harness: Harness) -> None:
    await given_staff(harness)
    await given_polls(harness, PAGE_SIZE + 1)
    # Lee's Telegram is in Simplified Chinese; the owner makes him staff too
    await harness.send(OWNER, OWNER, "/grant_staff @lee")
    [text] = await harness.send(LEE, LEE, "/polls")
    assert text.splitlines()[0] == "投票（第 1–10 项，共 11 项）："
    listing = harness.emulator.last_bot_message(LEE)
    assert listing.button_texts == ["更多 ▶️"]
    await harness.press(LEE, LEE, listing.message_id, index=0)
    second = shown(harness, LEE, listing.message_id)
    assert second.text.splitlines()[0] == "投票（第 11–11 项，共 11 项）："
    assert second.button_texts == ["◀️ 上一页"]


async def given_broadcasts(harness: Harness, count: int) -> None:
    async with harness.session() as session, session.begin():
        for n in range(1, count + 1):
            session.add(
                Broadcast(
                    text=f"Offer {n}",
                    targets="groups",
                    scheduled_at=harness.clock.now + timedelta(days=1),
                    created_by=SAM,
                )
            )


async def test_exactly_a_page_of_broadcasts_comes_as_cards_without_more(
    harness: Harness,
) -> None:
    await given_staff(harness)
    await given_broadcasts(harness, PAGE_SIZE)
    cards = await harness.send(SAM, SAM, "/broadcasts")
    assert [card.split(" (")[0] for card in cards] == [f"Broadcast #{n}" for n in range(10, 0, -1)]


async def test_one_more_than_a_page_of_broadcasts_ends_with_a_count_and_more(
    harness: Harness,
) -> None:
    await given_staff(harness)
    await given_broadcasts(harness, PAGE_SIZE + 1)
    sent = await harness.send(SAM, SAM, "/broadcasts")
    assert [card.split(" (")[0] for card in sent[:-1]] == [
        f"Broadcast #{n}" for n in range(11, 1, -1)
    ]
    assert sent[-1] == "Broadcasts: 1–10 of 11"
    footer = harness.emulator.last_bot_message(SAM)
    assert footer.button_texts == ["More ▶️"]
    # More: the eleventh comes as its own card with its controls; the footer loses its button
    await harness.press(SAM, SAM, footer.message_id, index=0)
    assert shown(harness, SAM, footer.message_id).button_texts == []
    later = harness.new_bot_messages(SAM)
    assert [m.text.split(" (")[0] for m in later[:-1] if m.text] == ["Broadcast #1"]
    assert later[0].button_texts == ["⏸ #1", "✖️ #1"]
    assert later[-1].text == "Broadcasts: 11–11 of 11"
    assert later[-1].button_texts == ["◀️ Previous"]


async def open_community_picker(harness: Harness) -> StoredMessage:
    """Sam starts a broadcast and asks for the members of one community."""
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, "Tea tasting on Saturday")
    for label in ("⏭ Skip", "⏭ Skip", "Members of a community…"):
        last = harness.emulator.last_bot_message(SAM)
        await harness.press(SAM, SAM, last.message_id, index=last.button_texts.index(label))
    return harness.emulator.last_bot_message(SAM)


async def test_the_community_picker_with_exactly_a_page(harness: Harness) -> None:
    await given_staff(harness, groups=PAGE_SIZE)
    picker = await open_community_picker(harness)
    assert picker.text.endswith("Groups: 10 in all")
    assert picker.button_texts == [
        "Coffee Club",
        *[f"Group {n:02}" for n in range(3, 11)],
        "Tea Lovers",
        "⬅️ Back",
        "✖️ Cancel",
    ]


async def test_the_community_picker_pages_at_one_more_than_a_page(harness: Harness) -> None:
    await given_staff(harness, groups=PAGE_SIZE + 1)
    picker = await open_community_picker(harness)
    assert picker.text.endswith("Groups: 1–10 of 11")
    assert picker.button_texts[-3:] == ["More ▶️", "⬅️ Back", "✖️ Cancel"]
    # More: the eleventh group, which can be chosen
    await harness.press(SAM, SAM, picker.message_id, index=PAGE_SIZE)
    second = shown(harness, SAM, picker.message_id)
    assert second.text.endswith("Groups: 11–11 of 11")
    assert second.button_texts == ["Tea Lovers", "◀️ Previous", "⬅️ Back", "✖️ Cancel"]
    await harness.press(SAM, SAM, picker.message_id, index=0)
    assert harness.emulator.last_bot_message(SAM).text.startswith("When? Tap Now")
    # the picker's page buttons are stale once the question is answered
    answer = await harness.press(
        SAM, SAM, picker.message_id, callback_data="pg:bw_community:0", force=True
    )
    assert answer == "That question is not open any more."


async def test_exactly_a_page_of_leaders_with_the_count(harness: Harness) -> None:
    await given_staff(harness, groups=PAGE_SIZE)
    [text] = await harness.send(SAM, SAM, "/leaders")
    assert text.splitlines()[0] == "Leaders by group (10 in all):"
    assert text.count(" — leads (") == 10
    assert harness.emulator.last_bot_message(SAM).button_texts == []


async def test_one_more_than_a_page_of_leaders_pages_and_cards_follow_their_page(
    harness: Harness,
) -> None:
    # given eleven groups, and Mia, an admin of Tea Lovers (the last by title), applied to lead
    await given_staff(harness, groups=PAGE_SIZE + 1)
    harness.emulator.set_member_status(TEA, MIA, "administrator")
    assert (await harness.send(MIA, TEA, "/lead"))[0].startswith("Thank you, Mia!")
    # the first page: ten of twelve rows, no card (Mia's application is on the second page)
    [text] = await harness.send(SAM, SAM, "/leaders")
    assert text.splitlines()[0] == "Leaders by group (1–10 of 12):"
    assert "Mia" not in text
    listing = harness.emulator.last_bot_message(SAM)
    assert listing.button_texts == ["More ▶️"]
    # More: the same message shows the rest, and Mia's application comes as a card
    await harness.press(SAM, SAM, listing.message_id, index=0)
    second = shown(harness, SAM, listing.message_id)
    assert second.text.splitlines()[0] == "Leaders by group (11–12 of 12):"
    assert "• Mia (1004) — applied, waiting for staff" in second.text
    assert second.button_texts == ["◀️ Previous"]
    card = harness.emulator.last_bot_message(SAM)
    assert card.text.startswith("🙋 Mia (1004), an admin of Tea Lovers, asks to lead it.")


async def test_coupon_templates_page_at_the_boundary(harness: Harness) -> None:
    await given_staff(harness)
    for n in range(1, PAGE_SIZE + 1):
        await harness.send(SAM, SAM, f"/coupon_new TEA{n:02} {n}.00 CNY")
    # exactly a page: all ten, counted, no buttons; /coupons points staff to them
    [text] = await harness.send(SAM, SAM, "/coupon_templates")
    assert text.splitlines()[0] == "Coupon templates (10 in all)"
    assert text.splitlines()[1] == "TEA01: CN¥1.00 off; given 0, used 0"
    assert harness.emulator.last_bot_message(SAM).button_texts == []
    assert (await harness.send(SAM, SAM, "/coupons"))[0].endswith(
        "Coupon templates: 10. See them with /coupon_templates."
    )
    # one more than a page: More shows the eleventh
    await harness.send(SAM, SAM, "/coupon_new TEA11 11.00 CNY")
    [text] = await harness.send(SAM, SAM, "/coupon_templates")
    assert text.splitlines()[0] == "Coupon templates (1–10 of 11)"
    listing = harness.emulator.last_bot_message(SAM)
    assert listing.button_texts == ["More ▶️"]
    await harness.press(SAM, SAM, listing.message_id, index=0)
    second = shown(harness, SAM, listing.message_id)
    assert second.text.splitlines()[:2] == [
        "Coupon templates (11–11 of 11)",
        "TEA11: CN¥11.00 off; given 0, used 0",
    ]
    assert second.button_texts == ["◀️ Previous"]
    # members neither see the templates nor turn their pages
    assert "Coupon templates" not in (await harness.send(MIA, MIA, "/coupons"))[0]
    assert await harness.send(MIA, MIA, "/coupon_templates") == [
        "Sorry, only brand staff can do that."
    ]
