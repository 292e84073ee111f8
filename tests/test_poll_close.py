"""Closing a poll stops its copies on Telegram before the store calls it closed.

Regression: the close used to be committed first, so a closer that died before stopping the
copies left them open on Telegram for good, the counts they reported refused, and no result
ever posted (the sweep only closes open polls)."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import StopPoll
from sqlmodel import select

from models.poll import Poll, PollPost
from tests.conftest import COFFEE, LEE, MIA, TEA, Harness
from tests.test_poll_chat import MATCHA, create_poll, given_staff, poll_ids, vote


class Killed(BaseException):
    """The process dies (kill -9) right after Telegram answered."""


async def test_a_closer_killed_after_stopping_a_copy_is_finished_by_the_sweep_with_every_vote(
    harness: Harness,
) -> None:
    await given_staff(harness)
    poll = await create_poll(harness, anonymous=True)
    assert poll.id is not None
    copies = await poll_ids(harness, poll.id)
    await vote(harness, MIA, copies[TEA], [2])
    # given Telegram counted one more vote whose update the bot has not handled yet
    harness.emulator.answer_poll(LEE, copies[TEA], [2])

    # and the process dies as soon as Telegram stopped the first copy
    async def die_after_stop(make_request: Any, bot: Bot, method: Any) -> Any:
        response = await make_request(bot, method)
        if isinstance(method, StopPoll):
            raise Killed
        return response

    harness.runtime.bot.session.middleware(die_after_stop)
    harness.clock.advance(days=3, seconds=1)
    with pytest.raises(Killed):
        await harness.runtime.polls.close_due()
    harness.runtime.bot.session.middleware.unregister(die_after_stop)
    # then the store still has the poll open, so what Telegram reports is still taken
    async with harness.session() as session:
        row = await session.get(Poll, poll.id)
        assert row is not None and row.status == "open"

    # when the bot is back: it handles the pending update, and the sweep closes the poll
    await harness.feed_pending()
    assert await harness.runtime.polls.close_due() == 1
    assert await harness.runtime.polls.close_due() == 0
    # then every copy is stopped on Telegram and in the store
    assert all(harness.emulator.poll(copy)["is_closed"] for copy in copies.values())
    async with harness.session() as session:
        posts = (await session.execute(select(PollPost))).scalars().all()
        assert sorted(p.chat_id for p in posts if p.stopped) == sorted([TEA, COFFEE, MATCHA])
    # and each group got the result once, with both votes
    for chat in (TEA, COFFEE, MATCHA):
        results = [m for m in harness.emulator.bot_messages(chat) if m.kind == "photo"]
        assert len(results) == 1, chat
    tea = harness.emulator.bot_messages(TEA)[-1].text or ""
    assert "🏆 3. Lychee: 2 (100%)" in tea and "Votes: 2 in 3 groups." in tea
