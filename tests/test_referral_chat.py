"""Referrals as members and staff live them in chat: deep links attribute newcomers once,
refusals are recorded, only paying friends earn rewards, commission climbs two levels and is
released after the refund window, bursts wait for staff, and staff read the program's figures."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from PIL import Image
from sqlmodel import select

from handlers.referral_admin import stats_chart
from handlers.views.qrcode import qr_png
from models.audit import AuditEntry
from models.ledger import ACCOUNT_MEMBER_COMMISSION, ACCOUNT_MEMBER_COMMISSION_PENDING
from models.referral import Referral, ReferralAttempt
from services.ledger import AccountRef, balance, reconcile
from services.points import points_balance
from services.referral import StatsRow
from tests.conftest import LEE, MIA, OWNER, SAM, TEA, Harness

# newcomers, created in the emulator by the tests that need them
ANA, BEN, CAL, DOT, EVE, FAY = 2001, 2002, 2003, 2004, 2005, 2006
NAMES = {ANA: "Ana", BEN: "Ben", CAL: "Cal", DOT: "Dot", EVE: "Eve", FAY: "Fay"}


def newcomer(harness: Harness, user_id: int) -> None:
    name = NAMES[user_id]
    harness.emulator.add_user(user_id, name, username=name.lower(), language_code="en")


async def make_staff(harness: Harness) -> None:
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def code_of(harness: Harness, user_id: int) -> str:
    """The member's code, as /invite shows it."""
    replies = await harness.send(user_id, user_id, "/invite")
    match = re.search(r"\?start=([\w-]+)", replies[0])
    assert match is not None, replies
    return match.group(1)


async def points_of(harness: Harness, member_id: int) -> int:
    async with harness.session() as session:
        return await points_balance(session, member_id)


async def commission_of(harness: Harness, member_id: int) -> tuple[int, int]:
    """(pending, available) referral commission in CNY minor units."""
    async with harness.session() as session:
        pending = await balance(
            session, AccountRef(ACCOUNT_MEMBER_COMMISSION_PENDING, member_id), "CNY"
        )
        available = await balance(session, AccountRef(ACCOUNT_MEMBER_COMMISSION, member_id), "CNY")
    return pending, available


async def referral_of(harness: Harness, invitee: int) -> Referral | None:
    async with harness.session() as session:
        return await session.get(Referral, invitee)


async def buy_and_pay(harness: Harness, buyer: int, quantity: int = 1) -> int:
    """The buyer orders in Tea Lovers and Lee marks it paid; returns the order id."""
    replies = await harness.send(buyer, TEA, f"/buy 1 {quantity}")
    match = re.search(r"#(\d+)", " ".join(replies))
    assert match is not None, replies
    username = NAMES[buyer].lower() if buyer in NAMES else "mia"
    assert (await harness.send(LEE, TEA, f"/paid @{username}"))[0].startswith("Marked paid")
    return int(match.group(1))


async def shop(harness: Harness) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 100 CNY | stock 100")


async def test_invite_shows_a_link_an_invitation_and_a_qr_code(harness: Harness) -> None:
    # when Mia asks for her invitation
    await harness.send(MIA, MIA, "/start")
    replies = await harness.send(MIA, MIA, "/invite")
    code = re.search(r"Your code: (\w+)", replies[0])
    assert code is not None
    link = f"https://t.me/community_bot?start={code.group(1)}"
    # then she gets her link, a text to forward, and a QR code of the link
    assert link in replies[0]
    assert re.fullmatch(r"[a-z0-9]{8}", code.group(1))
    assert replies[1] == (
        "Mia invites you to our member community: join group-buys with one tap, vote on new "
        f"products and collect points. Start here: {link}\n"
        "Disclosure: Mia may be rewarded when you join and order."
    )
    photo = harness.emulator.last_bot_message(MIA)
    assert photo.raw.get("photo") and photo.raw["caption"] == f"Scan to join: {link}"
    # the image is the QR code of exactly that link (segno draws the same code every time)
    assert harness.emulator.file_bytes(photo.raw["photo"][-1]["file_id"]) == qr_png(link)
    # the same code every time
    assert f"start={code.group(1)}" in (await harness.send(MIA, MIA, "/invite"))[0]
    # in a member's language
    await harness.send(LEE, LEE, "/start")
    assert (await harness.send(LEE, LEE, "/invite"))[1].startswith("Lee邀请你加入")


