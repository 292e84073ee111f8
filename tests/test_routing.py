"""The routers' gates (bot/routing.py) let through everything a handler of theirs takes.

A gate that refused an update one of its router's handlers takes would silently route that
update elsewhere (or nowhere); these tests walk every handler of every feature router and
build the updates its filters name."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Dispatcher, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.types import CallbackQuery, Chat, Message, User

from bot.routing import _states, quicken
from handlers import feature_routers

USER = User(id=7, is_bot=False, first_name="Mei")


def message(text: str) -> Message:
    return Message(
        message_id=1,
        date=datetime.now(UTC),
        chat=Chat(id=7, type="private"),
        from_user=USER,
        text=text,
    )


def callback(data: str) -> CallbackQuery:
    return CallbackQuery(id="1", from_user=USER, chat_instance="c", data=data)


@pytest.fixture(scope="module")
def routers() -> list[Router]:
    dp = Dispatcher()
    dp.include_routers(*feature_routers())
    quicken(dp)
    return list(dp.sub_routers)


def gates(router: Router) -> dict[str, Any]:
    gated = vars(router).get("propagate_event")
    if gated is None:
        return {}
    found: dict[str, Any] = inspect.getclosurevars(gated).nonlocals["gates"]
    return found


def handlers(router: Router, update_type: str) -> Iterator[HandlerObject]:
    yield from router.observers[update_type].handlers


def test_the_hot_routers_are_gated(routers: list[Router]) -> None:
    """Most routers can be skipped for a message or a tap that is not theirs (without gates a
    /start went through 140 filters)."""
    for kind in ("message", "callback_query"):
        gated = [r.name for r in routers if kind in gates(r)]
        assert len(gated) >= len(routers) * 3 // 4, (kind, gated)


def what_it_takes(handler: HandlerObject) -> tuple[list[str], list[str], list[str | None]]:
    """Texts, callback data and raw states that satisfy each of the handler's command,
    callback-data and state filters (empty: the handler has no such filter)."""
    texts: list[str] = []
    data: list[str] = []
    states: list[str | None] = []
    for check in handler.filters or ():
        target = check.callback
        if isinstance(target, Command):
            for name in target.commands:
                if isinstance(name, str):
                    texts += [f"/{name}", f"/{name}@bot 1 2"]
                    if target.ignore_case:
                        texts.append(f"/{name.upper()}")
        elif isinstance(target, CallbackQueryFilter):
            cls = target.callback_data
            data += [f"{cls.__prefix__}{cls.__separator__}{tail}" for tail in ("1", "join:2:x", "")]
        else:
            states += sorted(_states(target) or (), key=str)
    return texts, data, states


def test_everything_a_handler_takes_passes_its_routers_gate(routers: list[Router]) -> None:
    commands = taps = waits = 0
    for router in routers:
        for kind, gate in gates(router).items():
            for handler in handlers(router, kind):
                texts, data, states = what_it_takes(handler)
                for state in states or [None]:
                    context = {"raw_state": state} if states else {}
                    waits += bool(states)
                    if kind == "message":
                        for text in texts or ["just words"]:
                            assert gate(message(text), context), (router.name, text, state)
                            commands += bool(texts)
                    elif kind == "callback_query":
                        for tap in data or ["x"]:
                            assert gate(callback(tap), context), (router.name, tap, state)
                            taps += bool(data)
    assert commands > 200 and taps > 50 and waits > 10, (commands, taps, waits)


def test_what_no_handler_takes_is_refused_by_every_gate(routers: list[Router]) -> None:
    for router in routers:
        found = gates(router)
        if "message" in found:
            for text in ("/no_such_command", "hello", "/", " \n\t "):
                assert not found["message"](message(text), {"raw_state": "Nowhere:step"})
        if "callback_query" in found:
            assert not found["callback_query"](callback("zzz:1"), {"raw_state": None})
        if "poll_answer" in found and not router.observers["poll_answer"].handlers:
            assert not found["poll_answer"](object(), {})


async def test_a_gated_router_skips_what_it_cannot_take_and_answers_what_it_can() -> None:
    """The gate in front of a real router: an unknown command never reaches its handlers'
    filters; its own command still reaches its handler."""
    router = Router(name="probe")
    seen: list[str] = []

    def counting(event: Message) -> bool:
        seen.append(event.text or "")
        return True

    @router.message(counting, Command("probe"))
    async def probe(event: Message) -> str:
        return "answered"

    dp = Dispatcher()
    dp.include_router(router)
    quicken(dp)
    assert await router.propagate_event("message", message("/other"), bot=None) is UNHANDLED
    assert seen == []
    assert await router.propagate_event("message", message("/probe now"), bot=None) == "answered"
    assert seen == ["/probe now"]
