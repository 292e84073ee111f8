"""The advertising-law lint on every brand text, and the ad label and refusal on every private
promotion (#24): absolute claims (最好, 第一, 国家级) are caught in a product title, a poll
question and a care message, in wizards and one-line commands alike, and go out only with a
logged reason; every promotion in private names the brand and carries 🔕 Stop promotions,
which stops the next ones; the referral share text says the sender may be rewarded."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from models.audit import AuditEntry
from models.care import CareRule
from models.poll import Poll
from models.product import Product
from services import broadcast as outbox
from tests.conftest import KAI, MIA, OWNER, SAM, TEA, Harness
from tests.test_broadcast_outbox import MORNING

SEND_ANYWAY = "⚠️ Send anyway"
RECORDED = "the reason is logged."
YES_ZH_HANT = "✅ 好的，給我發優惠"


async def tap(harness: Harness, label: str, *, user: int = SAM, chat: int = SAM) -> str | None:
    last = harness.emulator.last_bot_message(chat)
    assert label in last.button_texts, (label, last.button_texts)
    return await harness.press(user, chat, last.message_id, index=last.button_texts.index(label))


def last(harness: Harness, chat: int = SAM) -> tuple[str, list[str]]:
    message = harness.emulator.last_bot_message(chat)
    return message.text or message.caption or "", message.button_texts


async def setup(harness: Harness) -> None:
    harness.clock.now = MORNING  # daytime: quiet hours hold nothing back
    await harness.join_groups()
    for uid in (SAM, MIA, KAI):
        await harness.send(uid, uid, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def opt_in(harness: Harness, member: int, offers: str, yes: str) -> None:
    await tap(harness, offers, user=member, chat=member)
    await tap(harness, yes, user=member, chat=member)


async def overrides(harness: Harness) -> list[tuple[str, str]]:
    async with harness.session() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.detail)
            .where(col(AuditEntry.action).endswith(".override"))
            .order_by(col(AuditEntry.id))
        )
        return [(action, detail) for action, detail in rows.all()]


async def count(harness: Harness, model: type) -> int:
    async with harness.session() as session:
        return len((await session.execute(select(model))).all())


async def test_an_absolute_claim_in_a_product_title_is_caught_in_the_wizard(
    harness: Harness,
) -> None:
    await setup(harness)
    # given Sam creates a product whose title claims to be the best (最好) and national-grade
    await harness.send(SAM, SAM, "/product_new")
    await harness.send(SAM, SAM, "最好的国家级乌龙茶")
    await tap(harness, "⏭ Skip")  # no description
    await tap(harness, "⏭ Skip")  # no photo
    await harness.send(SAM, SAM, "35.90 CNY")
    await tap(harness, "⏭ Skip")  # no stock limit
    await tap(harness, "Pay the leader offline")
    # then the last look shows the findings, marked in the text, and no Create but Send anyway
    text, buttons = last(harness)
    assert "⚠️ Compliance findings:" in text
    assert "Absolute claims that advertising law forbids: 最, 国家级" in text
    assert buttons[0] == SEND_ANYWAY and "✅ Create" not in buttons
    # and a reason too short is refused; a real one brings ✅ Create, and the reason is audited
    await tap(harness, SEND_ANYWAY)
    assert last(harness)[0] == "Why may it go out as it is? The reason is logged."
    await harness.send(SAM, SAM, "ok")
    assert last(harness)[0] == "Give a reason of at least 5 characters, or /cancel."
    assert await count(harness, Product) == 0
    await harness.send(SAM, SAM, "national award certificate 2026")
    assert "✅ Create" in last(harness)[1]
    await tap(harness, "✅ Create")
    assert last(harness)[0].startswith("Product #1 created")
    assert await overrides(harness) == [
        ("product.create.override", "#1 findings=最,国家级 reason=national award certificate 2026")
    ]


async def test_one_line_commands_answer_the_findings_and_go_ahead_only_with_a_reason(
    harness: Harness,
) -> None:
    await setup(harness)
    # /product_add with 第一 in the title stores nothing and says how to go ahead
    replies = await harness.send(SAM, SAM, "/product_add 第一名茶 | 35.90 CNY")
    assert "Absolute claims that advertising law forbids: 第一" in replies[0]
    assert "!!anyway" in replies[0] and RECORDED in replies[0]
    assert await count(harness, Product) == 0
    replies = await harness.send(
        SAM, SAM, "/product_add 第一名茶 | 35.90 CNY !!anyway it is the brand name"
    )
    assert replies[0].startswith("Product #1 created")
    # a clean title needs nothing
    replies = await harness.send(SAM, SAM, "/product_add Oolong | 35.90 CNY")
    assert replies[0].startswith("Product #2 created")
    # a care message is linted the same way
    replies = await harness.send(SAM, SAM, "/care_add new | 最好的茶送给你")
    assert "Absolute claims that advertising law forbids: 最" in replies[0]
    assert await count(harness, CareRule) == 0
    replies = await harness.send(SAM, SAM, "/care_add new | 最好的茶送给你 !!anyway x")
    assert replies == ["Give a reason of at least 5 characters, or /cancel."]
    replies = await harness.send(
        SAM, SAM, "/care_add new | 最好的茶送给你 !!anyway quoted from a customer review"
    )
    assert replies == ["Care rule #1 added: members entering new get it once."]
    # and so are reward titles
    replies = await harness.send(SAM, SAM, "/reward_add The best tea cup | 500 | 20")
    assert "Absolute claims that advertising law forbids: best" in replies[0]
    assert [action for action, _detail in await overrides(harness)] == [
        "product.create.override",
        "care.add.override",
    ]


async def test_an_absolute_claim_in_a_poll_question_is_caught_in_the_wizard(
    harness: Harness,
) -> None:
    await setup(harness)
    await harness.send(SAM, SAM, "/poll_new")
    await harness.send(SAM, SAM, "哪款是第一好茶？")
    await harness.send(SAM, SAM, "Jasmine | Osmanthus")
    await tap(harness, "One option")
    await tap(harness, "Not anonymous")
    await harness.send(SAM, SAM, "3d")
    await harness.send(SAM, SAM, "0")
    await tap(harness, "One member, one vote")
    await tap(harness, "All groups")
    text, buttons = last(harness)
    assert "Absolute claims that advertising law forbids: 第一" in text
    assert buttons[0] == SEND_ANYWAY and "✅ Post the poll" not in buttons
    await tap(harness, SEND_ANYWAY)
    await harness.send(SAM, SAM, "the members asked for this wording")
    await tap(harness, "✅ Post the poll")
    assert last(harness)[0].startswith("Poll #1 posted")
    assert await count(harness, Poll) == 1
    assert [action for action, _detail in await overrides(harness)] == ["poll.create.override"]


async def test_a_clean_poll_posts_without_findings(harness: Harness) -> None:
    await setup(harness)
    await harness.send(SAM, SAM, "/poll_new")
    await harness.send(SAM, SAM, "Which flavour next?")
    await harness.send(SAM, SAM, "Jasmine | Osmanthus")
    await tap(harness, "One option")
    await tap(harness, "Anonymous")
    await harness.send(SAM, SAM, "3d")
    await tap(harness, "All groups")
    text, buttons = last(harness)
    assert "Compliance findings" not in text and buttons[0] == "✅ Post the poll"


async def test_every_private_promotion_is_labelled_and_stop_promotions_stops_them(
    harness: Harness,
) -> None:
    await setup(harness)
    await opt_in(harness, MIA, "🔔 Offers", "✅ Yes, send me offers")
    await opt_in(harness, KAI, "🔔 優惠", YES_ZH_HANT)
    # given a broadcast to everyone and a care message for new members
    await harness.send(SAM, SAM, "/care_add new | Welcome, a gift is waiting in /rewards")
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, "<b>New oolong</b> 39.90 CNY, until Sunday 20:00")
    await tap(harness, "⏭ Skip")  # no photo
    await tap(harness, "⏭ Skip")  # no button
    await tap(harness, "Everyone: groups and members")
    await tap(harness, "Now")
    await tap(harness, "✅ Confirm")
    await harness.runtime.care.run()
    await harness.runtime.broadcasts.pump()
    harness.clock.advance(hours=5)  # the pacing gap between two promotions to one member
    await harness.runtime.broadcasts.pump()
    # then each promotion in private names the brand and carries 🔕 Stop promotions, in the
    # member's language (Kai reads Traditional Chinese)
    for member, label, stop in (
        (MIA, "📢 Promotion from Community Shop\n", "🔕 Stop promotions"),
        (KAI, "📢 推廣訊息 · 來自Community Shop\n", "🔕 不再接收推廣"),
    ):
        promotions = [
            m
            for m in harness.emulator.bot_messages(member)
            if "New oolong" in (m.text or "") or "Welcome, a gift" in (m.text or "")
        ]
        assert len(promotions) == 2, member
        for message in promotions:
            assert (message.text or "").startswith(label)
            assert message.button_texts == [stop]
    # in a group the post is not a private promotion: no label, no button
    group = [m for m in harness.emulator.bot_messages(TEA) if "New oolong" in (m.text or "")]
    assert len(group) == 1 and not (group[0].text or "").startswith("📢")
    assert group[0].button_texts == []
    # when Mia taps 🔔 Stop promotions under the broadcast
    await tap(harness, "🔕 Stop promotions", user=MIA, chat=MIA)
    assert last(harness, MIA)[0].startswith("Done: no more offers from us in this chat.")
    async with harness.session() as session:
        assert not await outbox.is_opted_in(session, member_id=MIA)
        assert await outbox.is_opted_in(session, member_id=KAI)
    # then the next broadcast (next week: the weekly cap is used) reaches Kai but not Mia
    harness.clock.advance(days=7)
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, "Jasmine 29.90 CNY, until Friday")
    await tap(harness, "⏭ Skip")
    await tap(harness, "⏭ Skip")
    await tap(harness, "Members who opted in")
    await tap(harness, "Now")
    await tap(harness, "✅ Confirm")
    await harness.runtime.broadcasts.pump()
    assert not any("Jasmine" in (m.text or "") for m in harness.emulator.bot_messages(MIA))
    assert any("Jasmine" in (m.text or "") for m in harness.emulator.bot_messages(KAI))


async def test_the_referral_share_text_discloses_the_reward(harness: Harness) -> None:
    await setup(harness)
    replies = await harness.send(MIA, MIA, "/invite")
    assert "Disclosure: Mia may be rewarded when you join and order." in replies[1]
    replies = await harness.send(KAI, KAI, "/invite")
    assert "說明：你加入並下單後，Kai可能獲得獎勵。" in replies[1]


async def test_a_drops_pickup_note_is_linted_too(harness: Harness) -> None:
    await setup(harness)
    await harness.send(SAM, SAM, "/product_add Oolong | 35.90 CNY")
    # a pickup note with 第一 (here a canteen's name) is a finding like any other
    replies = await harness.send(SAM, SAM, "/drop 1 24h pickup=第一食堂")
    assert "Absolute claims that advertising law forbids: 第一" in replies[0]
    assert not any("Oolong" in (m.text or "") for m in harness.emulator.bot_messages(TEA))
    replies = await harness.send(
        SAM, SAM, "/drop 1 24h pickup=第一食堂 !!anyway the canteen's name"
    )
    assert replies[-1].startswith("Group-buy #1 posted in")
    assert [action for action, _detail in await overrides(harness)] == ["groupbuy.open.override"]
