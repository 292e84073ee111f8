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
from aiogram import Dispatcher, F, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.types import CallbackQuery, Chat, Message, User
from magic_filter.operations import GetAttributeOperation

from bot.routing import _states, plan_for, quicken
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


def what_it_takes(
    handler: HandlerObject,
) -> tuple[list[str], list[str], list[str | None], dict[str, object]]:
    """Texts, callback data and raw states that satisfy each of the handler's command,
    callback-data and state filters (empty: the handler has no such filter), and the fields
    its magic filters read, each set to a stand-in value."""
    texts: list[str] = []
    data: list[str] = []
    states: list[str | None] = []
    fields: dict[str, object] = {}
    for check in handler.filters or ():
        target = check.callback
        if check.magic is not None:
            operations = check.magic._operations
            if operations and isinstance(operations[0], GetAttributeOperation):
                fields.setdefault(operations[0].name, object())
            continue
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
    return texts, data, states, fields


def test_everything_a_handler_takes_passes_its_routers_gate(routers: list[Router]) -> None:
    commands = taps = waits = needs = 0
    for router in routers:
        for kind, gate in gates(router).items():
            for handler in handlers(router, kind):
                texts, data, states, fields = what_it_takes(handler)
                for state in states or [None]:
                    context = {"raw_state": state} if states else {}
                    waits += bool(states)
                    if kind == "message":
                        for text in texts or ["just words"]:
                            # fields such as reply_to_message set to a stand-in (the gate
                            # only asks whether they are set)
                            event = message(text).model_copy(update=fields)
                            assert gate(event, context), (router.name, text, state, fields)
                            commands += bool(texts)
                            needs += bool(fields) and not texts and not states
                    elif kind == "callback_query":
                        for tap in data or ["x"]:
                            assert gate(callback(tap), context), (router.name, tap, state)
                            taps += bool(data)
    assert commands > 200 and taps > 50 and waits > 10 and needs >= 5, (
        commands,
        taps,
        waits,
        needs,
    )


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


async def test_the_dispatcher_asks_a_childs_gate_before_calling_it() -> None:
    """A router whose gate refuses the update is passed over by its parent without a call; the
    parent's own filters and handlers still come first, and the first child that answers
    ends the search, as in aiogram."""
    first, second, third = Router(name="first"), Router(name="second"), Router(name="third")
    called: list[str] = []

    @first.message(Command("one"))
    async def one(event: Message) -> str:
        return "one"

    @second.message(Command("two"))
    async def two(event: Message) -> str:
        return "two"

    @third.message(Command("two"))
    async def also_two(event: Message) -> str:
        return "third"

    dp = Dispatcher()
    dp.include_routers(first, second, third)
    quicken(dp)
    for router in (first, second, third):
        gated = vars(router)["propagate_event"]

        async def spy(*args: Any, _name: str = router.name, _gated: Any = gated, **kw: Any) -> Any:
            called.append(_name)
            return await _gated(*args, **kw)

        vars(router)["propagate_event"] = spy
    assert await dp.propagate_event("message", message("/two"), bot=None) == "two"
    assert called == ["second"]  # "first" refused at its gate, "third" never reached
    called.clear()
    assert await dp.propagate_event("message", message("/none"), bot=None) is UNHANDLED
    assert called == []

    # the parent's own handler answers before any child, as in aiogram
    @dp.message(Command("two"))
    async def at_the_root(event: Message) -> str:
        return "root"

    assert await dp.propagate_event("message", message("/two"), bot=None) == "root"
    assert called == []


def test_a_field_gate_lets_through_only_messages_with_the_field_set() -> None:
    """A router whose handlers need a field set (a payment, a reply) refuses a plain command;
    a filter that could pass with the field missing (`== None`, `~`) leaves its router
    ungated."""
    paid, replies, negated = Router(name="paid"), Router(name="replies"), Router(name="negated")
    paid.message(F.successful_payment.invoice_payload.startswith("plan:"))(_answer)
    replies.message(F.chat.type == "group", F.text, F.reply_to_message)(_answer)
    negated.message(F.reply_to_message == None)(_answer)  # noqa: E711 (a magic filter)
    negated.message(~F.reply_to_message)(_answer)
    dp = Dispatcher()
    dp.include_routers(paid, replies, negated)
    quicken(dp)
    plain = message("/start")
    replying = plain.model_copy(update={"reply_to_message": message("earlier")})
    paying = plain.model_copy(update={"successful_payment": object()})
    assert not gates(paid)["message"](plain, {}) and gates(paid)["message"](paying, {})
    assert not gates(replies)["message"](plain, {})
    assert gates(replies)["message"](replying, {})
    assert "message" not in gates(negated)


async def _answer(event: Message) -> str:
    return "answered"


def test_the_dispatchers_plan_finds_exactly_the_children_whose_gate_lets_an_event_through() -> None:
    """The Dispatcher calls only the children its plan names: for every command, tap, state
    and needed field a handler takes (and for what none takes), the plan names the same
    children, in the same order, as asking each child's gate in turn would."""
    dp = Dispatcher()
    dp.include_routers(*feature_routers())
    quicken(dp)
    children = list(dp.sub_routers)
    events: list[tuple[str, Any, dict[str, Any]]] = []
    for router in children:
        for kind in ("message", "callback_query"):
            for handler in handlers(router, kind):
                texts, data, states, fields = what_it_takes(handler)
                # a text or caption the handler reads stands in as words (a command may follow)
                fields = {k: "words" if k in ("text", "caption") else v for k, v in fields.items()}
                for state in [*states, None, "Nowhere:step"]:
                    context = {"raw_state": state}
                    if kind == "message":
                        for text in [*texts, "just words", "/no_such_command", "/START"]:
                            events.append((kind, message(text).model_copy(update=fields), context))
                            events.append((kind, message(text), context))
                    else:
                        for tap in [*data, "zzz:1", "x"]:
                            events.append((kind, callback(tap), context))
    assert len(events) > 1000
    called = 0
    for kind, event, context in events:
        gates_ = [vars(child).get("quick_gates", {}).get(kind) for child in children]
        expected = [i for i, gate in enumerate(gates_) if gate is None or gate(event, context)]
        assert plan_for(dp, kind).candidates(event, context) == expected, (kind, event, context)
        called += len(expected)
    # the plan does spare calls: an event reaches a few children, not all of them
    assert called < len(events) * len(children) // 4, (called, len(events), len(children))
