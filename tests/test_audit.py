"""The audit log in the reader's words: every action code the code records has a translated
label, and a Simplified Chinese /audit shows no English word its reader did not type."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest
from aiogram.utils.i18n import I18n

from handlers.views.audit import ACTION_LABELS, OVERRIDE, action_label, detail_text
from services.broadcast import TRANSITIONS
from tests.conftest import LEE, MIA, OWNER, TEA, Harness

ROOT = pathlib.Path(__file__).resolve().parent.parent
CODE = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
# code-like strings that are not audit actions: file and template names, hosts, loggers, a
# package, dashboard column keys, metric names, a model column
NOT_ACTIONS = re.compile(
    r"\.(csv|png|jpg|json|ini|py|me|html|svg)$"
    r"|^(aiogram\.event|member\.id|ledger\.accounts_\w+|bot\.web)$"
    r"|\.(status|kind|resolution|delivery_state)$"
)


@pytest.fixture
def i18n() -> I18n:
    return I18n(path=ROOT / "locales", default_locale="en", domain="messages")


def recorded_codes() -> set[str]:
    """Every string in bot/, handlers/ and services/ that reads like an action code
    ("groupbuy.open"): what record_action and RoleFilter are given, however they are reached."""
    codes = set()
    for package in ("bot", "handlers", "services"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and CODE.match(node.value)
                    and not NOT_ACTIONS.search(node.value)
                ):
                    codes.add(node.value)
    # built at run time: f"broadcast.{action}" from the broadcast controls
    codes |= {f"broadcast.{action}" for action in TRANSITIONS}
    return codes


def test_every_recorded_action_code_has_a_label() -> None:
    codes = recorded_codes()
    assert len(codes) > 100  # the grep found them (a broken grep finds none and passes)
    assert sorted(codes - set(ACTION_LABELS)) == []


def test_labels_are_translated_into_chinese_without_latin_letters(i18n: I18n) -> None:
    for locale in ("zh_Hans", "zh_Hant"):
        with i18n.context(), i18n.use_locale(locale):
            english = {code: action_label(code) for code in ACTION_LABELS}
            english |= {"groupbuy.open" + OVERRIDE: action_label("groupbuy.open" + OVERRIDE)}
            assert {c: t for c, t in english.items() if re.search("[A-Za-z]", t)} == {}


def test_detail_words_are_translated_and_what_people_typed_is_not(i18n: I18n) -> None:
    with i18n.context(), i18n.use_locale("zh_Hans"):
        assert detail_text("payout 7 of 1004: 1500 CNY") == "提现 7 属于 1004: 1500 CNY"
        assert detail_text("order #5 (mini app)") == "订单 #5 (小程序)"
        assert detail_text("#3 findings=best reason=legal said ok to send") == (
            "#3 敏感词：best reason=legal said ok to send"
        )
        assert detail_text("1004: moved to the north of town") == "1004: moved to the north of town"
    with i18n.context(), i18n.use_locale("en"):
        assert action_label("groupbuy.open") == "Open a group-buy"
        assert action_label("groupbuy.open.override") == (
            "Open a group-buy, despite the wording check"
        )
        assert action_label("future.thing") == "future.thing"  # unknown: shown as stored


async def test_a_chinese_owner_reads_the_audit_log_in_chinese(harness: Harness) -> None:
    # given refused and allowed privileged actions in Tea Lovers
    await harness.join_groups()
    await harness.send(MIA, TEA, "/settings")
    await harness.send(LEE, TEA, "/settings language zh_Hans")
    await harness.send(OWNER, OWNER, "/grant_staff @mia")
    # and an owner who reads Simplified Chinese
    await harness.send(OWNER, OWNER, "/language")
    picker = harness.emulator.last_bot_message(OWNER)
    await harness.press(OWNER, OWNER, picker.message_id, index=1)
    # when she reads the audit log
    log = (await harness.send(OWNER, OWNER, "/audit"))[0]
    # then every action is named in Chinese: no Latin letter in any label
    lines = log.splitlines()
    assert lines[0].startswith("特权操作")
    rows = lines[1:]
    assert len(rows) >= 4
    # (a row: mark, time, actor's name and id, label, then where and detail after a space; a
    # Chinese label holds no space)
    prefix = re.compile(r"^[✅⛔] [\d-]+ [\d:]+(?: [^\d\s]\S*)? \S+（\d+） ")
    labels = [prefix.sub("", row).split(" ")[0] for row in rows]
    assert "打开群设置" in labels and "添加工作人员" in labels and "已添加工作人员" in labels
    assert [label for label in labels if re.search("[A-Za-z]", label)] == []
    assert "community.settings" not in log and "staff.grant" not in log
    # and the actors are named, the id after the name as Chinese writes it
    assert f"Mia（{MIA}）" in log
