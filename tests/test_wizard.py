"""Every wizard's steps behave alike: ⬅️ Back (not on the first step) asks the previous question
again, ⏭ Skip is offered on optional steps only and takes the default, ✖️ Cancel (or /cancel)
at any step says so and leaves nothing in the store; the same labels and the same callback
data in every wizard, in English and 简体中文."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from pydantic import ValidationError
from sqlmodel import SQLModel, func, select

from handlers.views.wizard import Draft, read_draft, save_draft
from models.broadcast import Broadcast
from models.groupbuy import GroupBuy
from models.nps import NpsSurvey
from models.poll import Poll
from models.product import Product
from models.suggestion import Suggestion
from tests.conftest import LEE, MIA, OWNER, SAM, TEA, Harness

BACK, SKIP, CANCEL = "⬅️ Back", "⏭ Skip", "✖️ Cancel"
TRANSLATE = "🌐 Add a translation"  # the last look of a wizard whose content has languages
CANCELLED = "Cancelled. Nothing was changed."
HINT = "I didn't understand that. Here is what I can do:"


def last(harness: Harness, chat: int) -> tuple[str, list[str]]:
    message = harness.emulator.last_bot_message(chat)
    return message.text or "", list(message.button_texts)


async def tap(harness: Harness, label: str, *, user: int = SAM, chat: int = SAM) -> str | None:
    message = harness.emulator.last_bot_message(chat)
    assert label in message.button_texts, (label, message.button_texts)
    return await harness.press(
        user, chat, message.message_id, index=message.button_texts.index(label)
    )


async def say(harness: Harness, text: str, *, user: int = SAM, chat: int = SAM) -> list[str]:
    return await harness.send(user, chat, text)


async def rows(harness: Harness, table: type[SQLModel]) -> int:
    async with harness.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def given_staff(harness: Harness, user: int = SAM) -> None:
    await harness.join_groups()
    await harness.send(user, user, "/start")
    handle = {SAM: "@sam", LEE: "@lee"}[user]
    await harness.send(OWNER, OWNER, f"/grant_staff {handle}")


async def test_product_wizard_back_skip_and_cancel(harness: Harness) -> None:
    await given_staff(harness)
    # the first step has no Back and nothing to skip
    await say(harness, "/product_new")
    assert last(harness, SAM) == (
        "New product. What is its title? (/cancel to stop)",
        [CANCEL],
    )
    await say(harness, "Tea")
    text, buttons = last(harness, SAM)
    assert text.startswith("A short description?") and buttons == [BACK, SKIP, CANCEL]
    # Back asks the title again; the new answer replaces the old one
    await tap(harness, BACK)
    assert last(harness, SAM) == ("New product. What is its title? (/cancel to stop)", [CANCEL])
    await say(harness, "Green tea")
    await tap(harness, SKIP)  # no description
    text, buttons = last(harness, SAM)
    assert text.startswith("Send a photo of it.") and buttons == [BACK, SKIP, CANCEL]
    await tap(harness, SKIP)  # no photo
    # the price is required: Back and Cancel, no Skip
    assert last(harness, SAM) == (
        "The price and currency, for example 35.90 CNY (XTR for Stars).",
        [BACK, CANCEL],
    )
    # a tapped question loses its buttons; an earlier question's Back (same data in every
    # wizard: wz:<wizard>:<action>:<step>) is refused with a toast
    earlier = harness.emulator.bot_messages(SAM)[-3]
    assert earlier.text.startswith("A short description?") and earlier.button_texts == []
    data = "wz:NewProduct:back:description"
    assert await harness.press(SAM, SAM, earlier.message_id, callback_data=data, force=True) == (
        "That button is from an earlier step."
    )
    await say(harness, "9.90 CNY")
    await say(harness, "/skip")  # the stock: typed /skip is the same as the button
    text, buttons = last(harness, SAM)
    assert text == "How do members pay?"
    assert buttons == ["Pay the leader offline", "Telegram invoice", BACK, CANCEL]
    await tap(harness, "Pay the leader offline")
    text, buttons = last(harness, SAM)
    assert text.splitlines()[0] == "Green tea" and "Stock: no limit" in text
    assert buttons == ["✅ Create", "🧩 Variants", TRANSLATE, BACK, CANCEL]
    # Back from the summary asks how members pay again
    await tap(harness, BACK)
    assert last(harness, SAM)[0] == "How do members pay?"
    await tap(harness, "Pay the leader offline")
    await tap(harness, "✅ Create")
    async with harness.session() as session:
        product = (await session.execute(select(Product))).scalar_one()
    assert (product.title, product.description, product.photo_file_id, product.stock) == (
        "Green tea",
        "",
        None,
        None,
    )


async def test_product_wizard_cancel_at_every_step_stores_nothing(harness: Harness) -> None:
    await given_staff(harness)
    answers = ["Tea", "Fresh", "/skip", "9.90 CNY", "5"]
    for step in range(len(answers) + 1):
        await say(harness, "/product_new")
        for answer in answers[:step]:
            await say(harness, answer)
        if step == len(answers):
            await tap(harness, "Pay the leader offline")  # to the summary
        # when Sam taps Cancel under the question
        assert CANCEL in last(harness, SAM)[1]
        await tap(harness, CANCEL)
        # then he is told, the question loses its buttons, and his text is no answer
        assert last(harness, SAM)[0] == CANCELLED
        assert harness.emulator.bot_messages(SAM)[-2].button_texts == []
        assert await say(harness, "Oolong") == [HINT]
    assert await rows(harness, Product) == 0


async def test_zh_the_step_buttons_and_cancel_speak_chinese(harness: Harness) -> None:
    await given_staff(harness, LEE)
    await say(harness, "/product_new", user=LEE, chat=LEE)
    assert last(harness, LEE)[1] == ["✖️ 取消"]
    await say(harness, "乌龙茶", user=LEE, chat=LEE)
    assert last(harness, LEE)[1] == ["⬅️ 返回", "⏭ 跳过", "✖️ 取消"]
    await tap(harness, "⬅️ 返回", user=LEE, chat=LEE)
    assert last(harness, LEE)[0].startswith("新商品。")
    await tap(harness, "✖️ 取消", user=LEE, chat=LEE)
    assert last(harness, LEE)[0] == "已取消，没有任何改动。"
    assert await rows(harness, Product) == 0


async def test_group_buy_wizard_back_and_skip_follow_the_steps(harness: Harness) -> None:
    await given_staff(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 20")
    await say(harness, "/groupbuy", user=LEE, chat=TEA)
    assert last(harness, TEA)[1] == ["#1 Oolong tea · CN¥39.90", CANCEL]
    await tap(harness, "#1 Oolong tea · CN¥39.90", user=LEE, chat=TEA)
    # the deadline is required: Back and Cancel
    text, buttons = last(harness, TEA)
    assert text.startswith("When does it close?") and buttons == [BACK, CANCEL]
    await tap(harness, BACK, user=LEE, chat=TEA)
    assert "Which product?" in last(harness, TEA)[0]
    await tap(harness, "#1 Oolong tea · CN¥39.90", user=LEE, chat=TEA)
    await say(harness, "24h", user=LEE, chat=TEA)
    text, buttons = last(harness, TEA)
    assert text.startswith("How many are needed") and buttons == [BACK, SKIP, CANCEL]
    await say(harness, "3", user=LEE, chat=TEA)
    await tap(harness, BACK, user=LEE, chat=TEA)  # the minimum again
    assert last(harness, TEA)[0].startswith("How many are needed")
    for _step in range(7):  # the minimum, stock, limit, tiers, pickup place and time, delivery
        await tap(harness, SKIP, user=LEE, chat=TEA)
    text, buttons = last(harness, TEA)
    assert "Minimum to form: 2 people" in text and buttons == ["✅ Confirm", BACK, CANCEL]
    await tap(harness, BACK, user=LEE, chat=TEA)
    assert last(harness, TEA)[0].startswith("How do its orders reach members?")
    # Cancel from the last question: nothing opened
    await tap(harness, CANCEL, user=LEE, chat=TEA)
    assert last(harness, TEA)[0] == CANCELLED
    assert await rows(harness, GroupBuy) == 0


async def walk_poll_to_closing(harness: Harness, *, anonymous: bool) -> None:
    await say(harness, "/poll_new")
    assert last(harness, SAM)[1] == [CANCEL]
    await say(harness, "Which flavour next?")
    await say(harness, "Jasmine | Osmanthus")
    await tap(harness, "One option")
    await tap(harness, "Anonymous" if anonymous else "Not anonymous")
    await say(harness, "3d")


async def test_poll_wizard_back_follows_the_steps_really_asked(harness: Harness) -> None:
    await given_staff(harness)
    # a poll with points: Skip gives none, Back returns to the question before
    await walk_poll_to_closing(harness, anonymous=False)
    text, buttons = last(harness, SAM)
    assert text.startswith("How many points does each voter get") and buttons == [
        BACK,
        SKIP,
        CANCEL,
    ]
    await tap(harness, BACK)
    assert last(harness, SAM)[0].startswith("When does it close?")
    await say(harness, "3d")
    await tap(harness, SKIP)
    text, buttons = last(harness, SAM)
    assert text.startswith("Also count a result weighted by membership tier?")
    assert buttons == ["Weigh by tier", "One member, one vote", BACK, CANCEL]
    await tap(harness, "One member, one vote")
    await tap(harness, "All groups")
    text, buttons = last(harness, SAM)
    assert "Points per voter: 0" in text and buttons == ["✅ Post the poll", BACK, CANCEL]
    await tap(harness, CANCEL)
    assert last(harness, SAM)[0] == CANCELLED
    # an anonymous poll never asked for points: Back from the groups returns to the closing
    await walk_poll_to_closing(harness, anonymous=True)
    assert last(harness, SAM)[0] == "Which groups get the poll?"
    await tap(harness, BACK)
    assert last(harness, SAM)[0].startswith("When does it close?")
    await say(harness, "/cancel")
    assert last(harness, SAM)[0] == CANCELLED
    assert await rows(harness, Poll) == 0


async def test_broadcast_wizard_back_skip_and_cancel(harness: Harness) -> None:
    await given_staff(harness)
    await say(harness, "/broadcast")
    assert last(harness, SAM)[1] == [CANCEL]
    await say(harness, "New oolong, until Sunday")
    text, buttons = last(harness, SAM)
    assert text.startswith("Above is how it will look.") and buttons == [BACK, SKIP, CANCEL]
    await tap(harness, SKIP)  # no photo
    assert last(harness, SAM)[0].startswith("A button under it?")
    await tap(harness, BACK)
    assert last(harness, SAM)[0].startswith("Above is how it will look.")
    await tap(harness, SKIP)
    await tap(harness, SKIP)  # no button
    text, buttons = last(harness, SAM)
    assert text == "Who gets it?" and buttons[-2:] == [BACK, CANCEL] and SKIP not in buttons
    await tap(harness, "All groups")
    text, buttons = last(harness, SAM)
    assert text.startswith("When? Tap Now") and buttons == ["Now", BACK, CANCEL]
    await tap(harness, "Now")
    assert last(harness, SAM)[1] == [
        "✅ Confirm",
        "📚 Send as content (not counted)",
        TRANSLATE,
        BACK,
        CANCEL,
    ]
    await tap(harness, BACK)
    assert last(harness, SAM)[0].startswith("When? Tap Now")
    await tap(harness, CANCEL)
    assert last(harness, SAM)[0] == CANCELLED
    assert await rows(harness, Broadcast) == 0


async def test_the_one_step_follow_ups_skip_and_cancel_alike(harness: Harness) -> None:
    await given_staff(harness)
    # given Mia rates us and is asked for a comment: optional, the first step (no Back)
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, MIA, "/nps_me")
    question = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, question.message_id, index=9)
    text, buttons = last(harness, MIA)
    assert text.startswith("Anything you would like to tell us?") and buttons == [SKIP, CANCEL]
    await tap(harness, CANCEL, user=MIA, chat=MIA)
    assert last(harness, MIA)[0] == CANCELLED
    assert await say(harness, "Lovely tea", user=MIA, chat=MIA) == [HINT]
    async with harness.session() as session:
        survey = (await session.execute(select(NpsSurvey))).scalar_one()
    assert (survey.score, survey.comment) == (9, "")
    # given staff decide a suggestion: the reply is optional
    await harness.send(MIA, MIA, "/suggest Smaller tins")
    await harness.send(SAM, SAM, "/suggestions")
    card = harness.emulator.last_bot_message(SAM)
    await harness.press(SAM, SAM, card.message_id, index=1)  # Decline
    text, buttons = last(harness, SAM)
    assert text.startswith("Write a short reply") and buttons == [SKIP, CANCEL]
    await tap(harness, CANCEL)
    assert last(harness, SAM)[0] == CANCELLED
    assert await suggestion_status(harness) == "new"
    await harness.press(SAM, SAM, card.message_id, index=1)
    await tap(harness, SKIP)
    assert last(harness, SAM)[0] == "Suggestion #1 declined. The author was told."
    assert await suggestion_status(harness) == "declined"


async def suggestion_status(harness: Harness) -> Any:
    async with harness.session() as session:
        return (await session.execute(select(Suggestion))).scalar_one().status


class _Sample(Draft):
    title: str | None = None
    units: int = 0
    closes_at: datetime | None = None


async def test_a_draft_is_kept_typed_beside_the_trail_and_a_broken_one_starts_again() -> None:
    storage = MemoryStorage()
    state = FSMContext(storage, StorageKey(bot_id=1, chat_id=MIA, user_id=MIA))
    await state.update_data({"wizard_trail": ["title"]})
    # a draft saved between steps reads back with its types (a time survives its JSON form)
    when = datetime(2026, 12, 24, 18, 0, tzinfo=UTC)
    await save_draft(state, _Sample(title="Oolong <b>tea</b>", units=3, closes_at=when))
    draft = await read_draft(state, _Sample)
    assert draft == _Sample(title="Oolong <b>tea</b>", units=3, closes_at=when)
    assert (await state.get_data())["wizard_trail"] == ["title"]  # the way back stays
    # an assignment is checked when it is made
    with pytest.raises(ValidationError):
        draft.units = "many"  # type: ignore[assignment]
    # a draft that no longer reads (a field changed type while someone was halfway) is empty
    await state.update_data({"units": "three"})
    assert await read_draft(state, _Sample) == _Sample()
