"""Faults: injected errors, timeouts, dropped connections and redirects, fixed or random."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable

from .base import EmulatorBase
from .world import (
    DROPPED,
    REDIRECTS,
    TIMEOUT,
    _Dropped,
    _Fault,
    _RandomFaults,
    _Redirect,
    _Timeout,
)


class FaultsMixin(EmulatorBase):
    """Errors, timeouts, dropped connections and redirects served instead of answers."""

    def inject_fault(
        self,
        method: str | None = None,
        *,
        status: int = 500,
        count: int = 1,
        retry_after: int | None = None,
        delay: float = 0.0,
        description: str | None = None,
        after: bool = False,
    ) -> None:
        """Make the next ``count`` calls of ``method`` (any method when None) fail.

        ``status`` 500/502/... answers a server error, 429 a flood error with ``retry_after``;
        ``REDIRECT_LOOP`` redirects to the same URL, ``INVALID_REDIRECT`` to an invalid URL
        (both as a broken proxy would; the call is not executed); ``TIMEOUT`` (0) never
        answers: the request hangs until the client's own timeout and is not executed;
        ``DROPPED`` never answers either, but at once: the connection is closed (not executed);
        ``delay`` seconds are slept first (a status < 400, e.g. 200, then answers normally,
        which simulates a slow server).

        ``after=True`` carries the call out first and only then fails its answer: Telegram did
        it, the client never heard (with ``TIMEOUT``: the request hangs, done, until the client
        gives up or dies; with ``DROPPED``: the connection closes once it is done).
        """
        name = None
        if method is not None:
            name = self.spec.method_name(method)
            if name is None:
                raise ValueError(f"unknown Bot API method {method!r}")
        if count < 1:
            raise ValueError("count must be >= 1")
        self._faults.append(_Fault(name, status, count, retry_after, delay, description, after))

    def inject_random_faults(
        self,
        *,
        seed: int,
        rate: float,
        statuses: Iterable[int] = (429, 500, 502, TIMEOUT),
        methods: Iterable[str] | None = None,
        retry_after: int = 1,
    ) -> None:
        """From now on, each call (of ``methods``, any but getUpdates when None) fails with
        probability ``rate``, with a status drawn from ``statuses``: 429 (``retry_after``),
        a 5xx, TIMEOUT or DROPPED. The draws come from ``seed``, so a run replays the same
        faults for the same sequence of calls. Scripted faults (:meth:`inject_fault`) go first."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        names = None
        if methods is not None:
            names = frozenset(self.spec.method_name(m) or m for m in methods)
        self._random_faults = _RandomFaults(
            random.Random(seed), rate, tuple(statuses), names, retry_after
        )

    def clear_faults(self) -> None:
        self._faults.clear()
        self._random_faults = None

    async def _apply_fault(self, name: str) -> _Fault | None:
        """Serve the fault due for this call, if any; one to serve after the call (``after``)
        is returned instead."""
        for fault in self._faults:
            if fault.method is None or fault.method == name:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                if fault.delay > 0:
                    await asyncio.sleep(fault.delay)
                if fault.after:
                    return fault
                self._serve_fault(name, fault)
                return None
        chaos = self._random_faults
        if chaos is None or name == "getUpdates":
            return None
        if chaos.methods is not None and name not in chaos.methods:
            return None
        if chaos.rng.random() < chaos.rate:
            status = chaos.rng.choice(chaos.statuses)
            self._serve_fault(name, _Fault(name, status, 1, chaos.retry_after, 0.0, None))
        return None

    def _serve_fault(self, name: str, fault: _Fault) -> None:
        if fault.status == TIMEOUT:
            self.faults_served.append((name, TIMEOUT))
            raise _Timeout
        if fault.status == DROPPED:
            self.faults_served.append((name, DROPPED))
            raise _Dropped
        if fault.status in REDIRECTS:
            self.faults_served.append((name, fault.status))
            raise _Redirect(REDIRECTS[fault.status])
        if fault.status >= 400:
            self.faults_served.append((name, fault.status))
            raise fault.error()
