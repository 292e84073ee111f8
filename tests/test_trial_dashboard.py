"""Product trials on the web dashboard: staff see every trial with its product, places, report
rate, due date and average per aspect; a trial's page shows every invitation with its report
(ratings, words escaped, photos served by the bot from the dashboard's own address) and its
CSV, audited; leaders and members get neither the page, the photos nor the CSV."""

from __future__ import annotations

import re

from bot.cli.playground_world import sample_photo
from models.product import Product
from tests.conftest import KAI, LEE, MIA, SAM, Harness
from tests.dashboard_kit import dashboard, dashboard_port, settings
from tests.test_delivery_dashboard import signed_in
from tests.test_levels import audited
from tests.test_trial import pick_up, tea_and_staff

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures the dashboard test uses

PHOTO = re.compile(r'<img src="(trial-photos/1-(\d+)-1-[0-9a-f]{16}\.jpg)"')


async def given_a_trial_with_a_report(harness: Harness) -> None:
    """Trial #1 of Oolong tea, two places, rated on taste and packaging: Mia accepted and
    reported (5 and 3, words, a photo); Kai declined."""
    await tea_and_staff(harness)
    await harness.send(
        SAM, SAM, "/trial_new 1 places=2 due=14d invite=@mia, @kai aspects=taste, packaging"
    )
    invitation = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, invitation.message_id, index=0)
    await harness.press(KAI, KAI, harness.emulator.last_bot_message(KAI).message_id, index=1)
    await pick_up(harness, 1)  # a report comes after the trial goods were received
    await harness.send(MIA, MIA, "/report")
    await harness.press(MIA, MIA, harness.emulator.last_bot_message(MIA).message_id, index=4)
    await harness.press(MIA, MIA, harness.emulator.last_bot_message(MIA).message_id, index=2)
    await harness.send(MIA, MIA, "Fragrant <b>and</b> smooth, the tin is plain")
    harness.emulator.send_photo(MIA, MIA, sample_photo())
    await harness.feed_pending()


async def test_staff_read_the_trials_a_trial_its_photos_and_its_csv(
    harness: Harness, dashboard: str
) -> None:
    await given_a_trial_with_a_report(harness)
    async with await signed_in(harness, SAM) as http:
        # when Sam opens the trials page
        async with http.get(f"{dashboard}/trials?lang=en") as response:
            assert response.status == 200
            page = await response.text()
        # then the trial is listed with its places, report rate and averages
        assert '<a href="trials?trial=1">#1</a>' in page
        assert "<td>Oolong tea</td><td>2</td><td>1</td><td>1/1 (100%)</td>" in page
        assert "taste ⭐ 5.0 · packaging ⭐ 3.0" in page
        # when he opens the trial
        async with http.get(f"{dashboard}/trials?trial=1&lang=en") as response:
            page = await response.text()
        # then its figures, Mia's report (escaped) and Kai's answer are there
        assert "Trial #1: Oolong tea" in page
        assert "Invited 2 · accepted 1 · declined 1 · too late 0" in page
        assert "Mia · accepted · order #1 · reported " in page
        assert "taste ⭐⭐⭐⭐⭐ · packaging ⭐⭐⭐" in page
        assert "Fragrant &lt;b&gt;and&lt;/b&gt; smooth, the tin is plain" in page
        assert "Kai · declined" in page
        # and the photo comes from the dashboard, fetched by the bot
        [(photo, member)] = PHOTO.findall(page)
        assert member == str(MIA) and "api.telegram.org" not in page
        async with http.get(f"{dashboard}/{photo}") as response:
            assert response.status == 200
            assert await response.read() == sample_photo()
        async with http.get(f"{dashboard}/trial-photos/1-{MIA}-1-0123456789abcdef.jpg") as response:
            assert response.status == 404
        # and the CSV is the one /trial 1 sends, audited
        assert 'href="csv/trial?trial=1"' in page
        async with http.get(f"{dashboard}/csv/trial?trial=1") as response:
            assert response.status == 200
            assert response.headers["Content-Disposition"] == 'attachment; filename="trial_1.csv"'
            text = (await response.read()).decode("utf-8-sig")
        assert text.splitlines()[0] == (
            "member_id,name,status,order_id,rating_taste,rating_packaging,report,photos,"
            "reported_at,good,shared"
        )
        assert f"{MIA},Mia,accepted,1,5,3," in text
        # and a trial that does not exist is said so
        async with http.get(f"{dashboard}/trials?trial=9&lang=en") as response:
            assert "There is no such trial." in await response.text()
        async with http.get(f"{dashboard}/csv/trial?trial=9") as response:
            assert response.status == 404
    assert [
        (a.actor_id, a.allowed, a.detail) for a in await audited(harness, "dashboard.export")
    ] == [(SAM, True, "trial #1")]


