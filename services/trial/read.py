"""Reading trials as plain views, with the places taken so far."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.product import Product, ProductVariant
from models.trial import Trial
from services.trial.values import TrialView


async def _view(session: AsyncSession, trial: Trial) -> TrialView:
    assert trial.id is not None
    product = await session.get(Product, trial.product_id)
    assert product is not None
    value = product.price
    if trial.variant_id is not None:
        variant = await session.get(ProductVariant, trial.variant_id)
        if variant is not None:
            value = variant.price
    return TrialView(
        id=trial.id,
        title=trial.title,
        places=trial.places,
        taken=trial.taken,
        audience=trial.audience,
        aspects=tuple(trial.aspects),
        due_at=trial.due_at,
        status=trial.status,
        product_id=trial.product_id,
        value=value,
        currency=product.currency,
    )


async def get_trial(session: AsyncSession, trial_id: int) -> TrialView | None:
    """The trial with this id, if any."""
    trial = await session.get(Trial, trial_id, populate_existing=True)
    return await _view(session, trial) if trial is not None else None


async def list_trials(session: AsyncSession, *, limit: int = 20) -> list[TrialView]:
    """The newest trials first."""
    rows = await session.execute(select(Trial).order_by(col(Trial.id).desc()).limit(limit))
    return [await _view(session, row) for row in rows.scalars().all()]


async def get_trial_view(session: AsyncSession, trial_id: int) -> TrialView:
    found = await get_trial(session, trial_id)
    assert found is not None
    return found
