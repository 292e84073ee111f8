"""Roles: owner (config), staff (granted by the owner), leaders (appointed by staff).

A group's Telegram admins are only candidates for leading it: one applies (/lead) and staff
approve, or staff appoint a member outright, or the creator of a group that staff added the bot
to is appointed at once (a setting). Staff suspend, reinstate or remove any leader."""

from services.role.leaders import LeaderError as LeaderError
from services.role.leaders import LeaderView as LeaderView
from services.role.leaders import apply_to_lead as apply_to_lead
from services.role.leaders import appoint_creator as appoint_creator
from services.role.leaders import appoint_leader as appoint_leader
from services.role.leaders import creator_leads_group as creator_leads_group
from services.role.leaders import decide_application as decide_application
from services.role.leaders import get_leader as get_leader
from services.role.leaders import get_leader_by_id as get_leader_by_id
from services.role.staff import AdminInfo as AdminInfo
from services.role.staff import RoleError as RoleError
from services.role.staff import admins_stale as admins_stale
from services.role.staff import chat_admin_status as chat_admin_status
from services.role.staff import forget_admins as forget_admins
from services.role.staff import grant_staff as grant_staff
from services.role.staff import is_chat_admin as is_chat_admin
from services.role.staff import is_staff as is_staff
from services.role.staff import revoke_staff as revoke_staff
from services.role.staff import staff_ids as staff_ids
from services.role.staff import staff_locales as staff_locales
from services.role.staff import sync_admins as sync_admins
from services.role.suspension import REASON_LIMIT as REASON_LIMIT
from services.role.suspension import leaders_of as leaders_of
from services.role.suspension import reinstate_leader as reinstate_leader
from services.role.suspension import remove_leader as remove_leader
from services.role.suspension import suspend_leader as suspend_leader
from services.role.who import Role as Role
from services.role.who import is_leader as is_leader
from services.role.who import is_suspended_leader as is_suspended_leader
from services.role.who import leader_ids as leader_ids
from services.role.who import led_communities as led_communities
from services.role.who import menu_role as menu_role
from services.role.who import resolve_role as resolve_role
