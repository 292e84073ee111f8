"""Delivery on the web dashboard: the delivery orders of the reader's groups, the ship list with
addresses for staff only (page and CSV), and marking an order shipped with its tracking number
by a same-origin POST, audited, the member told once; refused cross-site, to leaders, and with a
bad tracking number."""

from __future__ import annotations

import aiohttp
from sqlmodel import col, select

from models.audit import AuditEntry
from tests.conftest import LEE, MIA, SAM, TEA, Harness
from tests.dashboard_kit import dashboard, dashboard_port, login_link, settings
from tests.test_delivery import order_row, staff_with_options

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures the dashboard test uses


async def given_a_paid_delivery_order(harness: Harness) -> None:
    """Mia's order #1 of a tea only delivered, addressed to 1 Tea Road and paid to Lee."""
    await harness.join_groups()
    await staff_with_options(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY")
    await harness.send(SAM, SAM, "/product_set 1 delivery delivery")
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, TEA, "/buy 1")
    for answer in ("Mia Wong", "13800000000", "1 Tea Road\nShenzhen"):
        await harness.send(MIA, MIA, answer)
    await harness.press(MIA, MIA, harness.emulator.last_bot_message(MIA).message_id, index=0)
    await harness.send(LEE, TEA, "/paid @mia")
    assert (await order_row(harness, 1)).status == "paid"


async def signed_in(harness: Harness, who: int) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(await login_link(harness, who), allow_redirects=False) as response:
        assert response.status == 303
    return http


async def test_staff_ship_from_the_ship_list_and_the_member_is_told(
    harness: Harness, dashboard: str
) -> None:
    # given Mia's paid delivery order #1
    await given_a_paid_delivery_order(harness)
    origin = {"Origin": dashboard.removesuffix("/dashboard")}
    async with await signed_in(harness, SAM) as http:
        # when Sam (staff) opens the delivery page
        async with http.get(f"{dashboard}/delivery?lang=en") as response:
            assert response.status == 200
            page = await response.text()
        # then the ship list holds the order with its address, and the form to ship it
        assert 'id="table-shiplist"' in page and 'id="table-deliveries"' in page
        assert "Mia Wong" in page and "1 Tea Road" in page and "13800000000" in page
        assert 'action="ship"' in page and ">to ship<" in page
        # and its CSV has the address too
        async with http.get(f"{dashboard}/csv/shiplist") as response:
            assert response.status == 200
            shiplist = (await response.text()).lstrip("\ufeff").splitlines()
        assert shiplist[0].startswith("order_id,chat_id,title,quantity,ship_name,ship_phone")
        assert shiplist[1].startswith(f"1,{TEA},Oolong tea,1,Mia Wong,13800000000,")
        # when a page of another site posts a shipment in Sam's browser, nothing ships
        form = {"order": "1", "carrier": "SF", "tracking": "SF42"}
        async with http.post(
            f"{dashboard}/ship", data=form, headers={"Origin": "https://evil.example"}
        ) as response:
            assert response.status == 403
        assert (await order_row(harness, 1)).shipped_at is None
        # and a tracking number that is not one is refused with what to fix
        bad = {"order": "1", "carrier": "SF", "tracking": "SF 42!"}
        async with http.post(f"{dashboard}/ship", data=bad, headers=origin) as response:
            assert response.status == 400
            assert "The tracking number must be letters, digits and dashes" in (
                await response.text()
            )
        # when Sam ships it from the page
        harness.new_bot_messages(MIA)
        async with http.post(
            f"{dashboard}/ship?lang=en", data=form, headers=origin, allow_redirects=False
        ) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/dashboard/delivery?shipped=1"
        async with http.get(f"{dashboard}/delivery?shipped=1&lang=en") as response:
            page = await response.text()
        assert "Order #1 shipped. The member was told." in page
        assert ">shipped<" in page and "SF42" in page
        # and the same order shipped twice is refused
        async with http.post(f"{dashboard}/ship", data=form, headers=origin) as response:
            assert response.status == 400
            assert "already shipped" in await response.text()
    # then the order carries the tracking number, Mia is told once, and the shipment is audited
    row = await order_row(harness, 1)
    assert (row.carrier, row.tracking_number, row.shipped_by) == ("SF", "SF42", SAM)
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "Order #1 is on its way: SF, tracking number SF42."
    ]
    async with harness.session() as session:
        audit = (
            await session.execute(
                select(AuditEntry.actor_id, AuditEntry.allowed, AuditEntry.detail)
                .where(col(AuditEntry.action) == "delivery.ship")
                .order_by(col(AuditEntry.id))
            )
        ).all()
    assert [(actor, allowed) for actor, allowed, _ in audit] == [
        (SAM, False),
        (SAM, True),
        (SAM, False),
    ]


async def test_a_leader_sees_the_delivery_orders_but_never_an_address(
    harness: Harness, dashboard: str
) -> None:
    # given Mia's paid delivery order #1 in Lee's group
    await given_a_paid_delivery_order(harness)
    async with await signed_in(harness, LEE) as http:
        # when Lee opens the delivery page
        async with http.get(f"{dashboard}/delivery?lang=en") as response:
            assert response.status == 200
            page = await response.text()
        # then the order is listed, without where it goes, and with no form to ship
        assert 'id="table-deliveries"' in page and "Oolong tea" in page
        assert "1 Tea Road" not in page and "13800000000" not in page
        assert 'id="table-shiplist"' not in page and 'action="ship"' not in page
        # and the ship list's CSV and the shipping POST are refused
        async with http.get(f"{dashboard}/csv/shiplist?lang=en") as response:
            assert response.status == 403
            assert "1 Tea Road" not in await response.text()
        form = {"order": "1", "carrier": "SF", "tracking": "SF42"}
        async with http.post(f"{dashboard}/ship", data=form) as response:
            assert response.status == 403
    assert (await order_row(harness, 1)).shipped_at is None
    # and nobody without a session gets the page
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(f"{dashboard}/delivery") as response,
    ):
        assert response.status == 401
