"""The group-buy wizard: /groupbuy without arguments walks a leader through each step in the
group, checks every answer, and opens nothing until Confirm; /drop without arguments does the
same for staff in private."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from handlers.views.groupbuy_wizard import GroupBuyDraft
from models.audit import AuditEntry
from models.groupbuy import GroupBuy, GroupBuyPost, GroupBuyTier
from models.product import Product
from tests.conftest import COFFEE, LEE, MIA, OWNER, SAM, TEA, Harness


async def given_a_product(harness: Harness, *, stock: int = 20) -> None:
    """Both groups have the bot; staff Sam adds a ¥39.90 tea with some stock."""
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, f"/product_add Oolong tea | 39.90 CNY | stock {stock}")


async def say(harness: Harness, text: str, *, user: int = LEE, chat: int = TEA) -> str:
    """The user writes in the chat; the bot's one reply."""
    replies = await harness.send(user, chat, text)
    assert len(replies) == 1, (text, replies)
    return replies[0]


async def tap(harness: Harness, label: str, *, user: int = LEE, chat: int = TEA) -> str | None:
    """The user taps the button with this label on the bot's last message; the toast."""
    last = harness.emulator.last_bot_message(chat)
    assert label in last.button_texts, (label, last.button_texts)
    return await harness.press(user, chat, last.message_id, index=last.button_texts.index(label))


def last_text(harness: Harness, chat: int = TEA) -> str:
    return harness.emulator.last_bot_message(chat).text or ""


async def groupbuys(harness: Harness) -> list[GroupBuy]:
    async with harness.session() as session:
        return list((await session.execute(select(GroupBuy))).scalars())


async def product_stock(harness: Harness) -> int | None:
    async with harness.session() as session:
        product = await session.get(Product, 1)
        assert product is not None
        return product.stock


async def walk_to_summary(harness: Harness) -> None:
    """Lee answers every step with the quickest valid answer."""
    await say(harness, "/groupbuy")
    await tap(harness, "#1 Oolong tea · CN¥39.90")
    for answer in ("24h", "/skip", "/skip", "/skip", "/skip", "/skip", "/skip", "/skip"):
        await say(harness, answer)
    assert last_text(harness).startswith("Please check, then confirm:")


