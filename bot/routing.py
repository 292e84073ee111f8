"""Make aiogram's routing cheap without changing which handler answers.

aiogram tries an update against every router in turn, and in each router against every
handler's filters, until one matches: a `/start` passed through about 35 routers and 140
filters on its way. Two things are done here, once, after the routers are attached:

- Filters run in the loop, and a command filter looks at the command's name first
  (`_inline`, `_named_command`).
- Each leaf router gets a gate per kind of update: a quick test of what its handlers could
  possibly take (their command names, callback-data prefixes, FSM states, and the fields a
  magic filter needs set, such as `F.successful_payment` or `F.reply_to_message`). An update
  that no handler of the router could match skips the router whole, without the calls,
  middlewares and filters aiogram would spend finding that out. A gate only ever lets
  through more than its handlers take, never less, so the same handler answers as before.
- A router with children (the Dispatcher) calls only the children whose gate could let the
  update through, found in an index of their gates by state, command name, callback-data
  prefix and needed field (`_Plan`): a refused child costs nothing, where aiogram makes two
  calls per child, each copying the update's whole handler data (`_ask_gates_first`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from inspect import isclass
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.bases import REJECTED, UNHANDLED
from aiogram.dispatcher.event.handler import FilterObject, HandlerObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from magic_filter.operations import GetAttributeOperation

Gate = Callable[[Any, dict[str, Any]], bool]
_GATES = "quick_gates"  # where a gated router keeps its gates (in its __dict__)
_PLANS = "quick_plans"  # where a router with children keeps its plans, by kind of update


def quicken(root: Router) -> None:
    """Set up the quick filters and the routers' gates under `root` (idempotent: the routers
    live at module level, and the test suite attaches them to one Dispatcher after another)."""
    for router in root.chain_tail:
        for observer in router.observers.values():
            # the router's own filters (`router.message.filter(...)`), then each handler's
            for handler in (observer._handler, *observer.handlers):
                for check in handler.filters or ():
                    _quicken_filter(check)
        if router is not root and not router.sub_routers:
            _gate(router)
    for router in root.chain_tail:
        if router.sub_routers:
            _ask_gates_first(router)


def _quicken_filter(check: FilterObject) -> None:
    """aiogram hands every filter that is not a coroutine function (magic filters such as
    `F.text`, our role checks) to `asyncio.to_thread`: a thread hop per filter tried. Plain
    filters are quick and never block, so they run in the loop; a command filter refuses
    another command's name before parsing it. The filter itself is left as it is, for whoever
    inspects it."""
    if "call" in vars(check):
        return
    if isinstance(check.callback, Command):
        quick = _named_command(check.callback, check.call)
    elif not check.awaitable:
        quick = _inline(check)
    else:
        return
    vars(check)["call"] = quick  # shadows the method on this filter only


def _inline(check: FilterObject) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return check.callback(*args, **check._prepare_kwargs(kwargs))

    return call


def _named_command(
    command: Command, call: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    """`call` (aiogram's Command filter) behind a look at the command's name: a name that is
    not one of the filter's plain names is refused at once; anything else (a matching name, a
    filter with a pattern) goes to aiogram's filter as before."""
    names = _plain_names(command)
    if names is None:
        return call

    async def checked(message: Any, *args: Any, **kwargs: Any) -> Any:
        if _command_name(message, command.prefix, command.ignore_case) not in names:
            return False
        return await call(message, *args, **kwargs)

    return checked


def _plain_names(command: Command) -> frozenset[str] | None:
    """The command's names as they are compared (folded when it ignores case), or None when
    one of them is a pattern."""
    if not all(isinstance(name, str) for name in command.commands):
        return None
    fold = command.ignore_case
    return frozenset(str(n).casefold() if fold else str(n) for n in command.commands)


def _command_name(message: Any, prefixes: str, fold: bool) -> str | None:
    """The command a message starts with, as a Command filter would read it (without the
    prefix and the bot's @name), or None when it does not start with one of `prefixes`."""
    if not isinstance(message, Message):
        return None
    words = (message.text or message.caption or "").split(maxsplit=1)
    if not words or words[0][0] not in prefixes:
        return None
    name = words[0][1:].partition("@")[0]
    return name.casefold() if fold else name


# What one handler can take, as far as its gate is concerned: command names, callback-data
# prefixes (with their separator), FSM states (None: no state), or else the fields its magic
# filters need set (one set of names per handler). A handler with none of these can take
# anything, and its router gets no gate for that kind of update.
class _Takes:
    def __init__(self) -> None:
        self.prefixes = ""
        self.names: set[str] = set()
        self.callbacks: set[tuple[str, str]] = set()
        self.states: set[str | None] = set()
        self.fields: set[frozenset[str]] = set()


