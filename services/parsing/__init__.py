"""What people type, read the way they type it: dates and times, durations, amounts of money
and time zones, in English and Chinese.

Every reader starts with `normalize`: full-width digits and punctuation typed by a Chinese
IME (`１０：３５．９０`, `，`, `：`, `－`, the ideographic space) become their ASCII forms.

Dates and times (`parse_moment`), in the reader's or group's time zone at a given `now`:
- durations: `3d`, `24h`, `90m`, `1w`, `1d12h`, `1.5h`, `in 3 days`, `2 hours`, `3天`,
  `2小时`, `半小时`, `两周`, `3天后` -> `now` plus that much (from `since`, when given);
- ISO forms: `2026-11-25 20:00`, `2026-11-25T20:00+08:00`, `2026/11/25 20:00`;
- Chinese days and times, by a small table-driven layer (dateparser does not read them):
  `今天` `明天` `后天` `大后天`, `周六` `星期六` `礼拜六`, `下周一` (next calendar week),
  `12月31日` `2026年12月31日` `31号` `12-31`, then `凌晨` `早上` `上午` `中午` `下午` `傍晚`
  `晚上` `今晚` `明晚` and a clock `8点` `8点半` `8点15分` `八点` `20:00`;
- English by `dateparser` (a maintained library): `tomorrow 8pm`, `saturday 10am`,
  `next monday`, `Dec 31 8pm`, `12/31 20:00`, `noon`, `in 3 days at 8pm`.
A time without a day is the next time the clock shows it (today, else tomorrow); a day without
a time is the end of that day (23:59): "until Saturday" includes Saturday. A day named without
a year is the next one to come (`12月31日` in January is this year's). `晚上` with no hour is
refused, asking for the hour, rather than guessed.

Amounts (`parse_amount`): `35.9`, `35.90元`, `¥35.90`, `￥35.9`, `35块`, `35块9` (35.90: the
digit after 块 is 角, tenths, as it is said), `35块9毛`, `CNY 35.90`, `35.90 RMB`, in the
reader's locale (`35,90` in German). A currency code or RMB that is not the product's currency
is refused.

Time zones (`parse_zone`): an IANA name in any case (`asia/shanghai`); a city or country in
English or Chinese (`Beijing`, `北京`, `上海`, `香港`, `台北`, `新加坡`, `东京`, `China`,
`Singapore`, `北京时间`), or any IANA city (`Kolkata`, `los angeles`); an offset `UTC+8`,
`GMT+8`, `+08:00`, `东八区`. A whole-hour offset becomes the fixed zone `Etc/GMT-8` (what was
typed: no daylight saving; shown as UTC+8 by `zone_label`), a half-hour one the city that
keeps it all year (`UTC+5:30` -> Asia/Kolkata).

Each refusal is an `Unreadable` naming the part the reader stopped at, for the caller to put
in a localized message with an example.
"""

# handlers read the amount refusal where they read amounts
from services.money import InvalidAmount as InvalidAmount
from services.parsing._common import END_OF_DAY as END_OF_DAY
from services.parsing._common import Unreadable as Unreadable
from services.parsing._common import normalize as normalize
from services.parsing.amounts import VARIANT_WORDS as VARIANT_WORDS
from services.parsing.amounts import TypedVariant as TypedVariant
from services.parsing.amounts import VariantUnreadable as VariantUnreadable
from services.parsing.amounts import parse_amount as parse_amount
from services.parsing.amounts import parse_variants as parse_variants
from services.parsing.amounts import variants_text as variants_text
from services.parsing.moments import parse_duration as parse_duration
from services.parsing.moments import parse_moment as parse_moment
from services.parsing.options import FULFILMENT_ALIASES as FULFILMENT_ALIASES
from services.parsing.options import OPTION_ALIASES as OPTION_ALIASES
from services.parsing.options import is_option as is_option
from services.parsing.options import split_option as split_option
from services.parsing.zones import parse_zone as parse_zone
from services.parsing.zones import zone_label as zone_label
