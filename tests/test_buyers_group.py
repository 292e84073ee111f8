"""The buyers' group: staff set one per area (a group tag, a time zone, or every area); a
member's first paid order brings them, in private, a one-time invite link to the buyers' group
of the area of the group they ordered in, once per member."""

from __future__ import annotations

from sqlmodel import select

from models.audit import AuditEntry
from models.community import BuyersGroup, BuyersInvite
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.test_config import run_cli
from tests.test_order import buy_with_stars, make_staff, pay
from tests.test_playground import ROOT, in_order

BUYERS = -1001000000030  # "Tea Buyers", the brand's buyers' group for every area
PUDONG = -1001000000031  # "Pudong Buyers", for the groups tagged #pudong

INVITED = (
    "Thank you for your first order! You are invited to {group}, our buyers' group: tips, "
    "first looks and other buyers near you. The link below is yours alone and works once."
)


async def given_buyers_groups(harness: Harness) -> None:
    """Tea Lovers and Coffee Club have the bot; the owner adds it to two buyers' groups as an
    administrator; Sam is staff and sells a tea paid at pickup."""
    await harness.join_groups()
    await make_staff(harness)
    for chat, title in ((BUYERS, "Tea Buyers"), (PUDONG, "Pudong Buyers")):
        harness.emulator.add_group(chat, title, creator=LEE, members=[OWNER])
        harness.emulator.add_bot_to_group(chat, OWNER, status="administrator")
    await harness.feed_pending()
    for user in (MIA, KAI, LEE):
        await harness.send(user, user, "/start")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 60.00 CNY | stock 20")


def invitation(harness: Harness, user: int) -> tuple[str, str]:
    """The last message the member got: its text and the link of its button."""
    last = harness.emulator.last_bot_message(user)
    [[button]] = last.buttons
    assert button["text"] == "Join the buyers' group"
    return last.text or "", str(button["url"])


async def invites(harness: Harness) -> dict[int, int]:
    async with harness.session() as session:
        rows = (await session.execute(select(BuyersInvite))).scalars()
        return {row.member_id: row.community_id for row in rows}


async def test_a_first_paid_order_brings_one_invitation_to_the_buyers_group(
    harness: Harness,
) -> None:
    await given_buyers_groups(harness)
    # when Sam sets the buyers' group of every area
    assert await harness.send(SAM, SAM, f"/buyers_group {BUYERS}") == [
        f"Tea Buyers ({BUYERS}) is now the buyers' group of every area. A member's first paid "
        "order there brings them a one-time invitation to it, in private."
    ]
    # and Mia's first order in Tea Lovers is paid to Lee
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    # then Mia is invited in private with a link of her own, for one member
    text, link = invitation(harness, MIA)
    assert text == INVITED.format(group="Tea Buyers")
    [made] = harness.emulator.calls_of("createChatInviteLink")
    assert made["chat_id"] == BUYERS and made["member_limit"] == 1
    assert await invites(harness) == {MIA: BUYERS}
    # and the link lets her in, once
    harness.emulator.join_by_link(MIA, link)
    await harness.feed_pending()
    assert harness.emulator.get_member_status(BUYERS, MIA) == "member"
    try:
        harness.emulator.join_by_link(KAI, link)
    except ValueError as exc:
        assert "member limit" in str(exc)
    else:
        raise AssertionError("a one-time link let a second member in")
    # and her second paid order invites her no more
    harness.new_bot_messages(MIA)
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    assert not any("buyers' group" in (m.text or "") for m in harness.new_bot_messages(MIA))
    assert len(harness.emulator.calls_of("createChatInviteLink")) == 1
    async with harness.session() as session:
        audit = (
            await session.execute(select(AuditEntry).where(AuditEntry.action == "group.buyers_set"))
        ).scalar_one()
    assert (audit.actor_id, audit.chat_id, audit.detail) == (SAM, BUYERS, "*")


async def test_each_area_has_its_own_buyers_group(harness: Harness) -> None:
    await given_buyers_groups(harness)
    # given Tea Lovers tagged #pudong, Coffee Club in London
    await harness.send(SAM, TEA, "/tag pudong")
    await harness.send(KAI, COFFEE, "/settings timezone Europe/London")
    await harness.send(SAM, SAM, f"/buyers_group {BUYERS}")
    reply = await harness.send(SAM, SAM, f"/buyers_group {PUDONG} #Pudong")
    assert reply[0].startswith(f"Pudong Buyers ({PUDONG}) is now the buyers' group of #pudong.")
    reply = await harness.send(SAM, SAM, f"/buyers_group {BUYERS} 伦敦")
    assert reply[0].startswith(f"Tea Buyers ({BUYERS}) is now the buyers' group of Europe/London.")
    # when Mia's first order is paid in Tea Lovers and Sam's in Coffee Club
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.send(SAM, COFFEE, "/buy 1")
    await harness.send(KAI, COFFEE, "/paid @sam")
    # then the tag's buyers' group invites Mia, the zone's Sam
    assert invitation(harness, MIA)[0] == INVITED.format(group="Pudong Buyers")
    assert invitation(harness, SAM)[0] == INVITED.format(group="Tea Buyers")
    assert await invites(harness) == {MIA: PUDONG, SAM: BUYERS}
    # and the list names every area's group
    listing = (await harness.send(SAM, SAM, "/buyers_group"))[0]
    assert f"• #pudong: Pudong Buyers ({PUDONG})" in listing
    assert f"• every area: Tea Buyers ({BUYERS})" in listing
    assert f"• Europe/London: Tea Buyers ({BUYERS})" in listing


