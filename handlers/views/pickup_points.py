"""What the pickup commands (/sheet, the pickup-point commands, /redeem) share: the audit
record of a leader's command, allowed or refused."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import record_action
from services.member import MemberView
from services.role import Role


async def audited(
    session: AsyncSession,
    member: MemberView,
    chat_id: int,
    action: str,
    allowed: bool,
    detail: str,
    *,
    now: datetime,
) -> bool:
    """Records a pickup command a leader's role guards, allowed or not; returns `allowed`."""
    await record_action(
        session,
        actor_id=member.id,
        chat_id=chat_id,
        action=action,
        allowed=allowed,
        now=now,
        required_role=Role.LEADER.name.lower(),
        detail=detail[:200],
    )
    return allowed