async def test_a_leader_gets_neither_the_trials_the_photos_nor_the_csv(
    harness: Harness, dashboard: str
) -> None:
    await given_a_trial_with_a_report(harness)
    async with (
        await signed_in(harness, SAM) as http,
        http.get(f"{dashboard}/trials?trial=1&lang=en") as response,
    ):
        [(photo, _member)] = PHOTO.findall(await response.text())
    async with await signed_in(harness, LEE) as http:
        async with http.get(f"{dashboard}/trials?trial=1&lang=en") as response:
            page = await response.text()
        assert "Trials are run by brand staff." in page and "Fragrant" not in page
        async with http.get(f"{dashboard}/{photo}") as response:
            assert response.status == 404
        async with http.get(f"{dashboard}/csv/trial?trial=1") as response:
            assert response.status == 404
    assert [(a.actor_id, a.allowed) for a in await audited(harness, "dashboard.export")] == [
        (LEE, False)
    ]


async def test_staff_create_a_trial_from_the_form_and_the_candidates_are_invited(
    harness: Harness, dashboard: str
) -> None:
    await tea_and_staff(harness)
    origin = {"Origin": dashboard.removesuffix("/dashboard")}
    form = {
        "product": "1",
        "places": "2",
        "invite": "@mia, @kai",
        "aspects": "taste, packaging",
        "due": "14d",
    }
    async with await signed_in(harness, SAM) as http:
        async with http.get(f"{dashboard}/trials?lang=en") as response:
            assert 'action="trial-new"' in await response.text()
        # when another site posts the form in Sam's browser, nothing is created
        async with http.post(
            f"{dashboard}/trial-new", data=form, headers={"Origin": "https://evil.example"}
        ) as response:
            assert response.status == 403
        # when the places are not a number, he is told, and no stock is taken
        async with http.post(
            f"{dashboard}/trial-new?lang=en", data={**form, "places": "lots"}, headers=origin
        ) as response:
            assert response.status == 400
            assert "Give the number of places as places=10 (1 to 500)." in await response.text()
        assert await stock(harness) == 20
        # when he creates the trial from the form
        harness.new_bot_messages(MIA)
        async with http.post(
            f"{dashboard}/trial-new?lang=en", data=form, headers=origin, allow_redirects=False
        ) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/dashboard/trials?trial=1&invited=2"
        async with http.get(f"{dashboard}/trials?trial=1&invited=2&lang=en") as response:
            page = await response.text()
        assert "Trial #1 created; invited in private: 2." in page
        assert "Invited 2 · accepted 0 · declined 0 · too late 0" in page
    # then the units left the stock, Mia is invited with her buttons, and it is audited
    assert await stock(harness) == 18
    await harness.runtime.notifier.drain()
    invitation = harness.new_bot_messages(MIA)[-1]
    assert "You are invited to try Oolong tea for free" in (invitation.text or "")
    assert invitation.button_texts[:1] and len(invitation.button_texts) == 2
    assert [(a.actor_id, a.allowed) for a in await audited(harness, "trial.create")] == [
        (SAM, True)
    ]


async def stock(harness: Harness) -> int:
    async with harness.session() as session:
        product = await session.get(Product, 1)
    assert product is not None
    return product.stock
