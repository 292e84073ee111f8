"""SQLModel tables; importing this package registers every table on SQLModel.metadata."""

from models.audit import AuditEntry
from models.community import Community
from models.idempotency import ProcessedUpdate
from models.member import Member
from models.role import ChatAdmin, LeaderDesignation, StaffGrant

__all__ = [
    "AuditEntry",
    "ChatAdmin",
    "Community",
    "LeaderDesignation",
    "Member",
    "ProcessedUpdate",
    "StaffGrant",
]
