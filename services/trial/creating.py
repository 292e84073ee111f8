"""Creating a trial: its product or variant, its places taken from stock (and given back when
it closes with places left), its invitations; from /trial_new's options, audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.member import Member
from models.product import Product, ProductVariant
from models.trial import Trial, TrialInvite
from services.audit import record_action
from services.groupbuy import GroupBuyError, parse_deadline
from services.order import with_variant
from services.product import (
    has_active_variants,
    restock_product,
    restock_variant,
    take_product_stock,
    take_variant_stock,
)
from services.trial.audience import MAX_CANDIDATES, _candidates
from services.trial.read import _view
from services.trial.values import (
    Audience,
    Created,
    Invitee,
    TrialError,
    TrialRefusal,
    parse_aspects,
    parse_audience,
)
from services.validation import number
from services.zones import home_group_zones


async def _variant(session: AsyncSession, product_id: int, text: str) -> ProductVariant:
    rows = (
        await session.execute(
            select(ProductVariant).where(
                col(ProductVariant.product_id) == product_id, col(ProductVariant.active)
            )
        )
    ).scalars()
    wanted = text.strip().lower()
    for row in rows:
        if wanted in (str(row.id), str(row.position), row.name.lower()):
            return row
    raise TrialError(TrialRefusal.NO_VARIANT, text)


async def _take_stock(
    session: AsyncSession, product: Product, variant: ProductVariant | None, n: int
) -> None:
    """The trial's units leave the stock at once (one conditional UPDATE): an acceptance never
    finds the product sold out."""
    if variant is not None:
        if variant.stock is None:
            return
        assert variant.id is not None
        if not await take_variant_stock(session, variant.id, n):
            raise TrialError(TrialRefusal.NOT_ENOUGH_STOCK, str(variant.stock))
        return
    if product.stock is None:
        return
    left = product.stock  # as read: the refusal says so
    assert product.id is not None
    if not await take_product_stock(session, product.id, n):
        raise TrialError(TrialRefusal.NOT_ENOUGH_STOCK, str(left))


async def _return_stock(session: AsyncSession, trial: Trial, n: int) -> None:
    """Unfilled places go back to the stock when the trial closes."""
    if n <= 0:
        return
    if trial.variant_id is not None:
        await restock_variant(session, trial.variant_id, n)
    else:
        await restock_product(session, trial.product_id, n)


async def create_trial(
    session: AsyncSession,
    *,
    product_id: int,
    variant: str,
    places: int,
    audience: Audience,
    aspects: Sequence[str],
    due_at: datetime,
    created_by: int,
    now: datetime,
) -> Created:
    """A trial of the product (or its `variant`, by name or number) for `places` members of
    the audience, reporting on `aspects` by `due_at`: its units leave the stock now, and every
    candidate who opened a private chat with the bot is invited (the caller sends the
    invitations once committed)."""
    if places <= 0 or places > MAX_CANDIDATES:
        raise TrialError(TrialRefusal.BAD_PLACES, str(places))
    if due_at <= now:
        raise TrialError(TrialRefusal.DUE_PAST)
    product = await session.get(Product, product_id)
    if product is None or not product.active:
        raise TrialError(TrialRefusal.NO_PRODUCT, str(product_id))
    chosen = await _variant(session, product_id, variant) if variant else None
    if chosen is None and await has_active_variants(session, product_id):
        raise TrialError(TrialRefusal.CHOOSE_VARIANT, str(product_id))
    candidates = await _candidates(session, audience)
    reachable = (
        await session.execute(
            select(col(Member.id)).where(
                col(Member.id).in_(candidates),
                col(Member.started),
                ~col(Member.is_bot),
                col(Member.forgotten_at).is_(None),
            )
        )
    ).all()
    if not reachable:  # nothing is created, and no stock is held, for an empty audience
        raise TrialError(TrialRefusal.NOBODY, str(len(candidates)))
    await _take_stock(session, product, chosen, places)
    trial = Trial(
        product_id=product_id,
        variant_id=chosen.id if chosen is not None else None,
        title=with_variant(product.title, chosen.name if chosen is not None else "")[:128],
        places=places,
        audience=str(audience)[:200],
        aspects=list(aspects),
        due_at=due_at,
        created_by=created_by,
        created_at=now,
    )
    session.add(trial)
    await session.flush()
    assert trial.id is not None
    members = {
        m.id: m
        for m in (
            await session.execute(select(Member).where(col(Member.id).in_(candidates)))
        ).scalars()
    }
    invitees: list[Invitee] = []
    unreachable = 0
    homes = await home_group_zones(session, [m for m in candidates if m in members])
    for member_id in candidates:
        person = members.get(member_id)
        if person is None or not person.started or person.is_bot or person.forgotten_at:
            unreachable += 1
            continue
        session.add(TrialInvite(trial_id=trial.id, member_id=member_id, invited_at=now))
        invitees.append(Invitee(member_id, person.locale, person.timezone, homes.get(member_id)))
    await session.flush()
    return Created(await _view(session, trial), tuple(invitees), unreachable)


async def new_trial(
    session: AsyncSession,
    *,
    product_id: int,
    variant: str,
    options: dict[str, str],
    actor_id: int,
    timezone: str,
    now: datetime,
) -> Created:
    """A trial from /trial_new's options (places, invite, aspects, due), audited as
    trial.create (from chat and from the dashboard's form); TrialError when refused."""
    places = number(options.get("places", ""))
    if places is None:
        raise TrialError(TrialRefusal.BAD_PLACES, options.get("places", ""))
    due_text = options.get("due") or options.get("deadline") or "14d"
    try:
        due_at = parse_deadline(due_text, now=now, timezone=timezone)
    except GroupBuyError as exc:
        raise TrialError(TrialRefusal.BAD_DUE, exc.detail or due_text) from None
    created = await create_trial(
        session,
        product_id=product_id,
        variant=variant,
        places=places,
        audience=parse_audience(options.get("invite", "")),
        aspects=parse_aspects(options.get("aspects", "")),
        due_at=due_at,
        created_by=actor_id,
        now=now,
    )
    trial = created.trial
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=None,
        action="trial.create",
        allowed=True,
        now=now,
        detail=f"trial #{trial.id}: {trial.places} x {trial.title}, invite {trial.audience}",
    )
    return created