def _gate(router: Router) -> None:
    gates: dict[str, Gate] = {}
    for update_type, observer in router.observers.items():
        if update_type in {"error", "startup", "shutdown"}:
            continue
        gate = _observer_gate(observer)
        if gate is not None:
            gates[update_type] = gate
    if not gates or "propagate_event" in vars(router):
        return
    propagate = router.propagate_event

    async def gated(update_type: str, event: Any, **kwargs: Any) -> Any:
        gate = gates.get(update_type)
        if gate is not None and not gate(event, kwargs):
            return UNHANDLED
        return await propagate(update_type=update_type, event=event, **kwargs)

    vars(router)["propagate_event"] = gated  # shadows the method on this router only
    vars(router)[_GATES] = gates


def _ask_gates_first(router: Router) -> None:
    """aiogram's `Router._propagate_event` on this router, except that only the children
    whose gate could let the event through are called, found in the router's plan for that
    kind of update (`_Plan`). aiogram calls every child's `propagate_event` with the handler
    data spread as keywords (a copy of some thirty entries per call, twice per child with the
    gate in between): for a /start that was most of the time spent finding its handler. A
    child without a gate for this kind of update is called as before; a child that is called
    checks its gate again (cheap). The plans are made anew each time `quicken` runs, after
    the children are attached."""
    vars(router).setdefault(_PLANS, {}).clear()
    if "_propagate_event" in vars(router):
        return

    async def propagate(
        observer: TelegramEventObserver | None, update_type: str, event: Any, **kwargs: Any
    ) -> Any:
        response = UNHANDLED
        if observer:
            # the router's own filters and handlers first, as aiogram does
            result, data = await observer.check_root_filters(event, **kwargs)
            if not result:
                return UNHANDLED
            kwargs.update(data)
            response = await observer.trigger(event, **kwargs)
            if response is REJECTED:
                return UNHANDLED
            if response is not UNHANDLED:
                return response
        children = router.sub_routers
        for position in plan_for(router, update_type).candidates(event, kwargs):
            child = children[position]
            response = await child.propagate_event(update_type=update_type, event=event, **kwargs)
            if response is not UNHANDLED:
                break
        return response

    vars(router)["_propagate_event"] = propagate  # shadows the method on this router only


def plan_for(router: Router, update_type: str) -> _Plan:
    """The router's plan for events of `update_type`, made on first use from its children's
    gates (after `quicken`)."""
    plans: dict[str, _Plan] = vars(router).setdefault(_PLANS, {})
    plan = plans.get(update_type)
    if plan is None:
        gates = [vars(child).get(_GATES, {}).get(update_type) for child in router.sub_routers]
        plan = plans[update_type] = _Plan(gates)
    return plan


def _observer_gate(observer: TelegramEventObserver) -> Gate | None:
    """A test an event must pass for any handler of `observer` to match it, or None when the
    handlers are not all of a kind this understands (or the observer has middlewares, which
    must see every event)."""
    if observer.outer_middleware._middlewares:
        return None
    if not observer.handlers:
        return _never
    takes = _Takes()
    for handler in observer.handlers:
        if not _collect(handler, takes):
            return None
    return _QuickGate(takes)


class _QuickGate:
    """The gate of one observer: what its handlers could take, and the test of an event
    against it. The same facts index a parent's children (`_Plan`)."""

    def __init__(self, takes: _Takes) -> None:
        self.names = frozenset(takes.names)
        self.prefixes = "".join(sorted(set(takes.prefixes)))  # each command's, once
        self.states = frozenset(takes.states)
        self.callbacks = frozenset(takes.callbacks)
        self.separators = frozenset(separator for _, separator in self.callbacks)
        self.fields = tuple(takes.fields)

    def __call__(self, event: Any, data: dict[str, Any]) -> bool:
        if self.states and data.get("raw_state") in self.states:
            return True
        for needed in self.fields:
            if all(getattr(event, name, None) is not None for name in needed):
                return True
        if self.names:
            name = _command_name(event, self.prefixes, False)
            if name is not None and (name in self.names or name.casefold() in self.names):
                return True
        if self.callbacks and isinstance(event, CallbackQuery) and event.data:
            tapped = event.data
            return any((tapped.split(s, 1)[0], s) in self.callbacks for s in self.separators)
        return False


