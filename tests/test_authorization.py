"""The authorization matrix: every privileged command tried by every role, in every place it
is offered, and forged callback data that points at someone else's things.

The expectation is derived from the COMMANDS table and the role hierarchy, never written out
per command: a command is allowed exactly when the actor's role here is at least its role.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import func, select

from handlers.errors import APOLOGY
from handlers.views.commands import COMMANDS, Command
from models.audit import AuditEntry
from models.community import Community
from models.coupons import MemberCoupon
from models.groupbuy import GroupBuyJoin
from models.order import Order
from models.payout import CashHandover
from models.rewards import Fulfilment
from models.role import LeaderDesignation
from services.ledger import AccountRef, balance
from services.member import locale_for_language_code
from services.role import Role
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.test_pickup import formed_groupbuy

REFUSALS = {
    Role.OWNER: "Sorry, only the owner of this bot can do that.",
    Role.STAFF: "Sorry, only brand staff can do that.",
    Role.LEADER: "Sorry, only the leaders of this group can do that.",
}
# in private there is no "this group": a leader's command names who may use it
PRIVATE_LEADER_REFUSAL = "Sorry, only group leaders and brand staff can do that."
# a Telegram admin who is no leader is refused leader actions, and told how to apply
CANDIDATE_REFUSAL = (
    "Sorry, only the leaders of this group can do that. Leaders are appointed by the brand: as "
    "an admin of this group, you can apply with /lead or the button."
)
LANGUAGE = {OWNER: "en", SAM: "en", LEE: "zh-hans", MIA: "en", KAI: "zh-hant"}

PRIVILEGED = [c for c in COMMANDS if c.role > Role.MEMBER]


@dataclass(frozen=True)
class Actor:
    """Someone trying the commands, and the role they hold in Tea Lovers and in private."""

    name: str
    user_id: int
    in_group: Role  # their role in Tea Lovers, where group commands are tried
    in_private: Role  # leaders lead a group, not the bot: in private they are members
    # ... except for commands that serve a leader their own groups in private (Lee leads Tea
    # Lovers, Kai Coffee Club: appointed when the owner added the bot)
    leads_known: bool = False
    # a Telegram admin of Tea Lovers whom nobody appointed: a candidate, refused leader actions
    telegram_admin: bool = False


ACTORS = [
    Actor("member", MIA, Role.MEMBER, Role.MEMBER),
    Actor("telegram admin, not appointed", MIA, Role.MEMBER, Role.MEMBER, telegram_admin=True),
    Actor("leader of another group", KAI, Role.MEMBER, Role.MEMBER, leads_known=True),
    Actor("leader", LEE, Role.LEADER, Role.MEMBER, leads_known=True),
    Actor("staff", SAM, Role.STAFF, Role.STAFF),  # staff lead every group
    Actor("owner", OWNER, Role.OWNER, Role.OWNER),  # the owner is also staff
]


async def refused_rows(harness: Harness, actor: int) -> tuple[int, int]:
    """How many audit rows of the actor were refused and allowed."""
    async with harness.session() as session:
        counts = dict(
            (
                await session.execute(
                    select(AuditEntry.allowed, func.count())
                    .where(AuditEntry.actor_id == actor)
                    .group_by(AuditEntry.allowed)
                )
            ).all()
        )
    return counts.get(False, 0), counts.get(True, 0)


def translated(harness: Harness, text: str, locale: str) -> str:
    return harness.runtime.i18n.gettext(text, locale=locale)


@pytest.mark.parametrize("actor", ACTORS, ids=[a.name for a in ACTORS])
async def test_every_privileged_command_is_allowed_exactly_for_its_role_and_above(
    harness: Harness, actor: Actor
) -> None:
    # given the bot in both groups, Sam made staff, and everyone has started the bot
    if actor.telegram_admin:
        harness.emulator.set_member_status(TEA, actor.user_id, "administrator")
    await harness.join_groups()
    for user in (OWNER, SAM, LEE, MIA, KAI):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    places: list[tuple[Command, int, Role, str]] = []
    private_locale = locale_for_language_code(LANGUAGE[actor.user_id])
    for command in PRIVILEGED:
        if command.in_private:
            private = actor.in_private
            if command.leaders_in_private and actor.leads_known:
                private = max(private, Role.LEADER)
            places.append((command, actor.user_id, private, private_locale))
        if command.in_group:
            places.append((command, TEA, actor.in_group, "en"))
    assert places, "the table has privileged commands"
    mismatches: list[str] = []
    for command, chat, role, locale in places:
        where = "private" if chat == actor.user_id else "group"
        refused_before, allowed_before = await refused_rows(harness, actor.user_id)
        # when the actor sends the command with no arguments
        replies = await harness.send(actor.user_id, chat, f"/{command.name}")
        refused_after, allowed_after = await refused_rows(harness, actor.user_id)
        refusal = translated(harness, REFUSALS[command.role], locale)
        if command.role is Role.LEADER and where == "private":
            refusal = translated(harness, PRIVATE_LEADER_REFUSAL, locale)
        if actor.telegram_admin and command.role is Role.LEADER and where == "group":
            refusal = translated(harness, CANDIDATE_REFUSAL, locale)
        apology = translated(harness, APOLOGY, locale)
        if apology in replies:
            mismatches.append(f"/{command.name} in {where}: internal error")
        elif role >= command.role:
            # then an allowed role is served, and the pass is audited
            if refusal in replies or refused_after != refused_before:
                mismatches.append(f"/{command.name} in {where}: refused, expected allowed")
            elif allowed_after == allowed_before:
                mismatches.append(f"/{command.name} in {where}: allowed but not audited")
        elif replies != [refusal] or refused_after != refused_before + 1:
            # and anyone below it gets only the polite refusal, audited as refused
            mismatches.append(
                f"/{command.name} in {where}: expected one refusal and one audit row, "
                f"got {replies!r} and {refused_after - refused_before} row(s)"
            )
        # a wizard the command may have started is left before the next command
        if role >= command.role and chat == actor.user_id:
            await harness.send(actor.user_id, chat, "/cancel")
    assert not mismatches, "\n".join(mismatches)


async def test_the_matrix_covers_every_privileged_command() -> None:
    # every command above member is offered somewhere, so the matrix tries it at least once
    assert all(c.in_private or c.in_group for c in PRIVILEGED)
    assert {c.role for c in PRIVILEGED} == {Role.LEADER, Role.STAFF, Role.OWNER}


# ---------------------------------------------------------------- forged callback data ----


async def make_staff_and_product(harness: Harness) -> None:
    await harness.join_groups()
    for user in (SAM, MIA, KAI):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")


async def order_status(harness: Harness, order_id: int) -> str:
    async with harness.session() as session:
        order = await session.get(Order, order_id)
    assert order is not None
    return order.status


async def test_a_leader_forging_another_groups_order_button_is_refused(harness: Harness) -> None:
    await make_staff_and_product(harness)
    await harness.send(MIA, COFFEE, "/buy 1")  # order #1 belongs to Coffee Club
    await harness.send(MIA, TEA, "/buy 1")  # order #2 to Tea Lovers
    await harness.send(LEE, TEA, "/orders")
    tea_card = harness.emulator.last_bot_message(TEA).message_id
    await harness.send(KAI, COFFEE, "/orders")
    coffee_card = harness.emulator.last_bot_message(COFFEE).message_id
    # when each leader edits the button to point at the other group's order
    for user, chat, card, order_id in ((LEE, TEA, tea_card, 1), (KAI, COFFEE, coffee_card, 2)):
        for action in ("paid", "picked"):
            answer = await harness.press(
                user, chat, card, callback_data=f"ord:{action}:{order_id}", force=True
            )
            assert answer == translated(harness, "There is no such order in this group.", "en"), (
                user,
                action,
            )
    # and an order id that does not exist at all
    answer = await harness.press(LEE, TEA, tea_card, callback_data="ord:paid:999", force=True)
    assert answer == "There is no such order in this group."
    # and a member presses a genuine button of her own order
    answer = await harness.press(MIA, TEA, tea_card, callback_data="ord:paid:2", force=True)
    assert answer == REFUSALS[Role.LEADER]
    # then nothing changed
    assert [await order_status(harness, 1), await order_status(harness, 2)] == [
        "reserved",
        "reserved",
    ]
    refused, _allowed = await refused_rows(harness, MIA)
    assert refused == 1


async def test_a_member_forging_another_members_coupon_button_is_refused(
    harness: Harness,
) -> None:
    await make_staff_and_product(harness)
    await harness.send(SAM, SAM, "/coupon_new TEA5 5.00 CNY")
    await harness.send(SAM, SAM, "/coupon_grant TEA5 @mia")
    await harness.send(MIA, TEA, "/buy 1")  # order #1, Mia's, offered her coupon
    offer = harness.emulator.last_bot_message(TEA)
    data = offer.buttons[0][0]["callback_data"]
    coupon_id = int(data.split(":")[1])
    await harness.send(KAI, TEA, "/buy 1")  # order #2, Kai's
    # when Kai taps Mia's button, and forges it onto his own order
    not_yours = "That is not one of your orders."
    assert await harness.press(KAI, TEA, offer.message_id, index=0) == not_yours
    forged = await harness.press(
        KAI, TEA, offer.message_id, callback_data=f"cp:{coupon_id}:2", force=True
    )
    assert forged is not None and forged != "" and "Coupon used" not in forged
    # and Mia forges a coupon id that is not hers onto her order
    assert "Coupon used" not in (
        await harness.press(MIA, TEA, offer.message_id, callback_data="cp:999:1", force=True) or ""
    )
    # then both orders keep their totals and the coupon is still Mia's, unused
    async with harness.session() as session:
        orders = {o.id: o for o in (await session.execute(select(Order))).scalars()}
        coupon = await session.get(MemberCoupon, coupon_id)
    assert (orders[1].discount, orders[2].discount) == (0, 0)
    assert coupon is not None and (coupon.member_id, coupon.status) == (MIA, "held")


async def test_a_member_forging_a_cancel_button_of_someone_elses_reservation_is_refused(
    harness: Harness,
) -> None:
    await make_staff_and_product(harness)
    await harness.send(KAI, TEA, "/buy 1")  # order #1, Kai's
    await harness.send(MIA, TEA, "/buy 1")  # order #2, Mia's
    await harness.send(MIA, MIA, "/reservations")
    listing = harness.emulator.last_bot_message(MIA)
    assert listing.button_texts == ["❌ Cancel #2"]
    # when Mia edits her cancel button to point at Kai's reservation, or at none
    assert await harness.press(MIA, MIA, listing.message_id, callback_data="rsv:1", force=True) == (
        "That is not your reservation."
    )
    assert await harness.press(
        MIA, MIA, listing.message_id, callback_data="rsv:999", force=True
    ) == ("That is not your reservation.")
    # then Kai's reservation holds; Mia's own button still works
    assert await order_status(harness, 1) == "reserved"
    assert await harness.press(MIA, MIA, listing.message_id, index=0) == (
        "Reservation #2 cancelled; its stock is back on sale."
    )


async def test_a_member_forging_my_orders_buttons_onto_someone_elses_order_is_refused(
    harness: Harness,
) -> None:
    await make_staff_and_product(harness)
    await harness.send(SAM, SAM, "/product_add Moon cake | 25 XTR | stock 5 | telegram")
    await harness.send(KAI, TEA, "/buy 1")  # order #1, Kai's reservation
    await harness.send(KAI, TEA, "/buy 2")  # order #2, Kai's unpaid Stars order
    await harness.send(MIA, TEA, "/buy 1")  # order #3, Mia's
    await harness.send(MIA, MIA, "/orders")
    listing = harness.emulator.last_bot_message(MIA)
    assert listing.button_texts == ["❌ Cancel #3", "👤 For someone else #3", "⬅️ Back"]
    invoices = len(harness.emulator.calls_of("sendInvoice"))
    # when Mia edits her buttons to pay, cancel or rate Kai's orders
    not_yours = "That is not one of your orders."
    for data in (
        "my:pay:2:0",
        "my:cancel:1:0",
        "my:cancel:2:0",
        "my:review:1:0",
        "my:rate:1:5",
        "my:for:1:0",  # say whom Kai's order is for
        "my:for_me:1:0",  # clear it
    ):
        answer = await harness.press(MIA, MIA, listing.message_id, callback_data=data, force=True)
        assert answer == not_yours, data
    # then Kai's orders are as they were, and no invoice went to anyone
    assert [await order_status(harness, 1), await order_status(harness, 2)] == [
        "reserved",
        "awaiting_payment",
    ]
    assert len(harness.emulator.calls_of("sendInvoice")) == invoices
    # and Mia's own button still works
    assert await harness.press(MIA, MIA, listing.message_id, index=0) == (
        "Order #3 cancelled; its stock is back on sale."
    )


async def test_join_taps_with_edited_group_buy_ids_are_refused(harness: Harness) -> None:
    await make_staff_and_product(harness)
    # given a group-buy posted only in Coffee Club
    replies = await harness.send(KAI, COFFEE, "/groupbuy 1 24h min=2 stock=10")
    assert not any("Sorry" in r for r in replies)
    await harness.send(MIA, TEA, "/list")  # any bot message in Tea Lovers to tap on
    tea_message = harness.emulator.last_bot_message(TEA).message_id
    # when Mia, in Tea Lovers, edits a join button to that group-buy, or to one that never was
    for data in ("gb:join:1:1", "gb:join:999:1", "gb:less:1:0", "gb:leave:1:0"):
        answer = await harness.press(MIA, TEA, tea_message, callback_data=data, force=True)
        assert answer is not None and "You are #" not in answer, data
    # then nobody joined it
    async with harness.session() as session:
        joined = (
            (await session.execute(select(GroupBuyJoin).where(GroupBuyJoin.quantity > 0)))
            .scalars()
            .all()
        )
    assert joined == []


async def test_forged_hand_over_and_payout_buttons_are_refused_to_all_but_staff(
    harness: Harness,
) -> None:
    # given Lee took Mia's cash and says he handed it over, and Sam is staff
    await make_staff_and_product(harness)
    await harness.send(LEE, LEE, "/start")
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.send(LEE, LEE, "/handover")
    card = harness.emulator.last_bot_message(SAM).message_id
    # when a member, a leader of another group and Lee himself forge the staff buttons
    for user in (MIA, KAI, LEE):
        for data in ("ho:confirm:1", "ho:refuse:1", "po:pay:1", "po:net:1", "po:refuse:1"):
            answer = await harness.press(user, SAM, card, callback_data=data, force=True)
            # then each is refused in their language, and audited as refused
            assert answer == translated(
                harness, REFUSALS[Role.STAFF], locale_for_language_code(LANGUAGE[user])
            ), (user, data)
    assert (await refused_rows(harness, MIA))[0] == 5
    # and nothing was decided: the hand-over still waits, Lee still owes the cash
    async with harness.session() as session:
        handover = await session.get(CashHandover, 1)
        owed = await balance(session, AccountRef("leader_cash", LEE), "CNY")
    assert handover is not None and handover.status == "requested"
    assert owed == -3990


async def test_forged_suspend_for_review_buttons_are_refused_to_all_but_staff(
    harness: Harness,
) -> None:
    # given Sam reads Lee's record, with its "Suspend for review" button
    await make_staff_and_product(harness)
    await harness.send(LEE, LEE, "/start")
    await harness.send(SAM, SAM, "/leader_record @lee")
    card = harness.emulator.last_bot_message(SAM).message_id
    # when a member, a leader of another group and Lee himself forge it, against Lee or Kai
    for user in (MIA, KAI, LEE):
        for target in (LEE, KAI):
            answer = await harness.press(
                user, SAM, card, callback_data=f"crd:suspend:{target}", force=True
            )
            # then each is refused in their language
            assert answer == translated(
                harness, REFUSALS[Role.STAFF], locale_for_language_code(LANGUAGE[user])
            ), (user, target)
    # and both still lead their groups
    async with harness.session() as session:
        statuses = (await session.execute(select(LeaderDesignation.status))).scalars().all()
    assert statuses == ["active", "active"]


async def test_forged_group_decision_buttons_from_non_staff_are_refused(harness: Harness) -> None:
    # given a group Mia created and added the bot to (pending), and Lee leading Tea Lovers
    await make_staff_and_product(harness)
    corner = -1001000000009
    harness.emulator.add_group(corner, "Mia's Corner", creator=MIA, members=[KAI])
    harness.emulator.add_bot_to_group(corner, MIA)
    await harness.feed_pending()
    await harness.send(LEE, LEE, "/start")
    # when Mia forges the staff card's Approve for her own group, and Lee a Suspend of another
    # leader's group and a Decline of Mia's, each on a message of their private chat
    forged = [
        (MIA, f"grp:approve:{corner}:1"),
        (MIA, f"grp:reinstate:{corner}:0"),
        (LEE, f"grp:suspend:{COFFEE}:0"),
        (LEE, f"grp:ask:{COFFEE}:0"),
        (LEE, f"grp:decline:{corner}:1"),
    ]
    for user, data in forged:
        message = harness.emulator.last_bot_message(user).message_id
        answer = await harness.press(user, user, message, callback_data=data, force=True)
        # then each is refused politely
        assert answer == translated(
            harness, REFUSALS[Role.STAFF], locale_for_language_code(LANGUAGE[user])
        ), data
    # and nothing changed, and the attempts are on record
    async with harness.session() as session:
        states = {}
        for chat in (corner, COFFEE):
            row = await session.get(Community, chat)
            assert row is not None
            states[chat] = row.approval
        refusals = await session.execute(
            select(AuditEntry).where(AuditEntry.action == "group.review")
        )
        refused = [row for row in refusals.scalars() if not row.allowed]
    assert states == {corner: "pending", COFFEE: "approved"}
    assert len(refused) == len(forged)


# ---------------------------------------------------------------- leader appointments ----


async def test_only_a_groups_admins_apply_and_only_staff_decide(harness: Harness) -> None:
    # given Mia is a Telegram admin of Tea Lovers (not appointed), Kai a plain member there
    harness.emulator.set_member_status(TEA, MIA, "administrator")
    await make_staff_and_product(harness)
    # when each tries to apply to lead Tea Lovers
    applied = {user: await harness.send(user, TEA, "/lead") for user in (KAI, MIA, SAM, LEE)}
    # then only the Telegram admin's application is taken; the leader and staff need none
    assert applied[KAI] == [
        "Only this group's admins may apply to lead it. If you would like to run a group for "
        "the brand, talk to its staff."
    ]
    assert applied[MIA][0].startswith("Thank you, Mia!")
    assert applied[LEE] == ["You already lead this group."]
    assert applied[SAM] == [
        "You are brand staff: you can already do everything a leader does here."
    ]
    card = harness.emulator.last_bot_message(SAM)
    approve = card.buttons[0][0]["callback_data"]
    # when the applicant, a leader and a member forge the Approve button in their own chats
    for user in (MIA, LEE, KAI):
        await harness.send(user, user, "/start")
        own = harness.emulator.last_bot_message(user).message_id
        answer = await harness.press(user, user, own, callback_data=approve, force=True)
        language = locale_for_language_code(LANGUAGE[user])
        assert answer == translated(harness, REFUSALS[Role.STAFF], language), user
    # then nobody was appointed, and each forgery is audited as refused
    assert await harness.send(MIA, TEA, "/settings") == [CANDIDATE_REFUSAL]
    async with harness.session() as session:
        rows = (
            await session.execute(
                select(AuditEntry.actor_id, AuditEntry.action, AuditEntry.allowed).where(
                    AuditEntry.action.in_(["leader.apply", "leader.decide"])  # type: ignore[attr-defined]
                )
            )
        ).all()
    assert sorted(rows) == sorted(
        [
            (KAI, "leader.apply", False),
            (MIA, "leader.apply", True),
            (MIA, "leader.decide", False),
            (LEE, "leader.decide", False),
            (KAI, "leader.decide", False),
        ]
    )
    # and staff's own tap appoints her
    assert await harness.press(SAM, SAM, card.message_id, index=0) == "Done."
    assert (await harness.send(MIA, TEA, "/settings"))[0].startswith("Settings of Tea Lovers")


# ---------------------------------------------------------------------- statements ----


@pytest.mark.parametrize("actor", ACTORS, ids=[a.name for a in ACTORS])
async def test_a_statement_is_served_to_its_own_leader_and_to_staff_only(
    harness: Harness, actor: Actor
) -> None:
    # given the bot in both groups, Sam made staff, and Lee known to lead Tea Lovers
    await harness.join_groups()
    for user in (OWNER, SAM, LEE, MIA, KAI):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(LEE, TEA, "/settings")
    locale = locale_for_language_code(LANGUAGE[actor.user_id])
    for target, name in ((LEE, "lee"), (KAI, "kai")):
        refused_before, _allowed = await refused_rows(harness, actor.user_id)
        # when the actor asks for Lee's statement, then for Kai's
        replies = await harness.send(actor.user_id, actor.user_id, f"/statement @{name}")
        refused_after, _allowed = await refused_rows(harness, actor.user_id)
        last = harness.emulator.last_bot_message(actor.user_id)
        staff = actor.in_private >= Role.STAFF
        if staff or (target == actor.user_id and actor.leads_known):
            # then staff get anyone's, and a leader their own: a text and the CSV
            assert last.kind == "document", (actor.name, name, replies)
            assert last.raw["document"]["file_name"].startswith(f"statement_{target}_")
            assert refused_after == refused_before
        else:
            # and anyone else one polite refusal, audited
            own_only = "You can see your own statement only: send /statement."
            expected = own_only if actor.leads_known else PRIVATE_LEADER_REFUSAL
            assert replies == [translated(harness, expected, locale)], (actor.name, name)
            assert refused_after == refused_before + 1


async def test_forged_fulfilment_buttons_are_refused_to_all_but_staff(harness: Harness) -> None:
    # given Mia redeemed a physical reward: a task waits in Sam's /fulfil
    await make_staff_and_product(harness)
    await harness.send(LEE, LEE, "/start")
    await harness.send(SAM, SAM, "/reward_add Tea sample | 5")
    await harness.send(MIA, TEA, "/checkin")
    await harness.send(MIA, MIA, "/rewards")
    await harness.press(MIA, MIA, harness.emulator.last_bot_message(MIA).message_id, index=0)
    await harness.press(MIA, MIA, harness.emulator.last_bot_message(MIA).message_id, index=0)
    await harness.send(SAM, SAM, "/fulfil")
    card = harness.emulator.last_bot_message(SAM).message_id
    # when a member, a leader of another group and a leader forge the staff buttons
    for user in (MIA, KAI, LEE):
        for data in ("ff:1", "pg:fulfil:0"):
            answer = await harness.press(user, SAM, card, callback_data=data, force=True)
            # then each is refused in their language, and audited as refused
            assert answer == translated(
                harness, REFUSALS[Role.STAFF], locale_for_language_code(LANGUAGE[user])
            ), (user, data)
    assert (await refused_rows(harness, MIA))[0] == 2
    # and the reward is still waiting to be handed over
    async with harness.session() as session:
        task = await session.get(Fulfilment, 1)
    assert task is not None and task.status == "open"


async def test_a_pickup_sheet_button_forged_by_another_leader_is_refused(
    harness: Harness,
) -> None:
    # given Lee's group-buy formed, and Lee got its pickup sheet
    await formed_groupbuy(harness, crowd=0)
    sheet = harness.emulator.last_bot_message(LEE)
    template = (
        "Only the leader who opened group-buy #{id}, or the brand's staff, can run its pickup."
    )
    refusal = translated(harness, template, "zh_Hant").format(id=1)  # Kai reads 繁體中文
    # when Kai, who leads Coffee Club, forges Lee's buttons, or asks for the sheet
    for data in ("pk:paid:1:2:0", "pk:remind:1:0:0", "pk:page:1:0:1"):
        answer = await harness.press(KAI, KAI, sheet.message_id, callback_data=data, force=True)
        assert answer == refusal
    assert await harness.send(KAI, KAI, "/sheet 1") == [refusal]
    # then nothing changed, nobody was reminded, and each try was audited as refused
    assert await order_status(harness, 2) == "reserved"
    assert not any("提醒" in (m.text or "") for m in harness.emulator.bot_messages(MIA))
    async with harness.session() as session:
        refused = (
            await session.execute(
                select(func.count()).where(
                    AuditEntry.actor_id == KAI,
                    AuditEntry.action.startswith("pickup."),  # type: ignore[attr-defined]
                    AuditEntry.allowed.is_(False),  # type: ignore[attr-defined]
                )
            )
        ).scalar_one()
    assert refused == 4
