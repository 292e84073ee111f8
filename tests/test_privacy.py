"""Privacy and data rights: /mydata is generated from every table that refers to a member and
names other members by first name only; /forgetme erases personal data after an explicit
confirmation while orders and the ledger stay correct; free texts expire; all localized."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, MetaData, Table
from sqlmodel import SQLModel, select

from models.audit import AuditEntry
from models.broadcast import MarketingConsent
from models.member import Member
from models.order import Order
from models.privacy import (
    ACTOR_ID_COLUMNS,
    FREE_TEXTS,
    MEMBER_ID_COLUMNS,
    NOT_EXPORTED,
    NOT_MEMBER_COLUMNS,
)
from models.referral import Referral, ReferralAttempt, ReferralCode
from models.review import Review
from models.segments import MemberSegment
from models.suggestion import Suggestion
from services.ledger import reconcile
from services.privacy import member_references, unclassified_columns
from services.segments import facts
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, Harness

ANA = 2001  # a newcomer Mia invites


def newcomer(harness: Harness) -> None:
    harness.emulator.add_user(ANA, "Ana", username="ana_secret", last_name="Private")


async def make_staff(harness: Harness) -> None:
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def code_of(harness: Harness, user_id: int) -> str:
    replies = await harness.send(user_id, user_id, "/invite")
    match = re.search(r"\?start=([\w-]+)", replies[0])
    assert match is not None, replies
    return match.group(1)


async def mia_with_history(harness: Harness) -> str:
    """Mia starts, opts in to offers, invites Ana, orders, pays, picks up and reviews.
    Returns her referral code."""
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 9.90 CNY | stock 10")
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, MIA, "/birthday 03-14")
    code = await code_of(harness, MIA)
    newcomer(harness)
    await harness.send(ANA, ANA, f"/start {code}")
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.send(LEE, TEA, "/pickedup @mia")
    await harness.send(MIA, MIA, "/review 1 5 Lovely, call me on 555-0101")
    await harness.send(MIA, TEA, "/checkin")
    async with harness.session() as session, session.begin():
        from services.broadcast import set_consent

        await set_consent(
            session, member_id=MIA, opted_in=True, wording_version="2026-11", now=harness.clock()
        )
    return code


async def mydata_document(harness: Harness, user_id: int) -> tuple[list[str], dict[str, Any]]:
    replies = await harness.send(user_id, user_id, "/mydata")
    document = harness.emulator.bot_messages(user_id)[-1]
    assert document.kind == "document"
    assert document.raw["document"]["file_name"] == f"mydata_{user_id}.json"
    raw = harness.emulator.file_bytes(document.raw["document"]["file_id"]).decode("utf-8")
    return replies, json.loads(raw)


def leaves(value: Any) -> list[Any]:
    """Every scalar in a JSON document, keys excluded."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    return [value]


# ---------------------------------------------------------------- the schema ----------------


def test_every_id_like_column_is_classified_so_no_member_table_is_forgotten() -> None:
    # every column that could hold a member's id is a foreign key or classified in
    # models/privacy.py: a new table referring to members cannot slip past /mydata or erasure
    assert unclassified_columns(SQLModel.metadata) == []
    # and every table that refers to a member is exported, or excluded with a reason
    references = member_references()
    for table in references:
        assert table not in NOT_EXPORTED or NOT_EXPORTED[table]
    # the registry names real columns only
    columns = {f"{t.name}.{c.name}" for t in SQLModel.metadata.sorted_tables for c in t.columns}
    stale = (MEMBER_ID_COLUMNS | ACTOR_ID_COLUMNS | set(NOT_MEMBER_COLUMNS)) - columns
    assert stale == set()
    for text in FREE_TEXTS:
        assert f"{text.table}.{text.column}" in columns
        assert f"{text.table}.{text.member_column}" in columns
    # the tables the issue names are among them
    for table in (
        "member",
        "orders",
        "ledger_account",
        "referral",
        "marketing_consent",
        "member_coupon",
        "checkin",
        "review",
        "member_segment",
        "member_tier",
        "staff_grant",
        "audit_log",
    ):
        assert table in references, table


