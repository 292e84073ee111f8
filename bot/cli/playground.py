"""The local playground: the real bot against the Bot API emulator, driven from a console.

A person (or a scenario file) acts as several users in several groups: switch user, switch
chat, type a message, press a shown button by its number. Nothing reaches Telegram.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

from aiohttp.web import AppRunner

from bot.app import Runtime, build_runtime, prepare
from bot.cli.playground_console import Console
from bot.cli.playground_world import GROUPS, PERSONAS, PlaygroundClock, build_world
from bot.config import Settings
from tgemu import EMULATOR_TOKEN, Emulator


async def _lines(script: Path | None, console: Console) -> AsyncIterator[str]:
    if script is not None:
        text = await asyncio.to_thread(script.read_text, encoding="utf-8")
        for line in text.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                console.write(f"{console.prompt}{line.strip()}")
            yield line
        return
    loop = asyncio.get_running_loop()
    while True:
        try:
            line = await loop.run_in_executor(None, input, console.prompt)
        except EOFError:
            return
        yield line


async def run_playground(
    settings: Settings,
    *,
    script: Path | None = None,
    database: str | None = None,
    write: Callable[[str], None] = print,
) -> int:
    """Start the emulator and the bot, then run the console (or the script) until done."""
    emulator = Emulator()
    await emulator.start()
    with tempfile.TemporaryDirectory(prefix="playground-") as tmp:
        url = database or f"sqlite+aiosqlite:///{Path(tmp) / 'playground.sqlite3'}"
        local = settings.model_copy(
            update={
                "telegram_api_url": emulator.base_url,
                "database_url": url,
                "redis_url": None,
                "owner_ids": frozenset({PERSONAS[0].user_id}),
                "webhook_url": None,
                "pace_messages": False,  # the emulator here does not limit; keep the demo brisk
            }
        )
        clock = PlaygroundClock()
        runtime = build_runtime(local, EMULATOR_TOKEN, clock=clock)
        try:
            await prepare(runtime)
            await runtime.closer.start()  # group-buy deadlines fire here too
            await runtime.care.start()
            await runtime.retention.start()
            await runtime.reservations.start()  # reminders and expiry of reservations
            await runtime.broadcasts.start()
            await runtime.polls.start()  # poll closing times too
            web = None
            if script is None:  # the dashboard, for /dashboard's login link
                web = await _serve_dashboard(runtime, write)
            try:
                return await _session(runtime, emulator, script, write, clock)
            finally:
                if web is not None:
                    await web.cleanup()
        finally:
            await runtime.close()
            await emulator.stop()


async def _serve_dashboard(runtime: Runtime, write: Callable[[str], None]) -> AppRunner | None:
    from bot.web.dashboard import create_web_app
    from bot.webhook import serve

    try:
        runner = await serve(create_web_app(runtime), runtime)
    except OSError as exc:  # the port is taken: the playground runs without the dashboard
        write(f"(dashboard off: port {runtime.settings.webhook_port} is busy: {exc.strerror})")
        return None
    write(f"Dashboard: {runtime.settings.dashboard_base}/ (send /dashboard for a login link)")
    return runner


async def _session(
    runtime: Runtime,
    emulator: Emulator,
    script: Path | None,
    write: Callable[[str], None],
    clock: PlaygroundClock,
) -> int:
    build_world(emulator)

    async def settle() -> None:
        # Stars refunds are sent here, after each line, rather than by the refunder's own loop,
        # so that the member's notice shows right after the /refund that caused it
        await runtime.refunder.run_once()
        # a card's edits show right after the line that changed it, not after CARD_EDIT_SECONDS,
        # so a script can press the button it grew (the waitlist's, say); freed units are
        # offered to the waitlist at once, not on the job's next sweep
        await runtime.cards.flush()
        await runtime.waitlist.run()
        # members' messages and taps are written after each line, not every minute, so that
        # /metrics and the dashboard count them at once
        await runtime.interactions.run()
        await runtime.notifier.drain()

    async def wait(hours: float) -> None:
        # the scheduler's jobs wake on the real clock: run what fell due on the bot's at once.
        # Broadcast rows already due go out before the clock moves (at their own time, not
        # hours late); after it moves, sends in flight finish before any housekeeping, which
        # would fail a row claimed on the old clock as abandoned (its lease over)
        await runtime.broadcasts.drain()
        clock.offset += timedelta(hours=hours)
        await runtime.broadcasts.drain()
        await runtime.closer.close_due()
        await runtime.polls.close_due()
        await runtime.reservations.run()
        await runtime.waitlist.run()  # lapsed offers pass to the next member
        await runtime.digest.run()  # the week's digest, once the brand's Monday morning passed
        await runtime.alerts.run()  # crossed alerts, once a day each
        await runtime.broadcasts.housekeeping()  # finished broadcasts are done
        await runtime.ab_reports.run()  # A/B tests whose 48 hours passed are reported
        await runtime.memberships.run()  # memberships whose month ran out unrenewed
        await runtime.trials.run()  # trial reminders, and trials closed at their due date

    console = Console(emulator=emulator, write=write, settle=settle, wait=wait)
    polling = asyncio.create_task(
        runtime.dp.start_polling(
            runtime.bot,
            handle_as_tasks=False,
            handle_signals=False,
            close_bot_session=False,
            polling_timeout=1,
            allowed_updates=runtime.dp.resolve_used_update_types(),
        )
    )
    try:
        if script is None:
            write(
                "Community bot playground: the real bot, a pretend Telegram. :help lists commands."
            )
        # the owner adds the bot, so both groups are approved at once
        # the owner adds the bot to the groups: each creator leads theirs at once
        for _key, (chat_id, _title, _creator) in GROUPS.items():
            update = emulator.add_bot_to_group(chat_id, PERSONAS[0].user_id)
            await emulator.wait_processed(update["update_id"])
        console.flush()
        async for line in _lines(script, console):
            if not await console.handle(line):
                break
    finally:
        await runtime.dp.stop_polling()
        await asyncio.wait_for(polling, timeout=10)
    return 0