async def test_a_stars_payment_invites_too(harness: Harness) -> None:
    await harness.join_groups()
    harness.emulator.add_group(BUYERS, "Tea Buyers", creator=LEE, members=[OWNER])
    harness.emulator.add_bot_to_group(BUYERS, OWNER, status="administrator")
    await harness.feed_pending()
    invoice = await buy_with_stars(harness)
    await harness.send(SAM, SAM, f"/buyers_group {BUYERS}")
    await pay(harness, MIA, int(str(invoice["message_id"])))
    query_id = harness.emulator.calls_of("answerPreCheckoutQuery")[-1]["pre_checkout_query_id"]
    harness.emulator.complete_payment(query_id)
    await harness.feed_pending()
    assert invitation(harness, MIA)[0] == INVITED.format(group="Tea Buyers")
    assert await invites(harness) == {MIA: BUYERS}


async def test_bad_buyers_group_input_is_refused_clearly(harness: Harness) -> None:
    await given_buyers_groups(harness)
    usage = (await harness.send(SAM, SAM, "/buyers_group 12345"))[0]
    assert usage.startswith("Send /buyers_group GROUP [AREA]")
    assert await harness.send(SAM, SAM, f"/buyers_group {BUYERS} #no way") == [usage]
    assert await harness.send(SAM, SAM, f"/buyers_group {BUYERS} Atlantis") == [
        "“Atlantis” is not an area: write a group tag like #pudong or a time zone like "
        "Asia/Shanghai, or nothing for every area."
    ]
    assert await harness.send(SAM, SAM, "/buyers_group -1009999") == [
        "I do not know that group. Send /groups to see the groups and their ids."
    ]
    refused = await harness.send(MIA, MIA, f"/buyers_group {BUYERS}")
    assert len(refused) == 1 and "staff" in refused[0]
    async with harness.session() as session:
        assert list((await session.execute(select(BuyersGroup))).scalars()) == []
    # and with no buyers' group set, a first paid order invites nobody
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    assert harness.emulator.calls_of("createChatInviteLink") == []
    assert await invites(harness) == {}


def test_the_layers_script_invites_a_first_buyer_in_the_playground() -> None:
    # the drops go out at once whatever the hour (in the evening the promotion policy's quiet
    # hours would hold them until the morning)
    result = run_cli(
        "playground",
        "--script",
        str(ROOT / "scenarios" / "layers.txt"),
        env={"PROMO_QUIET_HOURS": "off"},
    )
    assert result.returncode == 0, result.stderr
    transcript = result.stdout
    assert "Traceback" not in transcript + result.stderr
    in_order(
        transcript,
        [
            # early access for the VIP groups: bob waits in Tea Lovers, joins in Coffee Club
            "👑 Early access for groups of level VIP until",
            "(bob presses [1] Join ×1)",
            "前仅限VIP群的成员优先参团，之后所有人都可参加。",
            "(popup) 你是第 1 位，数量 1。",
            # a drop to the core groups finds none
            "[alice (private)] bot: No open group matches: nothing was posted.",
            # erin's first paid order brings her a one-time link to the buyers' group
            "(erin leaves buyers)",
            "[alice (private)] bot: buyers (-100300) is now the buyers' group of every area.",
            "    • every area: buyers (-100300)",
            "[erin (private)] bot: 感谢你的首单！诚邀你加入我们的买家群buyers",
            "    [1] 加入买家群",
            "(erin joins buyers)",
        ],
    )


async def test_the_invitation_survives_passing_telegram_failures(harness: Harness) -> None:
    # given a buyers' group for every area, and Telegram failing the next two invite links
    await given_buyers_groups(harness)
    harness.runtime.notifier.retry_seconds = (0.0, 0.0, 0.0)
    await harness.send(SAM, SAM, f"/buyers_group {BUYERS}")
    harness.emulator.inject_fault("createChatInviteLink", status=502, count=2)
    # when Mia's first order is paid
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.runtime.notifier.drain()
    # then the link is made on the third try, and Mia is invited all the same, once
    text, _link = invitation(harness, MIA)
    assert text == INVITED.format(group="Tea Buyers")
    assert len(harness.emulator.calls_of("createChatInviteLink")) == 3  # two refused
    assert [m.text for m in harness.emulator.bot_messages(MIA)].count(text) == 1
    assert await invites(harness) == {MIA: BUYERS}