async def test_a_leader_opens_a_group_buy_step_by_step(harness: Harness) -> None:
    await given_a_product(harness)
    # when Lee sends /groupbuy without arguments, the wizard starts with the products
    first = await say(harness, "/groupbuy")
    assert first.startswith("New group-buy, step by step.")
    assert "Which product? Tap one below or send its number." in first
    assert "/groupbuy PRODUCT DEADLINE" in first  # the one-line form, for next time
    assert harness.emulator.last_bot_message(TEA).button_texts == [
        "#1 Oolong tea · CN¥39.90",
        "✖️ Cancel",
    ]
    await tap(harness, "#1 Oolong tea · CN¥39.90")
    assert last_text(harness).startswith("When does it close? Send 24h, 3d, tomorrow 8pm")
    assert "(UTC time)" in last_text(harness)
    assert harness.emulator.last_bot_message(TEA).button_texts == ["⬅️ Back", "✖️ Cancel"]
    steps = [
        ("24h", "How many are needed for it to form?"),
        ("3", "How many units are for sale in total? Skip: 20."),
        ("10", "How many units may one member take at most? Skip: 5."),
    ]
    for answer, question in steps:
        assert (await say(harness, answer)).startswith(question), answer
    assert harness.emulator.last_bot_message(TEA).button_texts == [
        "⬅️ Back",
        "⏭ Skip",
        "✖️ Cancel",
    ]
    await tap(harness, "⏭ Skip")  # the limit: 5
    assert last_text(harness).startswith("Lower prices as more units sell?")
    assert "the base price is CN¥39.90" in last_text(harness)
    steps = [
        ("4:35.90, 6:32.90", "Where do members pick it up? At most 255 characters."),
        ("<b>Tea shop</b> & garden", "When can they pick it up? At most 64 characters"),
        ("Sat 10:00-12:00", "How do its orders reach members? Tap one"),
    ]
    for answer, question in steps:
        assert (await say(harness, answer)).startswith(question), answer
    # the product is picked up; this group-buy's orders are delivered instead
    assert "Skip: as the product says, pickup." in last_text(harness)
    assert harness.emulator.last_bot_message(TEA).button_texts == [
        "pickup",
        "delivery",
        "pickup or delivery",
        "⬅️ Back",
        "⏭ Skip",
        "✖️ Cancel",
    ]
    await tap(harness, "delivery")
    # then the summary shows every value, the leader's text escaped
    summary = harness.emulator.last_bot_message(TEA)
    closes = (harness.clock.now + timedelta(hours=24)).strftime("%Y-%m-%d %H:%M")
    assert summary.text.splitlines() == [
        "Please check, then confirm:",
        "🛒 Oolong tea",
        "Price: CN¥39.90",
        "  from 4 units: CN¥35.90",
        "  from 6 units: CN¥32.90",
        "Minimum to form: 3 people",
        "Stock: 10",
        "Limit 5 per member.",
        f"Closes {closes} (UTC time)",
        "Pickup: <b>Tea shop</b> & garden",
        "Pickup time: Sat 10:00-12:00",
        "Orders: delivery",
    ]
    assert "&lt;b&gt;Tea shop&lt;/b&gt; &amp; garden" in (summary.html or "")
    assert summary.button_texts == ["✅ Confirm", "⬅️ Back", "✖️ Cancel"]
    # nothing exists before Confirm
    assert await groupbuys(harness) == []
    await tap(harness, "✅ Confirm")
    # the group sees the card
    card = harness.emulator.last_bot_message(TEA)
    assert card.text.splitlines()[:6] == [
        "🛒 Oolong tea",
        "Price now: CN¥39.90",
        "  ▫️ from 4 units: CN¥35.90",
        "  ▫️ from 6 units: CN¥32.90",
        "Progress: 0/3 people",
        "Units left: 10",
    ]
    assert card.text.splitlines()[-3:] == [
        "Pickup: <b>Tea shop</b> & garden",
        "Pickup time: Sat 10:00-12:00",
        "Limit 5 per member.",
    ]
    assert card.button_texts == ["Join ×1", "Join ×2", "Join ×3", "−1", "Leave", "Details"]
    assert harness.emulator.bot_messages(COFFEE)[-1].text != card.text  # only this group
    # and the store holds it as the leader's, with the leader's commission
    [gb] = await groupbuys(harness)
    assert (gb.product_id, gb.min_kind, gb.min_count, gb.stock_cap, gb.per_member_limit) == (
        1,
        "people",
        3,
        10,
        5,
    )
    assert (gb.pickup_point, gb.pickup_time) == ("<b>Tea shop</b> & garden", "Sat 10:00-12:00")
    assert gb.fulfilment == "delivery"
    assert gb.deadline == harness.clock.now + timedelta(hours=24)
    assert (gb.opened_by, gb.commission_bps, gb.status) == (LEE, 500, "open")
    async with harness.session() as session:
        tiers = (await session.execute(select(GroupBuyTier))).scalars().all()
        posts = (await session.execute(select(GroupBuyPost))).scalars().all()
    assert sorted((t.min_units, t.unit_price) for t in tiers) == [(4, 3590), (6, 3290)]
    assert [(p.chat_id, p.message_id) for p in posts] == [(TEA, card.message_id)]
    assert await product_stock(harness) == 10
    # the deadline is scheduled: it closes when the clock passes it
    harness.clock.advance(hours=24, seconds=1)
    assert await harness.runtime.closer.close_due() == 1
    # the wizard is over: Lee's plain text is not an answer any more
    assert await harness.send(LEE, TEA, "hello") == []