class _Plan:
    """Which children of a router could take an event of one kind, found with a few lookups
    instead of asking each child's gate in turn (some sixty of them under the Dispatcher): the
    children without a gate always, and those whose gate names the event's state, command
    name or callback-data prefix, or whose needed fields the event has set. It finds exactly
    the children whose gate would let the event through (tests/test_routing.py)."""

    def __init__(self, gates: list[Gate | None]) -> None:
        self.always: list[int] = []
        self.by_state: dict[str | None, list[int]] = {}
        self.by_name: dict[tuple[str, str], list[int]] = {}
        self.prefixes: set[str] = set()
        self.by_callback: dict[tuple[str, str], list[int]] = {}
        self.separators: set[str] = set()
        self.by_fields: list[tuple[int, tuple[frozenset[str], ...]]] = []
        self.field_names: set[str] = set()  # every field some child needs set
        for position, gate in enumerate(gates):
            if gate is None:
                self.always.append(position)
            elif isinstance(gate, _QuickGate):
                self._index(position, gate)
            elif gate is not _never:
                raise TypeError(f"no plan for the gate {gate!r}")

    def _index(self, position: int, gate: _QuickGate) -> None:
        for state in gate.states:
            self.by_state.setdefault(state, []).append(position)
        if gate.names:
            self.prefixes.add(gate.prefixes)
            for name in gate.names:
                self.by_name.setdefault((gate.prefixes, name), []).append(position)
        for key in gate.callbacks:
            self.by_callback.setdefault(key, []).append(position)
            self.separators.add(key[1])
        if gate.fields:
            self.by_fields.append((position, gate.fields))
            self.field_names.update(*gate.fields)

    def candidates(self, event: Any, data: dict[str, Any]) -> list[int]:
        found = set(self.always)
        if self.by_state:
            found.update(self.by_state.get(data.get("raw_state"), ()))
        if self.by_fields:
            present = {name for name in self.field_names if getattr(event, name, None) is not None}
            for position, fields in self.by_fields:
                if any(needed <= present for needed in fields):
                    found.add(position)
        for prefixes in self.prefixes:
            name = _command_name(event, prefixes, False)
            if name is not None:
                found.update(self.by_name.get((prefixes, name), ()))
                found.update(self.by_name.get((prefixes, name.casefold()), ()))
        if self.separators and isinstance(event, CallbackQuery) and event.data:
            for separator in self.separators:
                key = (event.data.split(separator, 1)[0], separator)
                found.update(self.by_callback.get(key, ()))
        return sorted(found)


def _never(event: Any, data: dict[str, Any]) -> bool:
    return False


def _collect(handler: HandlerObject, takes: _Takes) -> bool:
    """Add what this handler can take to `takes`; False when it could take anything (no
    command, callback data, state or field test among its filters)."""
    if _collect_named(handler, takes):
        return True
    needed = frozenset(
        name for name in map(_needed_field, handler.filters or ()) if name is not None
    )
    if needed:
        takes.fields.add(needed)
    return bool(needed)


def _needed_field(check: FilterObject) -> str | None:
    """The event's field a magic filter refuses the event without (`F.successful_payment`,
    `F.reply_to_message`, `F.successful_payment.invoice_payload.startswith(...)`: "set" means
    not None), or None when the filter is not of that shape. Only a filter that reads a field
    and then, if anything, reads a field of that field qualifies: magic_filter rejects the
    second read on None and skips every later operation that is not "important" (an invert,
    `|`), so such a filter is falsy whenever the first field is missing; one that compares
    the field itself (`F.x == None`, `~F.x`) could be truthy and does not qualify."""
    magic = check.magic
    operations = magic._operations if magic is not None else ()
    if not operations or not isinstance(operations[0], GetAttributeOperation):
        return None
    if any(operation.important for operation in operations):
        return None
    if len(operations) > 1 and not isinstance(operations[1], GetAttributeOperation):
        return None
    return operations[0].name


def _collect_named(handler: HandlerObject, takes: _Takes) -> bool:
    """Add the command names, callback data or states this handler's filters name to
    `takes`; False when none of its filters names any."""
    for check in handler.filters or ():
        target = check.callback
        if isinstance(target, Command):
            names = _plain_names(target)
            if names is not None:
                takes.names |= names | {n.casefold() for n in names}
                takes.prefixes += target.prefix
                return True
        elif isinstance(target, CallbackQueryFilter):
            data = target.callback_data
            takes.callbacks.add((data.__prefix__, data.__separator__))
            return True
        else:
            states = _states(target)
            if states is not None:
                takes.states |= states
                return True
    return False


def _states(target: Any) -> set[str | None] | None:
    """The raw states a state filter lets through, or None when it is not a state filter or
    lets through any state."""
    allowed: tuple[Any, ...]
    if isinstance(target, StateFilter):
        allowed = tuple(target.states)
    elif isinstance(target, State | StatesGroup) or (
        isclass(target) and issubclass(target, StatesGroup)
    ):
        allowed = (target,)
    else:
        return None
    states: set[str | None] = set()
    for state in allowed:
        if state is None or isinstance(state, str):
            if state == "*":
                return None
            states.add(state)
        elif isinstance(state, State):
            if state.state == "*":
                return None
            states.add(state.state)
        elif isinstance(state, StatesGroup):
            states |= set(type(state).__all_states_names__)
        elif isclass(state) and issubclass(state, StatesGroup):
            states |= set(state.__all_states_names__)
        else:
            return None
    return states
