"""The bot speaks the current Bot API: no parameter the spec (Bot API 10.3, vendored in
tgemu/api.json) does not define, and the vendored spec is the reference one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import OWNER, SAM, Harness
from tests.dashboard_kit import dashboard_port, login_link, settings

__all__ = ["dashboard_port", "settings"]  # fixtures: the dashboard's address in the settings

ROOT = Path(__file__).resolve().parent.parent
# the reference copy of the spec beside the project (absent outside the team's machines)
REFERENCE_SPEC = ROOT.parent / "shared" / "telegram-bot-api" / "api.json"


async def test_the_dashboard_link_turns_its_preview_off_with_link_preview_options(
    harness: Harness,
) -> None:
    # given Sam is staff
    harness.emulator.send_message(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    # when he asks for his dashboard link
    await login_link(harness, SAM)
    # then it came with link_preview_options (disable_web_page_preview left the Bot API in 7.0)
    (params,) = [
        params
        for name, params in harness.emulator.calls
        if name == "sendMessage" and "/dashboard/login" in str(params.get("text"))
    ]
    assert params["link_preview_options"] == {"is_disabled": True}
    assert "disable_web_page_preview" not in params


@pytest.mark.skipif(not REFERENCE_SPEC.exists(), reason="no reference spec beside the project")
def test_the_vendored_spec_is_the_reference_spec() -> None:
    vendored = ROOT / "tgemu" / "api.json"
    assert vendored.read_bytes() == REFERENCE_SPEC.read_bytes()
