"""Pages of a list: every list a person reads in chat comes a page at a time, with its total,
so nothing is ever cut silently."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

MAX_PAGE = 100  # the most rows one page may ask for, whatever a caller passes


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Some rows of a list, where they start in it, and how many the whole list holds."""

    items: list[T]
    offset: int
    total: int

    @property
    def more(self) -> bool:
        """There are rows after this page."""
        return self.offset + len(self.items) < self.total


def window(limit: int, offset: int) -> tuple[int, int]:
    """A limit and offset kept in range (a forged or stale button may carry anything)."""
    return max(1, min(limit, MAX_PAGE)), max(0, offset)


async def count_of(session: AsyncSession, statement: Any) -> int:
    """How many rows a SELECT returns (without its ordering)."""
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    return int((await session.execute(counted)).scalar_one())


async def page_of(
    session: AsyncSession, statement: Any, view: Callable[[Any], T], *, limit: int, offset: int
) -> Page[T]:
    """A page of a SELECT of one kind of row (in the statement's order), each row made `view(row)`,
    and how many rows the whole SELECT returns."""
    limit, offset = window(limit, offset)
    total = await count_of(session, statement)
    rows = await session.execute(statement.limit(limit).offset(offset))
    return Page([view(row) for row in rows.scalars().all()], offset, total)


def slice_of(items: list[T], *, limit: int, offset: int) -> Page[T]:
    """A page of a list already in memory (one whose order is computed, not stored)."""
    limit, offset = window(limit, offset)
    return Page(items[offset : offset + limit], offset, len(items))
