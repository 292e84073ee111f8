"""Reading one-line options (`key=value`), with the keys and values a Chinese-speaking
leader types.
"""

from __future__ import annotations

import re

from services.parsing._common import normalize

# the words a Chinese-speaking leader types for the keys of one-line options (/groupbuy,
# /drop, /poll_presale), Simplified and Traditional, each for its English key
OPTION_ALIASES: dict[str, str] = {
    **dict.fromkeys(("阶梯", "階梯", "阶梯价", "階梯價", "价格", "價格"), "tiers"),
    **dict.fromkeys(("成团", "成團", "最少", "起团", "起團", "起订", "起訂"), "min"),
    **dict.fromkeys(("成团方式", "成團方式"), "form"),
    **dict.fromkeys(("库存", "庫存", "数量", "數量"), "stock"),
    **dict.fromkeys(("限购", "限購", "每人限购", "每人限購"), "limit"),
    **dict.fromkeys(("会员优先", "會員優先", "优先", "優先"), "vip"),
    **dict.fromkeys(("自提", "取货", "取貨", "自取", "提货", "提貨"), "pickup"),
    **dict.fromkeys(("截止", "截止时间", "截止時間", "结束", "結束", "deadline"), "deadline"),
    **dict.fromkeys(("配送", "配送方式", "交付", "delivery"), "delivery"),
    # an A/B test's hold-out share (/care_add)
    **dict.fromkeys(("对照", "對照", "对照组", "對照組", "留出"), "holdout"),
    **dict.fromkeys(("等级", "等級", "群等级", "群等級", "层级", "層級"), "level"),
    # /trial_new: places, whom to invite, what the report rates, when it is due
    **dict.fromkeys(("名额", "名額", "人数", "人數"), "places"),
    **dict.fromkeys(("邀请", "邀請", "对象", "對象"), "invite"),
    **dict.fromkeys(("评分项", "評分項", "维度", "維度", "评价项", "評價項"), "aspects"),
    **dict.fromkeys(("报告截止", "報告截止", "交报告", "交報告"), "due"),
    # /poll_new first=ambassadors:2h: who votes first in a co-creation poll, for how long
    **dict.fromkeys(("先投", "先投票", "抢先投票", "搶先投票"), "first"),
}
# the values of delivery= as a Chinese leader types them, by the mode each means
FULFILMENT_ALIASES: dict[str, str] = {
    **dict.fromkeys(("自提", "自取", "取货", "取貨", "到店自提"), "pickup"),
    **dict.fromkeys(("快递", "快遞", "送货", "送貨", "配送", "邮寄", "郵寄"), "delivery"),
    **dict.fromkeys(("都可以", "都行", "两者", "兩者", "自提或快递", "自提或快遞"), "both"),
}
# the separators between a key and its value: = and the full-width ＝ an IME types
_OPTION_SEPARATOR = re.compile("[=＝]")


def split_option(word: str) -> tuple[str, str] | None:
    """One option word as (English key, value): 'tiers=10:35.90', '阶梯＝10：35.90' and
    'ＴＩＥＲＳ=…' all give ('tiers', …); None for a word without = (an unknown key is kept
    as typed, lower-cased, for the caller to refuse)."""
    parts = _OPTION_SEPARATOR.split(word, maxsplit=1)
    if len(parts) < 2:
        return None
    key = normalize(parts[0]).lower()
    return OPTION_ALIASES.get(key, key), parts[1]


def is_option(word: str) -> bool:
    """Whether the word is a key=value option (with = or ＝)."""
    return _OPTION_SEPARATOR.search(word) is not None
