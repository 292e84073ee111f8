"""After-sales tickets (售后): opened by a member on their paid order, answered and resolved by
staff or the order's leader within two clocks, escalated to all staff when a clock runs out.

Every change of a ticket is a conditional UPDATE on its (status, version), so two staff
resolving at once close it once, and a refund or a coupon is booked once: the resolution's
money moves only in the transaction that won the ticket. Every step is written to the audit
log by the verb that does it.
"""

from services.ticket._common import AS_LEADER as AS_LEADER
from services.ticket._common import AS_MEMBER as AS_MEMBER
from services.ticket._common import AS_STAFF as AS_STAFF
from services.ticket._common import DESCRIPTION_LIMIT as DESCRIPTION_LIMIT
from services.ticket._common import NOTE_LIMIT as NOTE_LIMIT
from services.ticket._common import MessageView as MessageView
from services.ticket._common import Resolved as Resolved
from services.ticket._common import Said as Said
from services.ticket._common import TicketError as TicketError
from services.ticket._common import TicketRefusal as TicketRefusal
from services.ticket._common import TicketView as TicketView
from services.ticket.conversation import TicketPhoto as TicketPhoto
from services.ticket.conversation import add_message as add_message
from services.ticket.conversation import get_ticket as get_ticket
from services.ticket.conversation import open_ticket as open_ticket
from services.ticket.conversation import ticket_messages as ticket_messages
from services.ticket.conversation import ticket_photo as ticket_photo
from services.ticket.conversation import ticket_photos as ticket_photos
from services.ticket.conversation import ticket_role as ticket_role
from services.ticket.queue import due_escalations as due_escalations
from services.ticket.queue import escalate as escalate
from services.ticket.queue import member_tickets as member_tickets
from services.ticket.queue import ticket_queue as ticket_queue
from services.ticket.resolve import resolve_coupon as resolve_coupon
from services.ticket.resolve import resolve_plain as resolve_plain
from services.ticket.resolve import resolve_refund as resolve_refund
from services.ticket.stats import TicketGroupStats as TicketGroupStats
from services.ticket.stats import TicketStats as TicketStats
from services.ticket.stats import ticket_stats as ticket_stats