def test_a_new_table_with_an_unclassified_member_column_fails_the_check() -> None:
    # given another feature adds tables: one with a plain member id, one with a foreign key
    metadata = MetaData()
    Table("member", metadata, Column("id", BigInteger, primary_key=True))
    Table(
        "suggestion",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("author_id", BigInteger),
    )
    Table(
        "poll_vote",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("member_id", BigInteger, ForeignKey("member.id")),
        Column("voted_by", BigInteger),
    )
    # then the plain ones must be classified before the suite passes again
    assert unclassified_columns(metadata) == ["poll_vote.voted_by", "suggestion.author_id"]


# ---------------------------------------------------------------- /mydata -------------------


async def test_mydata_sends_everything_held_and_no_one_elses_private_data(
    harness: Harness,
) -> None:
    await mia_with_history(harness)
    # when Mia asks for her data in private
    replies, document = await mydata_document(harness, MIA)
    # then a readable summary comes with the file
    summary = replies[0]
    assert summary.startswith("Here is everything I hold about you")
    assert "Profile: Mia, English" in summary
    assert "Birthday: 3/14" in summary
    assert "Orders: 1" in summary
    assert "Friends you invited: 1" in summary
    assert "Offers in private: yes" in summary
    tables = document["tables"]
    # her profile, order, its status history, review, check-in, consent, coupon-free tier...
    assert tables["member"][0]["first_name"] == "Mia"
    assert [o["title"] for o in tables["orders"]] == ["Oolong tea"]
    assert {e["to_status"] for e in tables["order_event"]} >= {"paid", "fulfilled"}
    assert tables["review"][0]["comment"].startswith("Lovely")
    assert len(tables["checkin"]) == 1
    assert tables["marketing_consent"][0]["opted_in"] is True
    assert tables["marketing_consent"][0]["wording_version"] == "2026-11"
    # her ledger movements (points for the order, the review and the check-in)
    assert document["ledger_movements"]
    accounts = {m["account"] for m in document["ledger_movements"]}
    assert "member_points" in accounts and not any(a.startswith("brand_") for a in accounts)
    assert any(m["order_id"] == 1 for m in document["ledger_movements"])
    # the friend she invited appears by first name only
    (referral,) = tables["referral"]
    assert referral["invitee_first_name"] == "Ana" and "invitee_id" not in referral
    # the leader who marked her order paid appears by first name, never by id
    values = set(leaves(document))
    for secret in ("ana_secret", "Private", ANA, LEE, "lee"):
        assert secret not in values, secret
    assert {e.get("actor_first_name") for e in tables["order_event"]} >= {"Lee"}
    # and the export is audited
    async with harness.session() as session:
        audited = (
            (await session.execute(select(AuditEntry).where(AuditEntry.action == "privacy.export")))
            .scalars()
            .all()
        )
    assert [a.actor_id for a in audited] == [MIA]


async def test_a_leader_sees_their_part_in_others_orders_not_the_orders(harness: Harness) -> None:
    await mia_with_history(harness)
    await harness.send(LEE, LEE, "/start")
    _replies, document = await mydata_document(harness, LEE)
    # Lee marked Mia's order paid: Lee's file says so, without Mia's order details
    events = document["tables"]["order_event"]
    assert events and all(e["your_part"] == "actor_id" for e in events)
    # the orders Lee handed over name his part (who confirmed the pickup), not their details
    orders = document["tables"].get("orders", [])
    assert all(row["your_part"] == "picked_up_by" for row in orders)
    values = set(leaves(document))
    assert not {"Oolong tea", MIA, "Mia", "mia"} & values