async def test_bad_answers_are_explained_and_the_step_is_asked_again(harness: Harness) -> None:
    await given_a_product(harness)
    await say(harness, "/groupbuy")
    cases = [
        # (answer, the explanation, the question asked again or the next one)
        ("9", "There is no such product.", "Which product?"),
        ("#1", "", "When does it close?"),
        ("someday", "I could not read someday as a time.", "When does it close?"),
        ("2020-01-01 10:00", "The deadline must be in the future.", "When does it close?"),
        ("45d", "The deadline can be at most 30 days away.", "When does it close?"),
        ("2d", "", "How many are needed for it to form?"),
        ("0", "Send the minimum as a whole number above zero", "How many are needed"),
        ("many", "Send the minimum as a whole number above zero", "How many are needed"),
        ("30u", "The product has only 20 units left, so the minimum", "How many are needed"),
        ("6u", "", "How many units are for sale in total?"),
        ("0", "Send the stock as a whole number above zero", "How many units are for sale"),
        ("5", "The stock cannot be less than the minimum, 6.", "How many units are for sale"),
        ("50", "The product has only 20 units left: send 20 or less.", "How many units are"),
        ("12", "", "How many units may one member take at most?"),
        ("-1", "Send the limit as a whole number above zero", "How many units may one member"),
        ("3", "", "Lower prices as more units sell?"),
        ("5:39.95", "Each tier needs more units and a lower price", "Lower prices as more"),
        ("10:35.90, 5:30", "Each tier needs more units and a lower price", "Lower prices"),
        (
            "ten:35",
            "I could not read the tier ten:35. Write tiers",
            "Lower prices as more units sell?",
        ),
        ("20:30", "A tier at 20 units can never be reached: the stock is 12.", "Lower prices"),
        ("8:35.90", "", "Where do members pick it up?"),
        ("x" * 256, "That is 256 characters, but at most 255 fit here.", "Where do members"),
        ("Shop A", "", "When can they pick it up?"),
        ("y" * 65, "That is 65 characters, but at most 64 fit here.", "When can they pick"),
        ("Sat 10:00", "", "How do its orders reach members?"),
        ("by bike", "Tap how its orders reach members, or send", "How do its orders reach"),
        ("Both", "", "Please check, then confirm:"),
    ]
    for answer, explanation, question in cases:
        reply = await say(harness, answer)
        if explanation:
            assert reply.startswith(explanation), (answer, reply)
            assert "\n\n" + question in reply, (answer, reply)
        else:
            assert reply.startswith(question), (answer, reply)
        assert await groupbuys(harness) == []
    await tap(harness, "✅ Confirm")
    [gb] = await groupbuys(harness)
    assert (gb.min_kind, gb.min_count, gb.stock_cap, gb.per_member_limit) == ("units", 6, 12, 3)
    assert (gb.pickup_point, gb.pickup_time, gb.fulfilment) == ("Shop A", "Sat 10:00", "both")
    assert gb.deadline == harness.clock.now + timedelta(days=2)
    assert "Progress: 0/6 units" in last_text(harness)


async def test_the_wizard_speaks_the_groups_language(harness: Harness) -> None:
    await given_a_product(harness)
    await harness.send(LEE, TEA, "/settings language zh_Hans")
    first = await say(harness, "/groupbuy")
    assert first.startswith("分步开团。")
    await tap(harness, "#1 Oolong tea · ¥39.90")
    assert last_text(harness).startswith("什么时候截止？")
    reply = await say(harness, "明天晚上")  # which hour of the evening?
    assert reply.startswith("看不懂时间晚上。可以这样写：3天、24小时、明天晚上8点")
    assert "\n\n什么时候截止？" in reply
    await say(harness, "24h")
    assert harness.emulator.last_bot_message(TEA).button_texts == ["⬅️ 返回", "⏭ 跳过", "✖️ 取消"]
    for answer in ("/skip", "/skip", "/skip", "/skip", "/skip", "/skip", "/skip"):
        await say(harness, answer)
    assert last_text(harness).startswith("请检查后确认：")
    await tap(harness, "✅ 确认")
    assert last_text(harness).startswith("🛒 Oolong tea\n当前价格：¥39.90")


async def test_cancel_by_button_or_command_creates_nothing(harness: Harness) -> None:
    await given_a_product(harness)
    answers = ["1", "24h", "3", "10", "5", "4:35.90", "Shop A", "Sat 10:00", "pickup"]
    for step in range(len(answers) + 1):
        await say(harness, "/groupbuy")
        for answer in answers[:step]:
            await say(harness, answer)
        if step % 2:
            assert await say(harness, "/cancel") == "Cancelled. Nothing was changed."
        else:
            await tap(harness, "✖️ Cancel")
            assert last_text(harness) == "Cancelled. Nothing was changed."
            assert harness.emulator.bot_messages(TEA)[-2].button_texts == []
        # the wizard is over: an answer is not taken any more
        assert await harness.send(LEE, TEA, "24h") == []
    assert await groupbuys(harness) == []
    assert await product_stock(harness) == 20


async def test_a_member_cannot_start_it(harness: Harness) -> None:
    await given_a_product(harness)
    # when Mia, a plain member, sends /groupbuy in the group
    assert await harness.send(MIA, TEA, "/groupbuy") == [
        "Sorry, only the leaders of this group can do that."
    ]
    # then no wizard started for her, and the refusal is audited
    assert await harness.send(MIA, TEA, "1") == []
    async with harness.session() as session:
        rows = (await session.execute(select(AuditEntry))).scalars().all()
    assert [
        (r.actor_id, r.chat_id, r.allowed, r.required_role)
        for r in rows
        if r.action == "groupbuy.open"
    ] == [(MIA, TEA, False, "leader")]


