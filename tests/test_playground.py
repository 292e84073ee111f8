"""The playground's scripted mode replays a scenario and prints the transcript."""

from __future__ import annotations

from pathlib import Path

from tests.test_config import run_cli

ROOT = Path(__file__).resolve().parent.parent


def test_the_tour_script_prints_the_conversation() -> None:
    result = run_cli("playground", "--script", str(ROOT / "scenarios" / "tour.txt"))
    assert result.returncode == 0, result.stderr
    transcript = result.stdout
    assert "Traceback" not in transcript + result.stderr
    expected_in_order = [
        # the bot greets both groups when it is added
        "[Tea Lovers] bot: Hello, Tea Lovers!",
        "[Coffee Club] bot: Hello, Coffee Club!",
        # alice (English) starts the bot
        "alice@alice (private)> /start",
        "[alice (private)] bot: Hi Alice!",
        "    [1] ❓ Help  [2] 🌐 Language  [3] 🔔 Offers",
        # bob's app is in Simplified Chinese; he switches to Traditional
        "[bob (private)] bot: 你好，Bob！",
        "(bob presses [3] 繁體中文)",
        "[bob (private)] bot (edited): 好的：我會用繁體中文和你交談。",
        # carol, a leader, changes Tea Lovers to Simplified Chinese and Shanghai time
        "carol@Tea Lovers> /settings",
        "[Tea Lovers] bot: Settings of Tea Lovers",
        "    (popup) 已保存。",
        "[Tea Lovers] bot (edited): Tea Lovers 的设置",
        "时区：Asia/Shanghai",
        # bob is refused, in the group's language
        "bob@Tea Lovers> /settings",
        "[Tea Lovers] bot: 抱歉，只有本群的团长可以这样做。",
        # the owner makes bob staff; bob is told in Traditional Chinese
        "alice@alice (private)> /grant_staff @bob",
        "[alice (private)] bot: Bob (102) is now brand staff.",
        "[bob (private)] bot: 你現在是品牌員工了。",
        "bob@bob (private)> /staff",
        "[bob (private)] bot: 品牌員工：",
        # a group-buy in Tea Lovers (which now speaks Simplified Chinese), joined by two
        "[bob (private)] bot: 商品 #1 已建立：Oolong tea，CN¥39.90。",
        "[Tea Lovers] bot: 🛒 Oolong tea",
        "[1] 参团 ×1  [2] 参团 ×2  [3] 参团 ×3  [4] −1  [5] 退出  [6] 详情",
        "(dan presses [2] 参团 ×2)",
        "    (popup) 你是第 1 位，数量 2。和我私聊就能收到确认消息。",
        "[bob (private)] bot: 你已參加 Oolong tea：數量 1，你是第 2 位。",
        "[Tea Lovers] bot: #1 Oolong tea — 已接 3 件",
        "    1. Dan ×2",
        "    2. Bob ×1",
    ]
    position = 0
    for line in expected_in_order:
        found = transcript.find(line, position)
        assert found >= 0, f"missing or out of order: {line!r}\n--- transcript ---\n{transcript}"
        position = found + len(line)
