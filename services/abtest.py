"""A/B tests of promotions: who gets which variant, and whether one of them won.

The split is random but stable: a member's place comes from a hash of the test's key
(`broadcast:<id>` or `care:<rule id>`) and their member id, so the same test always puts the
same member in the same arm, on any worker, after any restart, and nothing about the member
(their id's order, their join date) leaks into the arms.

- A broadcast knows all its eligible members at once: they are ordered by that hash, the first
  `holdout_pct` percent (rounded down) are held out, and the rest alternate A, B. The arms
  are then exactly balanced (A and B differ by at most one member).
- A care rule meets members one at a time: the hash alone decides (a bucket of 10,000), so the
  arms are balanced in expectation.

The verdict compares conversion rates with 95% Wilson score intervals (`wilson`): a variant
wins when its interval lies wholly above the other's; overlapping intervals, or fewer than
`MIN_ARM` members in an arm, are "too early to tell". Counts are integers; the interval is
computed in floats (double precision is ample for rates of up to millions of members) and
shown rounded to basis points.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from models.broadcast import HOLDOUT_MAX, VARIANT_A, VARIANT_B, VARIANT_HOLDOUT

Z_95 = 1.959963984540054  # the two-sided 95% quantile of the standard normal
MIN_ARM = 30  # members an arm needs before its rate is compared at all
BUCKETS = 10_000


class AbTestError(ValueError):
    """A test set-up that cannot be used; `code` names why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def parse_holdout(text: str) -> int:
    """A hold-out share as stored, 0..HOLDOUT_MAX percent ("10", "10%");
    AbTestError('holdout') otherwise."""
    value = text.strip().rstrip("%").strip()
    if not value.isascii() or not value.isdecimal() or len(value) > 3:
        raise AbTestError("holdout")
    pct = int(value)
    if pct > HOLDOUT_MAX:
        raise AbTestError("holdout")
    return pct


def member_hash(test_key: str, member_id: int) -> int:
    """A stable 64-bit number for the member in this test (SHA-256, not Python's hash)."""
    digest = hashlib.sha256(f"{test_key}:{member_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def split(
    test_key: str, member_ids: Iterable[int], *, holdout_pct: int, variants: int
) -> dict[int, str]:
    """Each eligible member's arm: the hash order decides, the first `holdout_pct`% (rounded
    down) are held out, the rest alternate A, B (or are all A with one variant)."""
    ordered = sorted(set(member_ids), key=lambda m: (member_hash(test_key, m), m))
    held = len(ordered) * holdout_pct // 100
    arms: dict[int, str] = {}
    for position, member_id in enumerate(ordered):
        if position < held:
            arms[member_id] = VARIANT_HOLDOUT
        elif variants == 2 and (position - held) % 2:
            arms[member_id] = VARIANT_B
        else:
            arms[member_id] = VARIANT_A
    return arms


def arm_sizes(members: int, *, holdout_pct: int, variants: int) -> dict[str, int]:
    """How many members `split` puts in each arm (what staff see before confirming)."""
    held = members * holdout_pct // 100
    rest = members - held
    b = rest // 2 if variants == 2 else 0
    return {VARIANT_A: rest - b, VARIANT_B: b, VARIANT_HOLDOUT: held}


def arm_for(test_key: str, member_id: int, *, holdout_pct: int, variants: int) -> str:
    """One member's arm when members come one at a time (a care rule): by the hash's bucket."""
    value = member_hash(test_key, member_id)
    if value % BUCKETS < holdout_pct * BUCKETS // 100:
        return VARIANT_HOLDOUT
    if variants == 2 and (value // BUCKETS) % 2:
        return VARIANT_B
    return VARIANT_A


@dataclass(frozen=True, slots=True)
class Interval:
    """A rate's 95% confidence interval, in basis points (10,000 = 100%)."""

    low: int
    high: int


def wilson(successes: int, trials: int, z: float = Z_95) -> Interval | None:
    """The Wilson score interval of successes / trials (None with no trials).

    centre = (p + z²/2n) / (1 + z²/n), half-width = z·√(p(1−p)/n + z²/4n²) / (1 + z²/n), with
    p = successes/n. Unlike the normal approximation it stays within 0..1 and is honest at
    0 or n successes and for small n. Bounds are rounded outwards to whole basis points.
    """
    if trials <= 0:
        return None
    if not 0 <= successes <= trials:
        raise ValueError("successes must be between 0 and trials")
    n = float(trials)
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denominator
    low = max(0, math.floor((centre - half) * BUCKETS))
    high = min(BUCKETS, math.ceil((centre + half) * BUCKETS))
    return Interval(low, high)


@dataclass(frozen=True, slots=True)
class Arm:
    """How one arm did: members in it and members who converted."""

    members: int
    converted: int

    @property
    def bps(self) -> int | None:
        """The conversion rate in basis points, rounded half up."""
        if not self.members:
            return None
        return (self.converted * 20_000 + self.members) // (2 * self.members)

    @property
    def interval(self) -> Interval | None:
        return wilson(self.converted, self.members)


# Verdict.code values
TOO_FEW = "too_few"  # an arm has fewer than MIN_ARM members
OVERLAP = "overlap"  # the intervals overlap: no difference shown yet
WON = "won"  # `winner`'s interval lies wholly above the other's
NO_TEST = "no_test"  # nothing to compare: one arm only


@dataclass(frozen=True, slots=True)
class Verdict:
    """Which variant won (A against B), and which variants beat the hold-out."""

    code: str
    winner: str | None = None
    # variants whose interval lies wholly above the hold-out's
    beat_holdout: tuple[str, ...] = ()
    # variants compared with the hold-out where it is too early to tell
    holdout_unclear: tuple[str, ...] = ()


def _above(one: Arm, other: Arm) -> bool:
    a, b = one.interval, other.interval
    return a is not None and b is not None and a.low > b.high


def verdict(arms: Mapping[str, Arm], *, min_arm: int = MIN_ARM) -> Verdict:
    """The test's conclusion: A against B when both ran, each variant against the hold-out
    when there is one; "too early to tell" unless the intervals are apart and every arm
    compared has at least `min_arm` members."""
    variants = [v for v in (VARIANT_A, VARIANT_B) if v in arms]
    holdout = arms.get(VARIANT_HOLDOUT)
    beat: list[str] = []
    unclear: list[str] = []
    if holdout is not None:
        for name in variants:
            if min(arms[name].members, holdout.members) >= min_arm and _above(arms[name], holdout):
                beat.append(name)
            else:
                unclear.append(name)
    if len(variants) < 2:
        code = NO_TEST if holdout is None else (WON if beat else _why(arms, min_arm))
        return Verdict(code, beat[0] if beat else None, tuple(beat), tuple(unclear))
    a, b = arms[VARIANT_A], arms[VARIANT_B]
    if min(a.members, b.members) < min_arm:
        return Verdict(TOO_FEW, None, tuple(beat), tuple(unclear))
    for winner, one, other in ((VARIANT_A, a, b), (VARIANT_B, b, a)):
        if _above(one, other):
            return Verdict(WON, winner, tuple(beat), tuple(unclear))
    return Verdict(OVERLAP, None, tuple(beat), tuple(unclear))


def _why(arms: Mapping[str, Arm], min_arm: int) -> str:
    return TOO_FEW if any(arm.members < min_arm for arm in arms.values()) else OVERLAP
