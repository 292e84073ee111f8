"""The playground's scripted mode replays a scenario and prints the transcript."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from bot.cli.playground import run_playground
from tests.conftest import make_settings
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
        "    [1] 📦 My orders  [2] ✅ Check in  [3] ⭐ Points and perks  [4] 🤝 Invite friends"
        "  [5] 🎟 Coupons  [6] 🔔 Offers  [7] ❓ Help  [8] 🌐 Language",
        # she opens Points and perks: the menu message turns into it, with Back
        "(alice presses [3] ⭐ Points and perks)",
        "[alice (private)] bot (edited): Alice\n    Tier: Member\n    Points: 0",
        "[1] 🎁 Rewards  [2] 📜 Points history  [3] 🏅 Tiers  [4] ⬅️ Back",
        "(alice presses [4] ⬅️ Back)",
        "[alice (private)] bot (edited): Hi Alice!",
        # text the bot does not understand gets a hint with the menu
        "alice@alice (private)> hello",
        "[alice (private)] bot: I didn't understand that. Here is what I can do:",
        "    [1] 📦 My orders  [2] ✅ Check in",
        # bob's app is in Simplified Chinese; he switches to Traditional
        "[bob (private)] bot: 你好，Bob！",
        "(bob presses [3] 繁體中文)",
        "[bob (private)] bot (edited): 好的：我會用繁體中文和你交談。",
        # carol, a leader, changes Tea Lovers to Simplified Chinese and Shanghai time
        "carol@Tea Lovers> /settings",
        "[Tea Lovers] bot: Settings of Tea Lovers",
        "    (popup) 已保存。",
        "[Tea Lovers] bot (edited): Tea Lovers的设置",
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
        "    (popup) You are #1, quantity 2.",  # the tap's answer is dan's: in his language
        "[bob (private)] bot: 你已參加Oolong tea：數量 1，你是第 2 位。",
        "    (popup) 你是第 2 位，數量 1。",
        "[Tea Lovers] bot: #1 Oolong tea — 已接 3 件",
        "    1. Dan ×2",
        "    2. Bob ×1",
        # dan buys moon cakes in Telegram Stars and pays the invoice
        "[bob (private)] bot: 商品 #2 已建立：Moon cake，⭐ 25。",
        "dan@dan (private)> /buy 2 2",
        "[dan (private)] bot: 🧾 Moon cake\n    Order #1: Moon cake ×2\n    [Pay ⭐ 50]",
        "dan@dan (private)> :pay",
        "(dan pays ⭐ 50 for Moon cake)",
        "[dan (private)] bot: Thank you! Order #1 is paid: ⭐ 50.",
        "[dan (private)] bot: Order #1 earned you 50 points.",
        # bob, staff, refunds it: the Stars go back and dan is told at once
        "bob@bob (private)> /refund 1",
        "[bob (private)] bot: 訂單 #1 的 ⭐ 50 退款已入帳，Telegram 正在把星星退還給會員。",
        "[dan (private)] bot: Order #1 was refunded: ⭐ 50.",
        "dan@dan (private)> /wallet",
        "    Points: 0",
        "+⭐ 50  Refund received",
    ]
    in_order(transcript, expected_in_order)


def in_order(transcript: str, expected: list[str]) -> None:
    position = 0
    for line in expected:
        found = transcript.find(line, position)
        assert found >= 0, f"missing or out of order: {line!r}\n--- transcript ---\n{transcript}"
        position = found + len(line)


async def test_pay_pays_the_newest_invoice_through_the_bots_checkout(tmp_path: Path) -> None:
    script = tmp_path / "pay.txt"
    script.write_text(
        "\n".join(
            [
                ":pay",
                ":user bob",
                "/start",
                ":user alice",
                "/product_add Moon cake | 25 XTR | stock 5 | telegram",
                ":user dan",
                "/start",
                "/buy 1 2",
                ":pay",
                ":pay",
                "/language",
                ":press 2",
                "/buy 1",
                ":pay",
            ]
        ),
        encoding="utf-8",
    )
    lines: list[str] = []
    settings = make_settings(strict_transactions=True)
    assert await run_playground(settings, script=script, write=lines.append) == 0
    in_order(
        "\n".join(lines),
        [
            # nothing to pay yet
            "alice@alice (private)> :pay",
            "no invoice to pay: order a product sold in Telegram Stars with /buy first",
            # dan pays his invoice: the bot agrees, then the Stars arrive and he is thanked
            "dan@dan (private)> :pay",
            "(dan pays ⭐ 50 for Moon cake)",
            "[dan (private)] bot: Thank you! Order #1 is paid: ⭐ 50.",
            # paying it again is refused in the payment window, with the bot's reason
            "dan@dan (private)> :pay",
            "    (payment window) This order is already paid.",
            # in Simplified Chinese, a second order is paid the same way
            "(dan presses [2] 简体中文)",
            "[dan (private)] bot: 🧾 Moon cake\n    订单 #2：Moon cake ×1",
            "(dan pays ⭐ 25 for Moon cake)",
            "[dan (private)] bot: 谢谢！订单 #2 已付款：⭐ 25。",
        ],
    )
    assert not [line for line in lines if "Traceback" in line]


async def test_wait_lets_reservations_be_reminded_and_expire() -> None:
    lines: list[str] = []
    settings = make_settings(strict_transactions=True)
    script = ROOT / "scenarios" / "reservations.txt"
    assert await run_playground(settings, script=script, write=lines.append) == 0
    in_order(
        "\n".join(lines),
        [
            "[Tea Lovers] bot: Order #1 reserved: Oolong tea ×3, CN¥107.70.",
            "    Held for you until ",
            "(37 hours pass)",
            # bob reads Simplified Chinese; each is reminded once, with a cancel button
            "[bob (private)] bot: 提醒：你的预留 #2",
            "[dan (private)] bot: Reminder: your reservation #1 (Oolong tea ×3, CN¥107.70)",
            "(bob presses [1] ❌ 取消 #2)",
            "    (popup) 预留 #2 已取消，库存已重新开放购买。",
            "dan@dan (private)> /reservations",
            "    #1 Oolong tea ×3 · CN¥107.70 · until ",
            "(12 hours pass)",
            "[dan (private)] bot: Your reservation #1 (Oolong tea ×3) was not paid by ",
            "carol@Tea Lovers> /paid @dan",
            "[Tea Lovers] bot: Dan's reservation #1 expired unpaid at ",
            "[Tea Lovers] bot: No open orders in this group.",
        ],
    )
    assert "wait a number of hours" not in "\n".join(lines)


def test_the_approval_script_shows_a_strangers_group_waiting_for_staff() -> None:
    result = run_cli("playground", "--script", str(ROOT / "scenarios" / "approval.txt"))
    assert result.returncode == 0, result.stderr
    transcript = result.stdout
    assert "Traceback" not in transcript + result.stderr
    expected_in_order = [
        # dan adds the bot to his own group: alice gets the review card, the group waits
        "[alice (private)] bot: 🆕 A new group is waiting for approval: Matcha Fans (-100300)",
        "    [1] ✅ Approve  [2] ✖️ Decline",
        "I have asked the brand's staff to review this one",
        "dan@Matcha Fans> /groupbuy 1 24h min=2 stock=10",
        "[Matcha Fans] bot: This group is not open for group-buys, check-ins, points and "
        "referral rewards yet",
        "bob@Matcha Fans> /checkin",
        "[Matcha Fans] bot: This group is not open",
        # alice approves: the card shows it, the group is told, and the commands work
        "(alice presses [1] ✅ Approve)",
        "✅ Matcha Fans (-100300) is approved. I have told the group.",
        "[Matcha Fans] bot: 🎉 The brand has approved this group!",
        "[Matcha Fans] bot: 🛒 Oolong tea",
        "[Matcha Fans] bot: Bob checked in",
        # alice suspends Tea Lovers: its group-buy is cancelled, and check-ins are refused
        "(alice presses [3] ⏸ Suspend Tea Lovers)",
        "(alice presses [1] ⏸ Yes, suspend it)",
        "⏸ Tea Lovers (-100100) is suspended. Open group-buys cancelled and refunded: 1.",
        "[Tea Lovers] bot: The brand has paused business in this group for now",
        "bob@Tea Lovers> /checkin",
        "[Tea Lovers] bot: The brand has paused business in this group for now",
        # and reinstates it
        "(alice presses [3] ▶️ Reinstate Tea Lovers)",
        "▶️ Tea Lovers (-100100) is approved again. I have told the group.",
    ]
    position = 0
    for expected in expected_in_order:
        found = transcript.find(expected, position)
        assert found >= 0, f"{expected!r} not found in order in:\n{transcript}"
        position = found + len(expected)


async def test_the_my_orders_script_pays_and_cancels_from_the_list_in_both_languages() -> None:
    lines: list[str] = []
    settings = make_settings(strict_transactions=True)
    script = ROOT / "scenarios" / "myorders.txt"
    assert await run_playground(settings, script=script, write=lines.append) == 0
    in_order(
        "\n".join(lines),
        [
            # bob joined before starting the bot: his unpaid place waits in 我的订单
            "    [1] 📦 我的订单  [2] ✅ 签到  [3] ⭐ 积分与权益",
            # the menu turns into his list, in place, with Back
            "[bob (private)] bot (edited): 📦 我的订单 · 第 1–1 条，共 1 条",
            "       取货：茶馆 周六 10:00",
            "    [1] 💳 付款 #1  [2] ❌ 取消 #1  [3] 👤 代订 #1  [4] ⬅️ 返回",
            "    [Pay ⭐ 30]  (type :pay to pay it)",
            "[bob (private)] bot: 谢谢！订单 #1 已付款：⭐ 30。",
            # dan cancels his reservation from his list, which shows it in place
            "[dan (private)] bot: 📦 Your orders · 1–1 of 1",
            "(dan presses [1] ❌ Cancel #2)",
            "       cancelled",
            "    (popup) Order #2 cancelled; its stock is back on sale.",
            # formed: bob is told where to pick up
            "[bob (private)] bot: Moon cake成团啦！你已付款，取货时见。",
            "    取货：茶馆 周六 10:00",
        ],
    )
    assert not [line for line in lines if "Traceback" in line]


def test_the_newcomers_script_shows_an_ephemeral_confirmation_and_a_join_button() -> None:
    result = run_cli("playground", "--script", str(ROOT / "scenarios" / "newcomers.txt"))
    assert result.returncode == 0, result.stderr
    transcript = result.stdout
    assert "Traceback" not in transcript + result.stderr
    expected_in_order = [
        # dan never started the bot: his confirmation is in the group, for him alone
        "(dan presses [1] Join ×1)",
        "[Tea Lovers] bot (only dan sees this): Dan, you joined Oolong tea: quantity 1, you are "
        "#1. Only you see this message.",
        "    [1] Open the bot",
        "(dan presses [1] Open the bot)",
        "(dan opens the bot: https://t.me/community_bot?start=gb-1)",
        "[dan (private)] bot: You joined Oolong tea: quantity 1, you are #1.",
        # bob started it: his confirmation comes in private, nothing in the group
        "(bob presses [1] Join ×1)",
        "[bob (private)] bot: 你已参加Oolong tea：数量 1，你是第 2 位。",
        # erin follows bob's invitation and is one tap from Tea Lovers
        "(erin opens the bot: https://t.me/community_bot?start=",
        "[erin (private)] bot: 你通过Bob的邀请加入。\n    点击下方按钮加入Tea Lovers。",
        "    [1] 加入Tea Lovers",
        "(erin joins Tea Lovers)",
        "[Tea Lovers] bot: Welcome to Tea Lovers, Erin!",
    ]
    position = 0
    for expected in expected_in_order:
        found = transcript.find(expected, position)
        assert found >= 0, f"{expected!r} not found in order in:\n{transcript}"
        position = found + len(expected)
    assert "(only bob sees this)" not in transcript


def test_the_rewards_script_confirms_redeems_and_hands_over() -> None:
    result = run_cli("playground", "--script", str(ROOT / "scenarios" / "rewards.txt"))
    assert result.returncode == 0, result.stderr
    transcript = result.stdout
    assert "Traceback" not in transcript + result.stderr
    expected_in_order = [
        # dan is asked first, cancels, then confirms
        "[dan (private)] bot: Redeem “Tea sample” for 5 points? You will have 0 points left.",
        "    Cancelled: nothing was redeemed.",
        "(dan presses [1] ✅ Confirm)",
        "[bob (private)] bot: 🎁 Dan兑换了Tea sample：请交给对方，并在 /fulfil 中标记。",
        "Our staff will hand it to you and I will tell you when they have.",
        # the coupon reward says where the coupon is
        "Your coupon SAVE10 is in /coupons: use it with /usecoupon SAVE10",
        "🎟 SAVE10: 10% off",
        # bob, staff, hands it over from /fulfil in Chinese; dan is told
        "[bob (private)] bot: 待交付的奖品（共 1 项）",
        "    [1] ✅ 已交给Dan：Tea sample",
        "[bob (private)] bot (edited): 目前没有待交付的奖品。",
        "[dan (private)] bot: 🎁 Your Tea sample has been handed over to you. Enjoy!",
    ]
    position = 0
    for line in expected_in_order:
        found = transcript.find(line, position)
        assert found >= 0, line
        position = found + len(line)


async def test_the_photos_script_shows_the_photo_in_products_and_on_the_card() -> None:
    lines: list[str] = []
    settings = make_settings(strict_transactions=True)
    script = ROOT / "scenarios" / "photos.txt"
    assert await run_playground(settings, script=script, write=lines.append) == 0
    in_order(
        "\n".join(lines),
        [
            # alice sends a photo at the wizard's photo step
            "[alice (private)] bot: Send a photo of it.",
            "alice@alice (private)> :photo",
            "(alice sends a photo, 640×480)",
            "[alice (private)] bot: The price and currency",
            "[alice (private)] bot: Product #1 created: Oolong tea, CN¥39.90.",
            # /products: the photo with its card as caption, then the count
            "[alice (private)] bot: 🖼️ [photo 640×480]\n    #1 Oolong tea\n    CN¥39.90 · 20 left\n"
            "    Spring harvest from Anxi",
            "[alice (private)] bot: Products on sale: 1 in all. Order with /buy ID QUANTITY.",
            # the group-buy card is the photo; the description is on it
            "[Tea Lovers] bot: 🖼️ [photo 640×480]\n    🛒 Oolong tea\n    Spring harvest from Anxi",
            "    [1] Join ×1  [2] Join ×2  [3] Join ×3  [4] −1  [5] Leave  [6] Details",
            "(25 hours pass)",
            # formed: the photo's caption is edited, the buttons are gone
            "[Tea Lovers] bot (edited): 🖼️ [photo 640×480]\n    🛒 Oolong tea",
            "    ✅ Formed! Orders are open for payment and pickup.",
            "[Tea Lovers] bot: #1 Oolong tea formed: 3 sold at CN¥39.90 each!",
        ],
    )
    assert not [line for line in lines if "Traceback" in line or "not edited" in line]


async def test_the_pickup_points_script_picks_up_by_a_scanned_code_once() -> None:
    lines: list[str] = []
    settings = make_settings(strict_transactions=True)
    script = ROOT / "scenarios" / "pickup_points.txt"
    assert await run_playground(settings, script=script, write=lines.append) == 0
    transcript = "\n".join(lines)
    in_order(
        transcript,
        [
            "Pickup point #1 added.",
            "Dan now keeps pickup point #1 Shop A",
            # bob chooses Shop A, then his pickup code comes as a QR code with the point
            "[1] 🛟 #1 有问题  [2] 🔳 提货码 #1  [3] 📍 选择自提点 #1",
            "你将在 Shop A 提取订单 #1。",
            "    自提点：Shop A，12 Main St",
            "[bob (private)] bot: 🖼️ [photo",
            # dan scans it: picked up once, bob is told; the second scan is refused
            "(dan scans bob's pickup QR code:",
            "[dan (private)] bot: ✅ Picked up: order #1 Oolong tea ×2. Hand it over.",
            "This code was used already: order #1 was picked up on",
            "Waiting: 0 · picked up: 1",
        ],
    )
    assert transcript.count("✅ Picked up: order #1") == 1
    assert not [line for line in lines if "Traceback" in line]


async def test_pay_gives_an_address_when_the_invoice_asks_one(tmp_path: Path) -> None:
    script = tmp_path / "pay_address.txt"
    script.write_text(
        "\n".join(
            [
                ":user alice",
                "/shipping_option_add SF Express | 12 CNY | CN",
                "/product_add Oolong tea | 35.90 CNY | telegram",
                "/product_set 1 delivery delivery",
                ":user dan",
                "/start",
                "/buy 1",
                ":pay",
                ":pay US, New York, 1 Main St, 10001",
                "/buy 1",
                ":pay CN, Shenzhen, 1 Tea Road, 518000",
            ]
        ),
        encoding="utf-8",
    )
    lines: list[str] = []
    settings = make_settings(
        strict_transactions=True, payment_provider_token=SecretStr("284685063:TEST:abc")
    )
    assert await run_playground(settings, script=script, write=lines.append) == 0
    in_order(
        "\n".join(lines),
        [
            # the invoice asks an address: :pay alone says how to give it
            "dan@dan (private)> :pay",
            "this invoice asks an address: :pay COUNTRY, city, street, post code",
            # an address the brand does not ship to is refused in the payment window
            "    (payment window) Sorry, we do not ship to US.",
            # one it ships to is offered the brand's option, and paid with it
            "    (payment window) shipping: SF Express, CN¥12.00",
            "[dan (private)] bot: Thank you! Order #2 is paid: CN¥47.90.",
        ],
    )
    assert not [line for line in lines if "Traceback" in line]


def test_the_waitlist_script_offers_a_freed_unit_in_turn_in_each_language() -> None:
    result = run_cli("playground", "--script", str(ROOT / "scenarios" / "waitlist.txt"))
    assert result.returncode == 0, result.stderr
    transcript = result.stdout
    assert "Traceback" not in transcript + result.stderr
    expected_in_order = [
        # bob takes the only unit: the card grows the waitlist button at once
        "(bob presses [1] Join ×1)",
        "    [1] 🔔 Notify me / join the waitlist  [2] −1  [3] Leave  [4] Details",
        "(dan presses [1] 🔔 Notify me / join the waitlist)",
        "[dan (private)] bot: You are #1 on the waitlist.",
        "(erin presses [1] 🔔 Notify me / join the waitlist)",
        "[erin (private)] bot: 你在候补第 2 位。",
        "#1 Osmanthus oolong — 1 sold · 2 on the waitlist",
        # bob gives it back: dan is offered it first, and lets it lapse
        "(bob presses [2] −1)",
        "[dan (private)] bot: Good news: 1 unit of Osmanthus oolong freed up, and you are first "
        "on the waitlist. Accept within 30 minutes to order;",
        "(1 hours pass)",
        "[dan (private)] bot: Your offer for Osmanthus oolong lapsed",
        "[erin (private)] bot: 好消息：Osmanthus oolong空出了 1 件，你排在候补第一位。",
        "(erin presses [1] ✅ 接受)",
        "[erin (private)] bot: 你已参加Osmanthus oolong：数量 1，你是第 1 位。",
        "#1 Osmanthus oolong — 1 sold\n    1. Erin ×1",
    ]
    position = 0
    for expected in expected_in_order:
        found = transcript.find(expected, position)
        assert found >= 0, f"{expected!r} not found in order in:\n{transcript}"
        position = found + len(expected)


async def test_the_reviews_script_moderates_shares_and_rates_a_photo_review() -> None:
    lines: list[str] = []
    settings = make_settings(strict_transactions=True)
    script = ROOT / "scenarios" / "reviews.txt"
    assert await run_playground(settings, script=script, write=lines.append) == 0
    in_order(
        "\n".join(lines),
        [
            "[dan (private)] bot: Added to your review of order #1 (photos: 2/5).",
            "[alice (private)] bot: Reviews waiting: 1. The oldest come first.",
            "(alice presses [1] ✅ Approve)",
            "Your photos earned you 50 points.",
            "(dan presses [1] 📣 Share it in my group)",
            "[Tea Lovers] bot: 🖼️ [photo 640×480]\n    📸 A member's review",
            "    ⭐ 5.0 (1 review)",
            "    [1] ⭐ Reviews (1)",
        ],
    )
    assert not [line for line in lines if "Traceback" in line]


def test_the_membership_script_subscribes_renews_lapses_and_cancels() -> None:
    result = run_cli("playground", "--script", str(ROOT / "scenarios" / "membership.txt"))
    assert result.returncode == 0, result.stderr
    transcript = result.stdout
    assert "Traceback" not in transcript + result.stderr
    expected_in_order = [
        "Membership plan #1 is for sale: Gold club: ⭐ 300 a month, grants tier Gold.",
        # bob (Simplified Chinese) subscribes through the link button's payment window
        "    [1] ⭐ 订阅：Gold club  [2] ⬅️ 返回",
        "[bob (private)] bot: 在这里订阅 Gold club。",
        "(bob opens the payment: https://t.me/$EMU",
        "[bob (private)] bot: 欢迎加入 Gold club！",
        "(Telegram charges bob for the next month)",
        "[bob (private)] bot: 你的会员 Gold club 已续费 ⭐ 300",
        "(Telegram could not charge bob: no Stars)",
        "Telegram 未能为你的会员 Gold club 续费。",
        # the month runs out: Gold goes
        "[bob (private)] bot: 你的会员 Gold club 已到期",
        "    等级：普通会员",
        # Telegram retries, then bob cancels from the bot and Telegram charges no more
        "[bob (private)] bot: 你的会员 Gold club 已续费 ⭐ 300",
        "(bob presses [1] 取消 Gold club)",
        "[bob (private)] bot: 你的会员 Gold club 将不再续费。",
        "    (Telegram) the subscription was cancelled by the bot",
        "[bob (private)] bot: 你的会员 Gold club 已到期",
        "Plan #1 Gold club is switched off: no longer sold, and renewals stop;",
    ]
    position = 0
    for line in expected_in_order:
        found = transcript.find(line, position)
        assert found >= 0, line
        position = found + len(line)


def test_the_jielong_script_takes_a_pasted_list_and_orders_by_reply() -> None:
    result = run_cli("playground", "--script", str(ROOT / "scenarios" / "jielong.txt"))
    assert result.returncode == 0, result.stderr
    transcript = result.stdout
    assert "Traceback" not in transcript + result.stderr
    expected_in_order = [
        # the pasted list is read, its unreadable line named, and opened on confirm
        "📝 Sign-up list: 今日水果",
        "2. 蓝莓 125g · CN¥25.00 · 4 in stock · min 3",
        "Line 6 4. 菠萝: no price I can read",
        "Sign-up list #1 opened: its card follows.",
        # replies to the card order several items at once; bad ones are refused
        "(bob replies to the message with buttons)",
        "Bob, your order: 1. 草莓 2斤 ×2, 3. 西瓜 半个 ×1 · CN¥97.80 · you are #1.",
        "2. 蓝莓 125g: at most 3 per member.",
        "There is no item 7 on this list.",
        "(popup) Your order: 2. 蓝莓 125g ×1 · CN¥25.00 · #2",
        "Dan, your order: 1. 草莓 2斤 ×3 · CN¥119.70 · you are #3.",
        "1. Bob: 1. 草莓 2斤 ×2, 3. 西瓜 半个 ×1",
        # at the deadline, item by item: each line an order, blueberries did not form
        "[bob (private)] bot: 今日水果成团了！你的订单：",
        "合计 ¥97.80。取货时付给团长。",
        "Not formed (below their minimum): 2. 蓝莓 125g (1/3)",
    ]
    position = 0
    for expected in expected_in_order:
        found = transcript.find(expected, position)
        assert found >= 0, f"{expected!r} not found in order in:\n{transcript}"
        position = found + len(expected)


def test_the_catalogue_jielong_script_sells_the_catalogues_products() -> None:
    result = run_cli("playground", "--script", str(ROOT / "scenarios" / "jielong_catalogue.txt"))
    assert result.returncode == 0, result.stderr
    transcript = result.stdout
    assert "Traceback" not in transcript + result.stderr
    expected_in_order = [
        # the catalogue's products are read by their names, bad lines explained
        "1. Tea 250g (#1) · CN¥79.00 · 4 in stock",
        "4. Cups (#2) · CN¥20.00 · 9 in stock",
        "Line 7 5. #1:500g: #1 Tea has no variant 500g. Its variants: 100g, 250g",
        "Line 8 6. #9: there is no product #9 in the catalogue",
        "Line 9 7. #3 ¥15: only staff change a catalogue price",
        "Bob, your order: 1. Tea 250g ×2, 3. Melon half ×1 · CN¥176.00 · you are #1.",
        "1. Tea 250g is sold out.",
        # the list holds the catalogue's stock while open
        "• 250g · CN¥79.00 · sold out",
        "#1 Tea · 250g ×2：¥158.00",
        "#5 Dan · Cups ×3 · CN¥60.00 · reserved",
        # in Simplified Chinese
        "1. Tea 100g (#1) · ¥35.90 · 库存 2",
        "第 5 行 3. #1：请写明 #1 Tea 的一个规格",
        "Bob，你的订单：1. Tea 100g ×2、2. 蜂蜜 ×1 · ¥116.80 · 你是第 1 位。",
        "#7 蜂蜜 ×1：¥45.00",
        # the stock not sold is back in the catalogue
        "#3 蜂蜜\n    ¥45.00 · 剩 5 件",
        "• 100g · ¥35.90 · 剩 2 件",
    ]
    position = 0
    for expected in expected_in_order:
        found = transcript.find(expected, position)
        assert found >= 0, f"{expected!r} not found in order in:\n{transcript}"
        position = found + len(expected)


async def test_a_card_posted_after_wait_still_shows_each_join(tmp_path: Path) -> None:
    # given hours passed on the bot's clock before a group-buy was opened
    script = tmp_path / "card.txt"
    script.write_text(
        "\n".join(
            [
                "/product_add Oolong tea | 35.90 CNY | stock 20",
                ":wait 3",
                ":user carol",
                ":chat tea",
                "/groupbuy 1 24h min=2 stock=10",
                ":user dan",
                ":press 1",
            ]
        ),
        encoding="utf-8",
    )
    lines: list[str] = []
    settings = make_settings(strict_transactions=True)
    assert await run_playground(settings, script=script, write=lines.append) == 0
    # then dan's join shows on the card, as it would had no time passed
    in_order(
        "\n".join(lines),
        [
            "(3 hours pass)",
            "    Progress: 0/2 people",
            "(dan presses [1] Join ×1)",
            "[Tea Lovers] bot (edited): 🛒 Oolong tea",
            "    Progress: 1/2 people",
        ],
    )