async def test_a_deep_link_start_attributes_a_newcomer_once(harness: Harness) -> None:
    await harness.send(MIA, MIA, "/start")
    code = await code_of(harness, MIA)
    newcomer(harness, ANA)
    # when Ana opens Mia's link (codes are case-insensitive)
    replies = await harness.send(ANA, ANA, f"/start {code.upper()}")
    # then she gets the normal welcome, and learns who invited her
    assert replies[0].startswith("Hi Ana!")
    assert replies[1] == "You joined through Mia's invitation."
    referral = await referral_of(harness, ANA)
    assert referral is not None and (referral.referrer_id, referral.status) == (MIA, "pending")
    # and no reward on join
    assert await points_of(harness, MIA) == 0
    # a second link later changes nothing
    await harness.send(LEE, LEE, "/start")
    lee_code = await code_of(harness, LEE)
    replies = await harness.send(ANA, ANA, f"/start {lee_code}")
    assert replies[1].startswith("Invitation links are for people new to the community")
    referral = await referral_of(harness, ANA)
    assert referral is not None and referral.referrer_id == MIA


async def test_self_cycle_late_and_bad_codes_are_refused_and_recorded(harness: Harness) -> None:
    await harness.send(MIA, MIA, "/start")
    mia = await code_of(harness, MIA)
    # her own link
    assert (await harness.send(MIA, MIA, f"/start {mia}"))[1] == (
        "That is your own invitation link. Send /invite to share it with friends."
    )
    # Ana joins through Mia; Mia then tries Ana's link: a cycle
    newcomer(harness, ANA)
    await harness.send(ANA, ANA, f"/start {mia}")
    ana = await code_of(harness, ANA)
    replies = await harness.send(MIA, MIA, f"/start {ana}")
    assert replies[0].startswith("Hi Mia!")
    assert replies[1].startswith("Invitation links are for people new to the community")
    # Lee was in the group before he ever used a link: too late
    await harness.join_groups()
    await harness.send(LEE, TEA, "/help")
    assert (await harness.send(LEE, LEE, f"/start {mia}"))[1].startswith("邀请链接只适用于新加入")
    # unknown, odd and over-long codes: a friendly word, nothing attributed
    for user, code in ((BEN, "zzzzzzzz"), (CAL, "ab!cd"), (DOT, "x" * 65)):
        newcomer(harness, user)
        replies = await harness.send(user, user, f"/start {code}")
        assert replies[0].startswith(f"Hi {NAMES[user]}!")
        assert replies[1] == (
            "This invitation link is not valid or has expired, but you are welcome all the same."
        )
    async with harness.session() as session:
        attempts = (
            await session.execute(select(ReferralAttempt).order_by(ReferralAttempt.id))
        ).scalars()
        reasons = [(a.member_id, a.reason) for a in attempts]
        referrals = (await session.execute(select(Referral))).scalars().all()
    assert reasons == [
        (MIA, "self"),
        (MIA, "cycle"),
        (LEE, "already_member"),
        (BEN, "unknown"),
        (CAL, "malformed"),
        (DOT, "malformed"),
    ]
    assert [(r.invitee_id, r.referrer_id) for r in referrals] == [(ANA, MIA)]