async def test_other_members_talk_as_usual_during_a_leaders_wizard(harness: Harness) -> None:
    await given_a_product(harness)
    await say(harness, "/groupbuy")
    await tap(harness, "#1 Oolong tea · CN¥39.90")
    # when Mia writes what would be an answer, the wizard does not take it
    assert await harness.send(MIA, TEA, "24h") == []
    assert await harness.send(MIA, TEA, "/cancel") == []
    # and the leader's buttons are not hers
    assert await tap(harness, "✖️ Cancel", user=MIA) == (
        "This is someone else's group-buy setup, or it has ended."
    )
    # then Lee is still at the deadline step
    assert (await say(harness, "soon")).startswith("I could not read soon as a time.")
    assert (await say(harness, "24h")).startswith("How many are needed for it to form?")
    # and a button of an earlier step is refused with the reason
    first = next(
        m
        for m in reversed(harness.emulator.bot_messages(TEA))
        if "#1 Oolong tea · CN¥39.90" in m.button_texts
    )
    assert await harness.press(LEE, TEA, first.message_id, index=0) == (
        "That button is from an earlier step."
    )
    assert await groupbuys(harness) == []


async def test_a_double_confirm_opens_one_group_buy(harness: Harness) -> None:
    await given_a_product(harness)
    await walk_to_summary(harness)
    summary = harness.emulator.last_bot_message(TEA)
    # when Lee taps Confirm twice before the bot handles the first tap
    first = harness.emulator.press_button(LEE, TEA, summary.message_id, index=0)
    second = harness.emulator.press_button(LEE, TEA, summary.message_id, index=0)
    await harness.feed_pending()
    # then one group-buy is open and one card posted
    assert len(await groupbuys(harness)) == 1
    cards = [m for m in harness.emulator.bot_messages(TEA) if m.text.startswith("🛒")]
    assert len(cards) == 1
    answers = harness.emulator.callback_answers
    assert answers[first["callback_query"]["id"]].get("text") is None
    assert answers[second["callback_query"]["id"]]["text"] == (
        "This is someone else's group-buy setup, or it has ended."
    )
    assert harness.emulator.last_bot_message(TEA).message_id != summary.message_id
    assert (
        next(
            m for m in harness.emulator.bot_messages(TEA) if m.message_id == summary.message_id
        ).button_texts
        == []
    )
    assert await product_stock(harness) == 0  # the default stock cap: all the product's stock


async def test_confirm_reports_what_changed_meanwhile(harness: Harness) -> None:
    await given_a_product(harness)
    await walk_to_summary(harness)
    # while the summary waits, staff sell the product's stock elsewhere
    await harness.send(SAM, SAM, "/product_set 1 stock 3")
    await tap(harness, "✅ Confirm")
    assert last_text(harness) == (
        "The product does not have that much stock left: 3 units. Lower stock= to at most 3.\n"
        "Nothing was created. Send /groupbuy to start again."
    )
    assert await groupbuys(harness) == []
    assert await harness.send(LEE, TEA, "24h") == []


async def test_staff_open_a_drop_step_by_step_in_private(harness: Harness) -> None:
    await given_a_product(harness)
    assert (await say(harness, "/drop", user=MIA, chat=MIA)) == (
        "Sorry, only brand staff can do that."
    )
    first = await say(harness, "/drop", user=SAM, chat=SAM)
    assert first.startswith("New drop, step by step:")
    await tap(harness, "#1 Oolong tea · CN¥39.90", user=SAM, chat=SAM)
    for answer in ("3d", "2", "/skip", "2", "/skip", "/skip", "/skip"):
        await say(harness, answer, user=SAM, chat=SAM)
    await tap(harness, "All groups", user=SAM, chat=SAM)
    await say(harness, "/skip", user=SAM, chat=SAM)  # no pickup text of a group's own
    await say(harness, "/skip", user=SAM, chat=SAM)  # delivered as the product is
    assert "All groups\nRecipients: 2 groups\n" in last_text(harness, SAM)
    # /cancel in private is the general one, and it ends this wizard too
    assert await say(harness, "/cancel", user=SAM, chat=SAM) == "Cancelled. Nothing was changed."
    assert await harness.send(SAM, SAM, "hello") == [
        "I didn't understand that. Here is what I can do:"
    ]
    await say(harness, "/drop", user=SAM, chat=SAM)
    await tap(harness, "#1 Oolong tea · CN¥39.90", user=SAM, chat=SAM)
    for answer in ("3d", "2", "/skip", "2", "/skip", "/skip", "/skip"):
        await say(harness, answer, user=SAM, chat=SAM)
    await tap(harness, "All groups", user=SAM, chat=SAM)
    await say(harness, "/skip", user=SAM, chat=SAM)  # no pickup text of a group's own
    await say(harness, "/skip", user=SAM, chat=SAM)  # delivered as the product is
    await tap(harness, "✅ Confirm", user=SAM, chat=SAM)
    assert last_text(harness, SAM) == "Group-buy #1 posted in 2 groups."
    assert last_text(harness, TEA).startswith("🛒 Oolong tea")
    assert last_text(harness, COFFEE).startswith("🛒 Oolong tea")
    [gb] = await groupbuys(harness)
    assert (gb.opened_by, gb.commission_bps, gb.stock_cap, gb.per_member_limit) == (SAM, 0, 20, 2)


