"""The tables staff read and download: the dashboard shows them, and `python -m bot export`
and the dashboard's CSV links write them with the same columns.

Each table streams its rows from the store (`AsyncSession.stream` with `yield_per`), so an
export of a year of ledger entries never sits in memory at once. A `Query` carries the
reader's scope (None: the whole brand; a set of group ids: a leader's groups, so a leader never
receives another group's rows), the period, and a search text for the members table.
"""

from services.tables._common import BATCH as BATCH
from services.tables._common import Query as Query
from services.tables._common import Row as Row
from services.tables._common import RowSource as RowSource
from services.tables._common import Table as Table
from services.tables.catalog import STAFF_TABLES as STAFF_TABLES
from services.tables.catalog import TABLES as TABLES
from services.tables.export import Write as Write
from services.tables.export import csv_chunks as csv_chunks
from services.tables.export import csv_header as csv_header
from services.tables.export import csv_lines as csv_lines
from services.tables.export import safe_cell as safe_cell
from services.tables.export import write_csv as write_csv
from services.tables.fulfilment import DELIVERY_COLUMNS as DELIVERY_COLUMNS
from services.tables.fulfilment import FULFILMENT_COLUMNS as FULFILMENT_COLUMNS
from services.tables.fulfilment import SHIP_DELIVERED as SHIP_DELIVERED
from services.tables.fulfilment import SHIP_SHIPPED as SHIP_SHIPPED
from services.tables.fulfilment import SHIP_WAITING as SHIP_WAITING
from services.tables.fulfilment import SHIPLIST_COLUMNS as SHIPLIST_COLUMNS
from services.tables.fulfilment import TICKET_COLUMNS as TICKET_COLUMNS
from services.tables.people import BROADCAST_COLUMNS as BROADCAST_COLUMNS
from services.tables.people import MAX_SEARCH as MAX_SEARCH
from services.tables.people import MEMBER_COLUMNS as MEMBER_COLUMNS
from services.tables.people import NPS_COLUMNS as NPS_COLUMNS
from services.tables.people import POLL_COLUMNS as POLL_COLUMNS
from services.tables.people import TRIAL_COLUMNS as TRIAL_COLUMNS
from services.tables.people import search_condition as search_condition
from services.tables.sales import COMMUNITY_COLUMNS as COMMUNITY_COLUMNS
from services.tables.sales import ENTRY_COLUMNS as ENTRY_COLUMNS
from services.tables.sales import GROUPBUY_COLUMNS as GROUPBUY_COLUMNS
from services.tables.sales import ORDER_COLUMNS as ORDER_COLUMNS
from services.tables.sales import community_rows as community_rows