async def test_mydata_in_chinese_and_never_in_a_group(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(LEE, LEE, "/start")
    replies, _document = await mydata_document(harness, LEE)
    assert replies[0].startswith("这是我保存的关于你的全部信息")
    # in a group the bot speaks the group's language, and shows nothing personal
    assert await harness.send(LEE, TEA, "/mydata") == [
        "Please send me this in a private chat: your data is yours alone."
    ]


# ---------------------------------------------------------------- /forgetme -----------------


async def test_forgetme_erases_personal_data_after_confirmation_and_the_books_stay_right(
    harness: Harness,
) -> None:
    old_code = await mia_with_history(harness)
    await harness.runtime.care.run()  # Mia gets a segment
    async with harness.session() as session:
        assert await session.get(MemberSegment, MIA) is not None
    # when Mia asks to be forgotten, she is told what it means and asked first
    replies = await harness.send(MIA, MIA, "/forgetme")
    assert replies[0].startswith("Erase your personal data?")
    question = harness.emulator.last_bot_message(MIA)
    async with harness.session() as session:
        assert (await session.get(Member, MIA)).first_name == "Mia"  # type: ignore[union-attr]
    # and she confirms
    await harness.press(MIA, MIA, question.message_id, index=0)
    assert harness.emulator.last_bot_message(MIA).text.startswith("Done: your personal data")
    async with harness.session() as session:
        member = await session.get(Member, MIA)
        assert member is not None
        # then her name and birthday are gone, replaced by a pseudonym
        assert re.fullmatch(r"Member #[0-9a-f]{6}", member.first_name)
        assert (member.username, member.last_name, member.birthday_month) == (None, None, None)
        assert member.forgotten_at is not None and not member.started
        # her consent is withdrawn (and recorded), her review's words deleted, no segment
        consent = await session.get(MarketingConsent, MIA)
        assert consent is not None and not consent.opted_in
        review = (await session.execute(select(Review))).scalar_one()
        assert (review.rating, review.comment) == (5, "")
        assert await session.get(MemberSegment, MIA) is None
        # her orders remain, under her id; the ledger reconciles
        order = (await session.execute(select(Order))).scalar_one()
        assert (order.member_id, order.status) == (MIA, "fulfilled")
        assert (await reconcile(session)).ok
        # her old code is gone; Ana's referral still points at her for the books
        code = (
            await session.execute(select(ReferralCode).where(ReferralCode.member_id == MIA))
        ).scalar_one()
        assert code.code != old_code and not code.show_on_leaderboard
        assert (await session.get(Referral, ANA)).referrer_id == MIA  # type: ignore[union-attr]
        audited = (
            (await session.execute(select(AuditEntry).where(AuditEntry.action == "privacy.forget")))
            .scalars()
            .all()
        )
        assert [a.actor_id for a in audited] == [MIA]
    # the old link no longer attributes anyone
    harness.emulator.add_user(2002, "Ben", username="ben")
    await harness.send(2002, 2002, f"/start {old_code}")
    async with harness.session() as session:
        assert await session.get(Referral, 2002) is None
        attempt = (
            await session.execute(select(ReferralAttempt).where(ReferralAttempt.member_id == 2002))
        ).scalar_one()
        assert attempt.reason == "unknown"
    # and the care job does not put her back in a segment, nor do her group actions
    # bring her name back
    await harness.send(MIA, TEA, "/checkin")
    await harness.runtime.care.run()
    async with harness.session() as session:
        assert await session.get(MemberSegment, MIA) is None
        member = await session.get(Member, MIA)
        assert member is not None and member.first_name.startswith("Member #")
        found = await facts(session, now=harness.clock(), loyal_window=timedelta(days=180))
        assert MIA not in [row[0] for row in found]


async def test_cancelling_forgetme_changes_nothing(harness: Harness) -> None:
    await mia_with_history(harness)
    await harness.send(MIA, MIA, "/forgetme")
    question = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, question.message_id, index=1)
    assert harness.emulator.last_bot_message(MIA).text == "Nothing was erased."
    async with harness.session() as session:
        member = await session.get(Member, MIA)
        assert member is not None
        assert (member.first_name, member.username, member.birthday_month) == ("Mia", "mia", 3)
        assert member.forgotten_at is None
        consent = await session.get(MarketingConsent, MIA)
        assert consent is not None and consent.opted_in
        review = (await session.execute(select(Review))).scalar_one()
        assert review.comment.startswith("Lovely")


