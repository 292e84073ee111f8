"""Every table by name, and which of them only staff may read."""

from __future__ import annotations

from services.tables._common import Table
from services.tables.fulfilment import (
    DELIVERY_COLUMNS,
    FULFILMENT_COLUMNS,
    SHIPLIST_COLUMNS,
    TICKET_COLUMNS,
    _deliveries,
    _fulfilments,
    _shiplist,
    _tickets,
)
from services.tables.people import (
    BROADCAST_COLUMNS,
    MEMBER_COLUMNS,
    NPS_COLUMNS,
    POLL_COLUMNS,
    TRIAL_COLUMNS,
    _broadcasts,
    _members,
    _nps,
    _polls,
    _trials,
)
from services.tables.sales import (
    COMMUNITY_COLUMNS,
    ENTRY_COLUMNS,
    GROUPBUY_COLUMNS,
    ORDER_COLUMNS,
    _communities,
    _groupbuys,
    _ledger,
    _orders,
)

# tables that hold members' addresses: staff only, whatever the reader's groups
STAFF_TABLES = frozenset({"shiplist"})


TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table("communities", COMMUNITY_COLUMNS, _communities),
        Table("groupbuys", GROUPBUY_COLUMNS, _groupbuys),
        Table("members", MEMBER_COLUMNS, _members),
        Table("orders", ORDER_COLUMNS, _orders),
        Table("ledger", ENTRY_COLUMNS, _ledger),
        Table("broadcasts", BROADCAST_COLUMNS, _broadcasts),
        Table("polls", POLL_COLUMNS, _polls),
        Table("nps", NPS_COLUMNS, _nps),
        Table("fulfilment", FULFILMENT_COLUMNS, _fulfilments),
        Table("tickets", TICKET_COLUMNS, _tickets),
        Table("deliveries", DELIVERY_COLUMNS, _deliveries),
        Table("shiplist", SHIPLIST_COLUMNS, _shiplist),
        Table("trials", TRIAL_COLUMNS, _trials),
    )
}
