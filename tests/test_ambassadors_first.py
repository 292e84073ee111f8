"""Trial ambassadors (体验官) in co-creation polls and the trial fixes of issue #25: a member
tagged after a good report votes first in a poll launched with first=ambassadors:2h (in
private, at once), the groups see nothing until the head start is over, then the poll is
posted there and the early vote counts in the result; without ambassadors the poll goes out at
once with a note to staff; bad input for the option; a report before the trial goods were
received is refused; the invitation's due time is on the brand's clock (Asia/Shanghai here)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.config import Settings
from bot.scheduler import PollCloser
from models.poll import Poll, PollBallot, PollPost
from models.trial import Trial, TrialInvite
from services.poll import get_poll, tally
from tests.conftest import COFFEE, LEE, MIA, SAM, TEA, Harness
from tests.test_poll_chat import last_text, say, tap, vote
from tests.test_trial import tea_and_staff

ZONE = "Asia/Shanghai"
WORDS = "Fragrant and smooth, a little too sweet for me; the tin is plain but sturdy."


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_timezone": ZONE})


async def accepted_trial(harness: Harness) -> None:
    """Mia ordered in Tea Lovers; staff invite her to trial #1 of Oolong tea; she accepts."""
    await tea_and_staff(harness)
    await harness.send(MIA, TEA, "/buy 1")
    harness.new_bot_messages(MIA)
    await harness.send(SAM, SAM, "/trial_new 1 places=1 due=3d invite=@mia aspects=taste")
    invitation = harness.new_bot_messages(MIA)[-1]
    await harness.press(MIA, MIA, invitation.message_id, index=0)


async def good_report(harness: Harness) -> None:
    """Mia rates the taste and writes enough words on time: a good report."""
    await harness.send(MIA, MIA, "/report")
    question = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, question.message_id, index=4)
    await harness.send(MIA, MIA, WORDS)
    done = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, done.message_id, index=0)


async def new_poll(harness: Harness, first: str = "first=ambassadors:2h") -> str:
    """Sam walks /poll_new with the head start and posts in every group; Sam's last reply."""
    assert (await say(harness, f"/poll_new {first}")).startswith("New co-creation poll.")
    await say(harness, "Which flavour next?")
    await say(harness, "Jasmine | Osmanthus | Lychee")
    await tap(harness, "One option")
    await tap(harness, "Not anonymous")
    await say(harness, "3d")
    await say(harness, "0")
    await tap(harness, "One member, one vote")
    await tap(harness, "All groups")
    summary = last_text(harness)
    if first:
        assert "Ambassadors vote first: the groups get it 2 h later" in summary
    await tap(harness, "✅ Post the poll")
    return last_text(harness)


def polls_sent_to(harness: Harness) -> list[int]:
    return [int(call["chat_id"]) for call in harness.emulator.calls_of("sendPoll")]


async def test_ambassadors_vote_first_and_the_groups_get_the_poll_two_hours_later(
    harness: Harness,
) -> None:
    # given Mia took a trial, picked it up and reported well: she is tagged an ambassador
    await accepted_trial(harness)
    await harness.send(LEE, TEA, "/pickedup @mia")
    await good_report(harness)
    async with harness.session() as session:
        invite = await session.get(TrialInvite, (1, MIA))
        assert invite is not None and invite.good
    # when staff launch a poll with first=ambassadors:2h
    harness.new_bot_messages(MIA)
    harness.new_bot_messages(TEA)
    reply = await new_poll(harness)
    assert reply.startswith("Poll #1: 1 trial ambassador votes first in private. The groups get ")
    # then Mia alone gets it in private at once, with a note saying when the groups get it
    assert polls_sent_to(harness) == [MIA]
    private = harness.new_bot_messages(MIA)
    assert [m.kind for m in private] == ["text", "poll"]
    async with harness.session() as session:
        poll = (await session.execute(select(Poll))).scalar_one()
        assert poll.first_until is not None
    local = poll.first_until.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M")
    assert (private[0].text or "").startswith("⭐ As one of our trial ambassadors (体验官)")
    assert f"reaches the groups at {local}." in (private[0].text or "")
    # and the groups see nothing; /polls tells staff when they get it
    assert harness.new_bot_messages(TEA) == []
    listed = await say(harness, "/polls")
    assert "ambassadors first, the groups get it " in listed and "0 groups" in listed, listed
    # when Mia votes for Osmanthus in her private copy
    async with harness.session() as session:
        early = (await session.execute(select(PollPost))).scalar_one()
        assert early.early and early.chat_id == MIA
    await vote(harness, MIA, early.telegram_poll_id, [1])
    # then after an hour the groups still see nothing (the job runs, nothing is due)
    harness.clock.advance(hours=1)
    assert await harness.runtime.polls.release_due() == 0
    assert harness.new_bot_messages(TEA) == [] and polls_sent_to(harness) == [MIA]
    # two hours after the launch the poll is posted in both groups, once, and staff are told;
    # the head start lives in the poll's row, so a closer built afresh (a restart) does it
    harness.clock.advance(hours=1)
    harness.new_bot_messages(SAM)
    runtime = harness.runtime
    restarted = PollCloser(
        sessions=runtime.sessions,
        bot=runtime.bot,
        i18n=runtime.i18n,
        settings=runtime.settings,
        clock=harness.clock,
        notifier=runtime.notifier,
    )
    assert await restarted.close_due() == 0  # released, not closed
    assert await harness.runtime.polls.release_due() == 0  # once
    assert sorted(polls_sent_to(harness)[1:]) == sorted([TEA, COFFEE])
    assert [m.kind for m in harness.new_bot_messages(TEA)] == ["poll"]
    assert harness.new_bot_messages(SAM)[-1].text == (
        "Poll #1: the ambassadors' head start is over; it is now posted in 2 groups."
    )
    # when Lee votes Jasmine in Tea Lovers, the poll counts both votes as one result
    async with harness.session() as session:
        tea = (await session.execute(select(PollPost).where(PollPost.chat_id == TEA))).scalar_one()
        assert not tea.early
    await vote(harness, LEE, tea.telegram_poll_id, [0])
    async with harness.session() as session:
        ballots = {
            b.member_id: b.options for b in (await session.execute(select(PollBallot))).scalars()
        }
        assert ballots == {MIA: 0b010, LEE: 0b001}
        view = await get_poll(session, 1)
        assert view is not None and sorted(view.chat_ids) == sorted([TEA, COFFEE])
        assert (await tally(session, view)).raw == (1, 1, 0)
    # and when it closes, the result in the groups holds the early vote
    harness.clock.advance(days=3)
    assert await harness.runtime.polls.close_due() == 1
    result = [m.text or "" for m in harness.new_bot_messages(TEA)]
    assert any("Voters: 2 in 2 groups, each counted once." in t for t in result), result
    assert any("Osmanthus: 1" in t for t in result), result