async def test_a_forgotten_member_who_comes_back_starts_fresh(harness: Harness) -> None:
    code = await mia_with_history(harness)
    await harness.send(MIA, MIA, "/forgetme")
    await harness.press(MIA, MIA, harness.emulator.last_bot_message(MIA).message_id, index=0)
    # when Mia writes to the bot again
    replies = await harness.send(MIA, MIA, "/start")
    # then she is greeted by her Telegram name, with nothing of before but the books
    assert replies[0].startswith("Hi <b>Mia</b>") or replies[0].startswith("Hi Mia")
    async with harness.session() as session:
        member = await session.get(Member, MIA)
        assert member is not None
        assert (member.first_name, member.username, member.started) == ("Mia", "mia", True)
        assert member.birthday_month is None
        consent = await session.get(MarketingConsent, MIA)
        assert consent is not None and not consent.opted_in
    # her new invitation link is a new code
    assert await code_of(harness, MIA) != code
    # her orders still count on the books
    _replies, document = await mydata_document(harness, MIA)
    assert len(document["tables"]["orders"]) == 1


async def test_forgetme_in_chinese(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(KAI, KAI, "/start")
    replies = await harness.send(KAI, KAI, "/forgetme")
    assert replies[0].startswith("要清除你的個人資料嗎？")
    await harness.press(KAI, KAI, harness.emulator.last_bot_message(KAI).message_id, index=0)
    assert harness.emulator.last_bot_message(KAI).text.startswith("完成：")


# ---------------------------------------------------------------- /privacy and retention ----


async def test_privacy_says_what_is_kept_and_why_in_the_members_language(
    harness: Harness,
) -> None:
    english = await harness.send(MIA, MIA, "/privacy")
    assert english[0].startswith("What I keep about you, and why")
    assert "Review comments: deleted after 365 days." in english[0]
    chinese = await harness.send(LEE, LEE, "/privacy")
    assert chinese[0].startswith("我保存你的哪些信息，以及原因")


async def test_the_retention_job_erases_old_review_comments_only_once(harness: Harness) -> None:
    await mia_with_history(harness)
    retention = harness.runtime.retention
    # a year less a day later, the comment is still there
    harness.clock.advance(days=364)
    assert await retention.run() == {
        "review_comment": 0,
        "suggestion_text": 0,
        "nps_comment": 0,
        "ticket_text": 0,
        "ticket_message": 0,
        "order_for": 0,
        "delivery_address": 0,
    }
    # a year and a day later it is erased, the rating kept; a second run finds nothing
    harness.clock.advance(days=2)
    assert await retention.run() == {
        "review_comment": 1,
        "suggestion_text": 0,
        "nps_comment": 0,
        "ticket_text": 0,
        "ticket_message": 0,
        "order_for": 0,
        "delivery_address": 0,
    }
    assert await retention.run() == {
        "review_comment": 0,
        "suggestion_text": 0,
        "nps_comment": 0,
        "ticket_text": 0,
        "ticket_message": 0,
        "order_for": 0,
        "delivery_address": 0,
    }
    async with harness.session() as session:
        review = (await session.execute(select(Review))).scalar_one()
        assert (review.rating, review.comment) == (5, "")
        member = await session.get(Member, MIA)
        assert member is not None and member.first_name == "Mia"  # nothing else touched


# ---------------------------------------------------------------- operators -----------------


async def test_operators_export_and_erase_from_the_command_line_audited(
    harness: Harness, tmp_path: Path
) -> None:
    from bot.cli.commands import OPERATOR_ACTOR, privacy_request

    await mia_with_history(harness)
    settings = harness.runtime.settings
    # an export writes the member's file
    assert await privacy_request(settings, "export", MIA, tmp_path, False) == 0
    document = json.loads((tmp_path / f"mydata_{MIA}.json").read_text("utf-8"))
    assert document["tables"]["member"][0]["first_name"] == "Mia"
    # erasing needs --yes, then erases
    assert await privacy_request(settings, "erase", MIA, tmp_path, False) == 2
    assert await privacy_request(settings, "erase", MIA, tmp_path, True) == 0
    assert await privacy_request(settings, "erase", 99, tmp_path, True) == 1
    async with harness.session() as session:
        member = await session.get(Member, MIA)
        assert member is not None and member.first_name.startswith("Member #")
        audited = (
            (await session.execute(select(AuditEntry).where(AuditEntry.actor_id == OPERATOR_ACTOR)))
            .scalars()
            .all()
        )
        assert [a.action for a in audited] == ["privacy.export", "privacy.forget"]


async def test_the_retention_job_deletes_old_suggestion_text(harness: Harness) -> None:
    harness.runtime.settings.text_retention_days = {"suggestion_text": 30}
    await harness.send(MIA, MIA, "/start")
    replies = await harness.send(MIA, MIA, "/suggest A jasmine tea in a smaller tin, please")
    assert replies == ["Thank you! Suggestion #1 is with the brand team; you will hear back."]
    retention = harness.runtime.retention
    harness.clock.advance(days=29)
    assert (await retention.run())["suggestion_text"] == 0
    harness.clock.advance(days=2)
    assert (await retention.run())["suggestion_text"] == 1
    async with harness.session() as session:
        suggestion = (await session.execute(select(Suggestion))).scalar_one()
    assert suggestion.text == "" and suggestion.member_id == MIA


# ---------------------------------------------------------------- leftovers (#27) ----------


async def test_forgetme_scrubs_staff_searches_naming_the_member_from_the_audit_log(
    harness: Harness,
) -> None:
    # given staff looked Mia up by name: her statement, and a dashboard search recorded by it
    await mia_with_history(harness)
    await harness.send(SAM, SAM, "/statement @mia")
    async with harness.session() as session, session.begin():
        session.add(
            AuditEntry(
                actor_id=SAM,
                chat_id=None,
                action="dashboard.export",
                allowed=True,
                detail="members 2026-11-01_2026-11-30 groups=all q=mia",
            )
        )
        session.add(AuditEntry(actor_id=SAM, chat_id=None, action="x", allowed=True, detail="Mial"))
    # when Mia has herself forgotten
    await harness.send(MIA, MIA, "/forgetme")
    await harness.press(MIA, MIA, harness.emulator.last_bot_message(MIA).message_id, index=0)
    # then no audit line names her any more: each search says her pseudonym instead
    async with harness.session() as session:
        pseudonym = (await session.get(Member, MIA)).first_name  # type: ignore[union-attr]
        details = (await session.execute(select(AuditEntry.detail))).scalars().all()
    assert not [d for d in details if re.search(r"(?<!\w)@?mia(?!\w)", d, re.IGNORECASE)]
    assert f"q={pseudonym}" in " ".join(details)
    assert any(f"@{pseudonym}" in d or pseudonym in d for d in details if d.startswith("of "))
    # a word that merely starts like her name is left alone
    assert "Mial" in details


async def test_a_gift_names_its_giver_only_when_signed_and_never_by_id(harness: Harness) -> None:
    # given Mia with points, and Lee who talks to the bot
    await harness.join_groups()
    for user in (MIA, LEE):
        await harness.send(user, user, "/start")
    await harness.send(MIA, TEA, "/checkin")
    # when Mia gives Lee points unsigned, then signed
    await harness.send(MIA, MIA, "/gift @lee 2")
    unsigned = harness.emulator.last_bot_message(LEE).text
    await harness.send(MIA, MIA, "/gift @lee 1 signed")
    signed = harness.emulator.last_bot_message(LEE).text
    # then Lee is told of "a member" first (in Chinese, his language), of Mia once she signed
    assert unsigned == "有成员送了你 2 积分。查看 /points。"
    assert signed.startswith("Mia")
    # and Lee's /mydata names the giver the same way, never by her Telegram id
    _replies, document = await mydata_document(harness, LEE)
    gifts = [m["memo"] for m in document["ledger_movements"] if m["transaction"] == "points_gift"]
    assert gifts == ["gift from a member", "gift from Mia"]
    assert str(MIA) not in json.dumps(document["ledger_movements"])
    # while Mia's own export says she gave them
    _replies, hers = await mydata_document(harness, MIA)
    given = [m["memo"] for m in hers["ledger_movements"] if m["transaction"] == "points_gift"]
    assert given == ["gift given", "gift given"]