async def test_a_wizard_left_alone_in_a_group_stops_taking_answers(harness: Harness) -> None:
    await given_a_product(harness)
    await say(harness, "/groupbuy")
    await tap(harness, "#1 Oolong tea · CN¥39.90")
    assert (await say(harness, "later")).startswith("I could not read later as a time.")
    # when Lee comes back to the group's conversation long after the last question
    harness.clock.advance(minutes=31)
    # then what he writes is conversation, not an answer, and the wizard is gone
    assert await harness.send(LEE, TEA, "see you all on Saturday") == []
    assert await harness.send(LEE, TEA, "24h") == []
    assert await groupbuys(harness) == []


async def test_confirm_checks_the_role_again(harness: Harness) -> None:
    await given_a_product(harness)
    # given Mia is made a leader and walks the wizard to its summary
    await harness.send(MIA, MIA, "/start")
    assert await say(harness, "/leader_add @mia", user=SAM) == (
        "Mia (1004) is now a leader of this group."
    )
    await say(harness, "/groupbuy", user=MIA)
    await tap(harness, "#1 Oolong tea · CN¥39.90", user=MIA)
    for answer in ("24h", "/skip", "/skip", "/skip", "/skip", "/skip", "/skip", "/skip"):
        await say(harness, answer, user=MIA)
    summary = harness.emulator.last_bot_message(TEA)
    # when staff remove her as leader before she confirms
    await harness.send(SAM, TEA, "/leader_remove @mia stepped down")
    # then Confirm is refused, audited, and opens nothing
    assert await harness.press(MIA, TEA, summary.message_id, index=0) == (
        "Sorry, only the leaders of this group can do that."
    )
    assert await groupbuys(harness) == []
    async with harness.session() as session:
        rows = (await session.execute(select(AuditEntry))).scalars().all()
    assert [(r.actor_id, r.allowed) for r in rows if r.action == "groupbuy.open"] == [
        (MIA, True),
        (MIA, False),
    ]


def test_a_draft_kept_before_drafts_were_typed_still_reads() -> None:
    # given a drop's FSM data as the untyped wizard kept it (a deploy while staff were
    # halfway): tiers as lists, group ids as text keys, the time asked as ISO text
    stored = {
        "wizard_trail": ["product", "deadline", "minimum", "stock", "limit", "tiers"],
        "scope": "drop",
        "product_id": 3,
        "title": "Oolong tea",
        "price": 3990,
        "currency": "CNY",
        "deadline": "24h",
        "min_kind": "people",
        "min_count": 2,
        "stock_cap": 20,
        "limit": 5,
        "tiers": [[10, 3590]],
        "pickup_point": "Gate 2",
        "pickup_time": "",
        "target": "groups:-100,-200",
        "target_menu": "",
        "chosen": [-100, -200],
        "group_pickups": {"-100": "Gate 3"},
        "fulfilment": "",
        "asked_at": "2026-12-06T18:00:00+00:00",
        "translations": {"zh": {"pickup_point": "二号门"}},
    }
    # when it is read as the typed draft
    draft = GroupBuyDraft.model_validate(stored)
    # then every answer keeps its meaning, under the same keys
    assert draft.tiers == [(10, 3590)]
    assert draft.group_pickups == {-100: "Gate 3"}
    assert draft.asked_at == datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
    assert (draft.scope, draft.deadline, draft.min_count) == ("drop", "24h", 2)
    assert set(stored) - {"wizard_trail"} <= set(draft.model_dump(mode="json"))
    # and saved again, it reads back the same
    assert GroupBuyDraft.model_validate(draft.model_dump(mode="json")) == draft