async def test_the_reward_waits_for_the_first_paid_order_and_a_refund_takes_it_back(
    harness: Harness,
) -> None:
    await shop(harness)
    await harness.send(MIA, MIA, "/start")
    code = await code_of(harness, MIA)
    newcomer(harness, ANA)
    await harness.send(ANA, ANA, f"/start {code}")
    # an unpaid order earns nothing
    await harness.send(ANA, TEA, "/buy 1 1")
    assert await points_of(harness, MIA) == 0
    # when the leader marks it paid, Mia is rewarded and told
    harness.new_bot_messages(MIA)
    assert (await harness.send(LEE, TEA, "/paid @ana"))[0].startswith("Marked paid")
    assert await points_of(harness, MIA) == 100
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "A friend you invited paid their first order: 100 points for you. Thank you!"
    ]
    referral = await referral_of(harness, ANA)
    assert referral is not None and referral.status == "rewarded"
    # and 3% of the ¥100 is pending commission for her
    assert await commission_of(harness, MIA) == (300, 0)
    wallet = (await harness.send(MIA, MIA, "/wallet"))[0]
    assert "Commission pending (released after the refund window): CN¥3.00" in wallet
    assert "Commission on an invited friend's order" in wallet
    # Mia spends some of the points; then the first order is refunded in full
    await harness.send(MIA, MIA, "/donate 30")
    assert (await harness.send(SAM, SAM, "/refund 1"))[0].startswith("Refund of CN¥100.00")
    # what she still held is taken back (never below zero), the commission is reversed
    assert await points_of(harness, MIA) == 0
    assert await commission_of(harness, MIA) == (0, 0)
    referral = await referral_of(harness, ANA)
    assert referral is not None and referral.status == "reversed"
    # a second paid order is not a first order: no new reward, but commission again
    await buy_and_pay(harness, ANA)
    assert await points_of(harness, MIA) == 0
    assert await commission_of(harness, MIA) == (300, 0)


async def test_a_three_level_chain_with_depth_two_pays_two_levels_released_later(
    harness: Harness,
) -> None:
    # given Mia -> Ana -> Ben -> Cal
    await shop(harness)
    await harness.send(MIA, MIA, "/start")
    inviter = MIA
    for user in (ANA, BEN, CAL):
        code = await code_of(harness, inviter)
        newcomer(harness, user)
        await harness.send(user, user, f"/start {code}")
        inviter = user
    # when Cal pays ¥200
    await buy_and_pay(harness, CAL, quantity=2)
    # then Ben (level 1, 3%) and Ana (level 2, 1%) earn; Mia, three levels up, does not
    assert await commission_of(harness, BEN) == (600, 0)
    assert await commission_of(harness, ANA) == (200, 0)
    assert await commission_of(harness, MIA) == (0, 0)
    # the first-order reward goes to Ben only
    assert (await points_of(harness, BEN), await points_of(harness, ANA)) == (100, 0)
    # after the refund window the commission becomes available
    harness.clock.advance(days=8)
    await harness.runtime.closer.close_due()
    assert await commission_of(harness, BEN) == (0, 600)
    assert await commission_of(harness, ANA) == (0, 200)
    await harness.runtime.closer.close_due()  # released once
    assert await commission_of(harness, BEN) == (0, 600)
    wallet = (await harness.send(BEN, BEN, "/wallet"))[0]
    assert "Commission earned: CN¥6.00" in wallet
    summary = (await harness.send(BEN, BEN, "/referrals"))[0]
    assert summary.splitlines() == [
        "Your referrals",
        "Invited: 1",
        "Qualified (paid a first order): 1",
        "Waiting for a first order: 0",
        "Rewarded: 1",
        "Points earned: 100 points",
        "Commission available: CN¥6.00",
    ]
    # the group's leaderboard shows names only of members who allowed it
    assert (await harness.send(MIA, TEA, "/leaderboard"))[0].splitlines() == [
        "Top inviters in Tea Lovers",
        "1. a member: 1 friend",
    ]
    assert (await harness.send(BEN, BEN, "/leaderboard_optin"))[0].startswith("Your name now shows")
    assert (await harness.send(MIA, TEA, "/leaderboard"))[0].splitlines()[1] == "1. Ben: 1 friend"