async def test_without_ambassadors_the_poll_goes_out_at_once_with_a_note(harness: Harness) -> None:
    # given nobody has reported well yet
    await tea_and_staff(harness)
    harness.new_bot_messages(SAM)
    # when staff launch a poll with first=ambassadors:2h
    await new_poll(harness)
    # then staff are told, and the groups get it at once
    told = [m.text or "" for m in harness.new_bot_messages(SAM)]
    assert "No trial ambassador is tagged yet (a good report makes one): posted at once." in told
    assert told[-1].startswith("Poll #1 posted in 2 groups")
    assert sorted(polls_sent_to(harness)) == sorted([TEA, COFFEE])
    async with harness.session() as session:
        poll = (await session.execute(select(Poll))).scalar_one()
        assert poll.first_until is None and poll.held_chats == []


async def test_bad_head_start_gets_a_clear_message(harness: Harness) -> None:
    await tea_and_staff(harness)
    for bad in ("first=ambassadors:abc", "first=everyone:2h", "first=ambassadors:1m", "2h"):
        reply = await say(harness, f"/poll_new {bad}")
        assert reply.startswith("To let the trial ambassadors (good reporters) vote first"), reply
        assert "I could not read" in reply
    # a long paste is quoted cut short, so that the answer still fits in one message
    reply = await say(harness, "/poll_new " + "x" * 5000)
    assert reply.startswith("To let the trial ambassadors (good reporters) vote first"), reply
    assert "x" * 50 + "…" in reply and len(reply) < 1000
    # the Chinese spelling is read too
    assert (await say(harness, "/poll_new 先投=体验官:2小时")).startswith("New co-creation poll.")
    assert (await say(harness, "/poll_new 先投＝体验官：2小时")).startswith("New co-creation poll.")


async def test_a_report_before_the_goods_were_received_is_refused(harness: Harness) -> None:
    # given Mia accepted the trial but has not picked her order up
    await accepted_trial(harness)
    # when she starts her report, then she is told to pick it up first, and nothing is stored
    assert await harness.send(MIA, MIA, "/report") == [
        "Please pick up your free trial order #2 first (a delivery counts once it is shipped): "
        "the report comes after you have tried the product. See /orders."
    ]
    async with harness.session() as session:
        invite = await session.get(TrialInvite, (1, MIA))
        assert invite is not None and invite.reported_at is None and invite.ratings is None
    # and once Lee marks it picked up, the report goes ahead
    await harness.send(LEE, TEA, "/pickedup @mia")
    await harness.send(MIA, MIA, "/report")
    assert harness.emulator.last_bot_message(MIA).text == "How do you rate its taste? (1 of 1)"


async def test_the_invitation_shows_the_due_time_on_the_brands_clock(harness: Harness) -> None:
    # given the brand's zone is Asia/Shanghai (UTC+8)
    await tea_and_staff(harness)
    harness.new_bot_messages(MIA)
    await harness.send(SAM, SAM, "/trial_new 1 places=1 due=3d invite=@mia aspects=taste")
    invitation = harness.new_bot_messages(MIA)[-1].text or ""
    async with harness.session() as session:
        invite = await session.get(TrialInvite, (1, MIA))
        assert invite is not None
        trial = await session.get(Trial, 1)
        assert trial is not None
    local = trial.due_at.astimezone(ZoneInfo(ZONE)).strftime("%m-%d %H:%M")
    utc = trial.due_at.strftime("%m-%d %H:%M")
    assert f"by {local} Asia/Shanghai you send a short report" in invitation, invitation
    assert utc not in invitation
