"""Broadcasts: plan a promotional push into an outbox, claim its rows, record what happened.

`create_broadcast` resolves the targets into one outbox row per chat and gives each row the
first slot the pacing policy allows (or skips it with the reason). A sender claims due rows
with `claim_next` (a conditional UPDATE; `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several
workers never take the same row), re-checks the policy at that moment, sends, and records the
outcome with `mark_sent` / `defer` / `skip` / `fail` in a transaction of its own.

A row claimed for sending is in flight until its lease ends. A lease that ends without an
outcome means the process died during the send, when nobody knows whether Telegram delivered
it: `expire_interrupted` fails such rows instead of sending them again (at most once).

The feature lives in submodules (values, reach, planning, sending, control, care); its
public API is re-exported here, so importers name `services.broadcast` only.
"""

from services.broadcast.care import add_care_recipient as add_care_recipient
from services.broadcast.care import care_broadcast as care_broadcast
from services.broadcast.care import selling_reminder as selling_reminder
from services.broadcast.control import TRANSITIONS as TRANSITIONS
from services.broadcast.control import Progress as Progress
from services.broadcast.control import broadcast_page as broadcast_page
from services.broadcast.control import control as control
from services.broadcast.control import latest_running as latest_running
from services.broadcast.control import progress as progress
from services.broadcast.planning import Draft as Draft
from services.broadcast.planning import PlannedRow as PlannedRow
from services.broadcast.planning import PlanSummary as PlanSummary
from services.broadcast.planning import QuietWait as QuietWait
from services.broadcast.planning import Target as Target
from services.broadcast.planning import content_findings as content_findings
from services.broadcast.planning import content_rules as content_rules
from services.broadcast.planning import create_broadcast as create_broadcast
from services.broadcast.planning import history as history
from services.broadcast.planning import parse_targets as parse_targets
from services.broadcast.planning import plan_rows as plan_rows
from services.broadcast.planning import resolve_targets as resolve_targets
from services.broadcast.planning import summarize as summarize
from services.broadcast.reach import community_tags as community_tags
from services.broadcast.reach import is_opted_in as is_opted_in
from services.broadcast.reach import mark_unreachable as mark_unreachable
from services.broadcast.reach import parse_tags as parse_tags
from services.broadcast.reach import set_community_tags as set_community_tags
from services.broadcast.reach import set_consent as set_consent
from services.broadcast.sending import Delivery as Delivery
from services.broadcast.sending import claim_next as claim_next
from services.broadcast.sending import defer as defer
from services.broadcast.sending import expire_interrupted as expire_interrupted
from services.broadcast.sending import fail as fail
from services.broadcast.sending import finish_done as finish_done
from services.broadcast.sending import mark_sent as mark_sent
from services.broadcast.sending import next_due as next_due
from services.broadcast.sending import outbox_depth as outbox_depth
from services.broadcast.sending import release as release
from services.broadcast.sending import skip as skip
from services.broadcast.values import GROUP_ID_PATTERN as GROUP_ID_PATTERN
from services.broadcast.values import LIVE as LIVE
from services.broadcast.values import REASON_CANCELLED as REASON_CANCELLED
from services.broadcast.values import REASON_HOLDOUT as REASON_HOLDOUT
from services.broadcast.values import REASON_INTERRUPTED as REASON_INTERRUPTED
from services.broadcast.values import REASON_PACING as REASON_PACING
from services.broadcast.values import SLOT_TOLERANCE as SLOT_TOLERANCE
from services.broadcast.values import TAG_PATTERN as TAG_PATTERN
from services.broadcast.values import TARGET_CARE as TARGET_CARE
from services.broadcast.values import BroadcastError as BroadcastError