async def test_a_burst_through_one_code_is_held_for_staff_who_decide_on_the_record(
    harness: Harness,
) -> None:
    await shop(harness)
    await harness.send(MIA, MIA, "/start")
    code = await code_of(harness, MIA)
    # five sign-ups through Mia's code within ten minutes (the default burst)
    for user in (ANA, BEN, CAL, DOT, EVE):
        newcomer(harness, user)
        await harness.send(user, user, f"/start {code}")
        harness.clock.advance(minutes=1)
    async with harness.session() as session:
        statuses = {
            r.invitee_id: r.status for r in (await session.execute(select(Referral))).scalars()
        }
    assert statuses == dict.fromkeys((ANA, BEN, CAL, DOT, EVE), "held")
    # a held friend's paid order earns Mia nothing yet
    await buy_and_pay(harness, ANA)
    assert await points_of(harness, MIA) == 0
    assert await commission_of(harness, MIA) == (0, 0)
    # members cannot see the review list
    assert await harness.send(MIA, MIA, "/referrals_held") == [
        "Sorry, only brand staff can do that."
    ]
    # staff list the held referrals, each with its buttons
    replies = await harness.send(SAM, SAM, "/referrals_held")
    assert replies[0] == "Held for review: sign-ups that came in a burst through one code."
    assert len(replies) == 6
    assert (
        replies[1].startswith("Ana invited by Mia (code ") and "first order #1 paid" in replies[1]
    )
    messages = harness.emulator.bot_messages(SAM)[-5:]
    assert messages[0].button_texts == ["✅ Approve", "❌ Reject"]
    # approving Ana rewards Mia for Ana's paid first order; rejecting Ben ends his
    assert await harness.press(SAM, SAM, messages[0].message_id, index=0) == "Approved."
    assert await harness.press(SAM, SAM, messages[1].message_id, index=1) == "Rejected."
    assert await points_of(harness, MIA) == 100
    assert (await referral_of(harness, ANA)).status == "rewarded"  # type: ignore[union-attr]
    assert (await referral_of(harness, BEN)).status == "rejected"  # type: ignore[union-attr]
    edited = {m.message_id: m for m in harness.emulator.bot_messages(SAM)}
    assert edited[messages[1].message_id].text.endswith("Rejected.")
    assert edited[messages[1].message_id].button_texts == []
    # a second decision on the same referral (an older list's button) changes nothing
    await harness.send(SAM, SAM, "/referrals_held")
    stale = harness.emulator.bot_messages(SAM)[-3]
    assert stale.text.startswith("Cal invited by Mia")
    assert await harness.press(SAM, SAM, messages[2].message_id, index=1) == "Rejected."
    assert await harness.press(SAM, SAM, stale.message_id, index=0) == (
        "That referral was already decided."
    )
    assert (await referral_of(harness, CAL)).status == "rejected"  # type: ignore[union-attr]
    # every decision is audited
    async with harness.session() as session:
        decisions = (
            await session.execute(
                select(AuditEntry.action, AuditEntry.detail).where(
                    AuditEntry.action.in_(("referral.approve", "referral.reject"))  # type: ignore[attr-defined]
                )
            )
        ).all()
    assert sorted(decisions) == [
        ("referral.approve", f"invitee {ANA}: rewarded"),
        ("referral.reject", f"invitee {BEN}: rejected"),
        ("referral.reject", f"invitee {CAL}: rejected"),
    ]
    # staff see whether the program pays off
    stats = (await harness.send(SAM, SAM, "/referral_stats 7d"))[0].splitlines()
    assert stats[1] == (
        "All: invited 5, qualified 1, conversion 20%, reward cost 100 points, "
        "viral coefficient 1; commission CN¥3.00"
    )
    assert stats[2] == (
        "Group Tea Lovers: invited 0, qualified 1, conversion —, reward cost 100 points, "
        "viral coefficient 1; commission CN¥3.00"
    )
    # with a chart: a PNG of invited and qualified per slice, named in the caption
    chart = harness.emulator.last_bot_message(SAM)
    assert chart.raw["caption"] == (
        "Blue bars: invited. Orange bars: qualified. C: campaigns, G: groups.\nG1: Tea Lovers"
    )
    png = harness.emulator.file_bytes(chart.raw["photo"][-1]["file_id"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
        assert image.format == "PNG" and image.width == 800
    assert await harness.send(SAM, SAM, "/referral_stats someday") == [
        "I could not read that date range. Send /referral_stats for the last 30 days, "
        "/referral_stats 7d, or /referral_stats 2026-11-01 2026-11-30."
    ]


async def test_a_campaign_code_attributes_to_the_campaign_with_its_own_rewards(
    harness: Harness,
) -> None:
    await shop(harness)
    # (Sam set no time zone: the date is the brand's, UTC, and says so)
    until = (harness.clock() + timedelta(days=30)).date().isoformat() + " UTC"
    replies = await harness.send(
        SAM, SAM, "/campaign_new Spring fair | welcome=20 reward=50 days=30 code=Spring26"
    )
    assert replies == [
        "Campaign Spring fair created.\nCode: spring26\n"
        "Link: https://t.me/community_bot?start=spring26\n"
        "Welcome gift: 20 points. First-order reward for the newcomer: 50 points. "
        f"Valid until: {until}.",
        "Scan to join: https://t.me/community_bot?start=spring26",
    ]
    # bad input: a friendly message, nothing created
    assert await harness.send(SAM, SAM, "/campaign_new Again | code=spring26") == [
        "That code is already in use. Choose another one."
    ]
    assert (await harness.send(SAM, SAM, "/campaign_new | welcome=lots"))[0].startswith(
        "Send /campaign_new NAME"
    )
    # a newcomer through the campaign gets its welcome gift, and its reward on the first order
    newcomer(harness, FAY)
    replies = await harness.send(FAY, FAY, "/start SPRING26")
    assert replies[1] == (
        "You joined through Spring fair.\nWelcome gift: 20 points.\nChoose a group to join:"
    )
    # a campaign has no inviter's group: the brand's open groups are offered
    assert harness.emulator.last_bot_message(FAY).button_texts == ["Coffee Club", "Tea Lovers"]
    assert await points_of(harness, FAY) == 20
    await buy_and_pay(harness, FAY)
    assert await points_of(harness, FAY) == 20 + 50 + 100  # the order's own points too
    # after it expires the code is refused kindly
    harness.clock.advance(days=31)
    newcomer(harness, EVE)
    assert (await harness.send(EVE, EVE, "/start spring26"))[1].startswith(
        "This invitation link is not valid or has expired"
    )


async def test_the_stats_chart_draws_no_names_and_its_caption_fits(harness: Harness) -> None:
    # given many campaigns and groups with long Chinese names full of HTML characters
    names = [f"春季活动 <{'&' * 60}> {i}" for i in range(10)]
    rows = [
        (name, StatsRow(label=name, invited=i + 1, qualified=i // 2))
        for i, name in enumerate(names)
    ]
    total = StatsRow(label="", invited=55, qualified=20)
    # when the chart is made for a reader of Simplified Chinese
    i18n = harness.runtime.i18n
    with i18n.context(), i18n.use_locale("zh_Hans"):
        chart, caption = stats_chart("Referrals 2026-11-01 - 2026-11-30", total, rows, rows)
    # then the image is a PNG with a row for the program and six per kind of slice
    with Image.open(io.BytesIO(chart)) as image:
        image.verify()
        assert image.format == "PNG"
    assert image.height > 13 * 34
    # the names are in the caption, escaped, in the reader's language, within Telegram's limit
    lines = caption.splitlines()
    assert lines[0] == "蓝色条：邀请人数。橙色条：合格人数。C：活动，G：群组。"
    assert lines[1].startswith("C1: 春季活动 &lt;&amp;")
    assert len(caption) <= 1000 and len(lines) < 13


async def test_a_partial_refund_scales_the_chains_commission_before_release(
    harness: Harness,
) -> None:
    # given Mia -> Ana -> Ben, and Ben pays ¥200 (Ana 3%, Mia 1%)
    await shop(harness)
    await harness.send(MIA, MIA, "/start")
    inviter = MIA
    for user in (ANA, BEN):
        code = await code_of(harness, inviter)
        newcomer(harness, user)
        await harness.send(user, user, f"/start {code}")
        inviter = user
    order = await buy_and_pay(harness, BEN, quantity=2)
    assert await commission_of(harness, ANA) == (600, 0)
    assert await commission_of(harness, MIA) == (200, 0)
    # when ¥50 of it is refunded, each level keeps its share of the ¥150 still paid
    assert (await harness.send(SAM, SAM, f"/refund {order} 50"))[0].startswith("Refund of")
    assert await commission_of(harness, ANA) == (450, 0)
    assert await commission_of(harness, MIA) == (150, 0)
    # and after the window that is what each receives
    harness.clock.advance(days=8)
    await harness.runtime.closer.close_due()
    assert await commission_of(harness, ANA) == (0, 450)
    assert await commission_of(harness, MIA) == (0, 150)
    async with harness.session() as session:
        assert (await reconcile(session)).ok
