"""The emulated Telegram world: users, chats, message history, updates and Bot API methods.

The Emulator class puts together one mixin per Bot API area (chats, messages, files, polls,
payments, faults, the bot's profile) over the shared state of EmulatorBase; here: the
server's lifecycle, dispatching calls, getUpdates and the webhook."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web

from .chats import ChatsMixin
from .faults import FaultsMixin
from .files import FilesMixin
from .messages import MessagesMixin
from .payments import PaymentsMixin
from .polls import PollsMixin
from .profile import ProfileMixin
from .server import create_app, read_multipart
from .spec import ApiError, Converter, UploadedFile, bad_request
from .world import (
    CHANNEL_BOT,
    DROPPED,
    EMULATOR_TOKEN,
    GROUP_ANONYMOUS_BOT,
    INVALID_REDIRECT,
    REDIRECT_LOOP,
    TIMEOUT,
    StoredMessage,
    _Dropped,
    _now,
    _Redirect,
    _Timeout,
)

__all__ = [
    "CHANNEL_BOT",
    "DROPPED",
    "EMULATOR_TOKEN",
    "GROUP_ANONYMOUS_BOT",
    "INVALID_REDIRECT",
    "REDIRECT_LOOP",
    "TIMEOUT",
    "Emulator",
    "StoredMessage",
]


class Emulator(
    MessagesMixin,
    ChatsMixin,
    PollsMixin,
    PaymentsMixin,
    FilesMixin,
    FaultsMixin,
    ProfileMixin,
):
    """A local Telegram Bot API server with an inspectable, scriptable world.

    Start it with :meth:`start`, point ``aiogram.Bot`` at ``TelegramAPIServer.from_base(
    emulator.base_url)``, inject user activity with :meth:`send_message`, :meth:`press_button`,
    :meth:`answer_poll` ... and inspect the result with :meth:`messages`, :attr:`calls` ...
    All methods must be called from the event loop thread that runs the server.
    """

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the Bot API on ``host:port`` (0 = a free port); returns the base URL."""
        if self._runner is not None:
            return self.base_url
        self._closing = False
        runner = web.AppRunner(create_app(self), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"
        if self.webhook is not None:
            self._ensure_webhook_worker()
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; pending long polls are answered with an empty list."""
        self._closing = True
        self._notify()
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def open_url(self, user_id: int, url: str) -> list[dict[str, Any]]:
        """The user taps a link (a URL button): a deep link into the bot
        (``https://t.me/<bot>?start=<payload>``) opens the private chat and sends
        ``/start <payload>`` as Telegram's app does; an invite link made by
        createChatInviteLink joins the group (see :meth:`join_by_link`); an invoice link made
        by createInvoiceLink opens the payment (see :meth:`pay_invoice_link`)."""
        parsed = urlsplit(url)
        if parsed.scheme not in ("http", "https", "tg") or parsed.netloc not in (
            "t.me",
            "telegram.me",
        ):
            raise ValueError(f"{url!r} is not a Telegram link")
        path = parsed.path.strip("/")
        if path.startswith("+") or path.startswith("joinchat/"):
            return self.join_by_link(user_id, url)
        if path.startswith("$"):  # an invoice link: the payment window opens
            return [self.pay_invoice_link(user_id, url)]
        if path.lower() != str(self.bot_user["username"]).lower():
            raise ValueError(f"{url!r} does not lead to this bot")
        start = parse_qs(parsed.query).get("start")
        text = f"/start {start[0]}" if start and start[0] else "/start"
        return [self.send_message(user_id, user_id, text)]

    def _ensure_webhook_worker(self) -> None:
        if self._webhook_task is not None and not self._webhook_task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # started by start() or the next injection inside the loop
        self._webhook_task = loop.create_task(self._webhook_worker())

    async def _webhook_worker(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while self.webhook is not None and not self._closing:
                event = self._changed
                if not self._pending:
                    await event.wait()
                    continue
                update = self._pending.pop(0)
                status = await self._deliver(session, self.webhook, update)
                self.webhook_statuses[update["update_id"]] = status
                self._notify()

    async def _deliver(
        self, session: aiohttp.ClientSession, webhook: dict[str, Any], update: dict[str, Any]
    ) -> int:
        headers = {}
        if webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(webhook["secret_token"])
        try:
            async with session.post(webhook["url"], json=update, headers=headers) as response:
                status = response.status
                if 200 <= status < 300:
                    await self._run_webhook_reply(response)
                else:
                    self._webhook_error = (_now(), f"Wrong response from the webhook: {status}")
                return status
        except (aiohttp.ClientError, TimeoutError) as err:
            self._webhook_error = (_now(), f"Connection error: {type(err).__name__}")
            return 0

    async def _run_webhook_reply(self, response: aiohttp.ClientResponse) -> None:
        """Execute a Bot API call returned in the webhook response body (aiogram supports it)."""
        raw: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        try:
            if response.content_type == "application/json":
                body = await response.json()
                if isinstance(body, dict):
                    raw = body
            elif response.content_type.startswith("multipart/"):
                reader = aiohttp.MultipartReader(response.headers, response.content)
                raw, files = await read_multipart(reader)
        except (ValueError, aiohttp.ClientError):
            return
        method = raw.pop("method", None)
        if isinstance(method, str) and method:
            await self.dispatch(method, raw, files)

    async def dispatch(
        self,
        method: str,
        raw: Mapping[str, Any],
        files: Mapping[str, UploadedFile] | None = None,
        *,
        client_gone: Callable[[], bool] | None = None,
        metered: bool = True,
    ) -> tuple[int, dict[str, Any]]:
        """Execute one Bot API call; returns (HTTP status, JSON body) exactly as served.

        ``client_gone`` tells whether the caller stopped waiting: a TIMEOUT fault holds the call
        until then (an in-process caller gets a 504 at once). ``metered`` False: a call made
        with one of ``unmetered_tokens``, outside the rate limits.
        """
        name = self.spec.method_name(method)
        if name is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        index = len(self.calls)
        self.calls.append((name, dict(raw)))
        try:
            lost_answer = await self._apply_fault(name)
            params = Converter(
                self.spec,
                files,
                strict_html=self.strict_html,
                reject_unknown=self.reject_unknown_params,
            ).convert_params(name, raw)
            self.calls[index] = (name, params)
            for watcher in list(self.call_watchers):
                watcher(name, params)
            impl = self._impls.get(name)
            if impl is None:
                raise bad_request("method not supported by the emulator")
            limited = metered and self.enforce_rate_limits and self._is_rate_limited(name)
            chat_id = self._rate_check(params) if limited else None
            result = impl(params)
            if inspect.isawaitable(result):
                result = await result
            if limited:
                self._rate_record(chat_id)
            if self.validate_responses:
                self._self_check(name, result)
            if lost_answer is not None:
                self._serve_fault(name, lost_answer)
        except ApiError as err:
            if err.status == 429:
                self.http_429 += 1
            return err.status, err.payload()
        except _Redirect as redirect:
            # the HTTP server turns "redirect" into the Location header
            return 307, {
                "ok": False,
                "error_code": 307,
                "description": "Temporary Redirect",
                "redirect": redirect.kind,
            }
        except _Dropped:
            # the HTTP server closes the connection on "dropped" (an in-process caller: 502)
            answer = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
            return 502, {**answer, "dropped": True}
        except _Timeout:
            # aiohttp has no event for a client going away: look every 10 ms
            while client_gone is not None and not client_gone():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            return 504, {"ok": False, "error_code": 504, "description": "Gateway Timeout"}
        except Exception as err:  # an emulator bug: answer like a broken server, keep the error
            self.errors.append(err)
            description = f"Internal Server Error: {type(err).__name__}: {err}"
            return 500, {"ok": False, "error_code": 500, "description": description}
        return 200, {"ok": True, "result": result}

    def _self_check(self, name: str, result: Any) -> None:
        returns = self.spec.methods[name].get("returns", [])
        try:
            Converter(self.spec).convert_value(result, returns, "result")
        except ApiError as err:
            raise ApiError(
                500, f"Internal Server Error: emulator returned an invalid result: {err}"
            ) from None

    def _api_logOut(self, p: dict[str, Any]) -> bool:
        return True

    def _api_close(self, p: dict[str, Any]) -> bool:
        return True

    async def _api_getUpdates(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        if "allowed_updates" in p:
            self._allowed_updates = list(p["allowed_updates"])
        offset = p.get("offset")
        if offset:
            self._confirm(offset)
        limit = p.get("limit", 100)
        timeout = max(0, p.get("timeout", 0))
        self._poll_ticket += 1
        ticket = self._poll_ticket
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            if ticket != self._poll_ticket:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if self._pending or self._closing or self.webhook is not None:
                return list(self._pending[:limit]) if self.webhook is None else []
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _api_setWebhook(self, p: dict[str, Any]) -> bool:
        url = p["url"]
        if not url:
            return self._api_deleteWebhook(p)
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: invalid webhook URL specified")
        if p.get("drop_pending_updates"):
            self._drop_pending()
        if "allowed_updates" in p:
            self._allowed_updates = list(p["allowed_updates"])
        self.webhook = {
            key: value
            for key, value in p.items()
            if key != "certificate" and not isinstance(value, UploadedFile)
        }
        self.webhook.setdefault("max_connections", 40)
        self._webhook_error = None
        self._poll_ticket += 1
        self._ensure_webhook_worker()
        self._notify()
        return True

    def _api_deleteWebhook(self, p: dict[str, Any]) -> bool:
        self.webhook = None
        if p.get("drop_pending_updates"):
            self._drop_pending()
        self._notify()
        return True

    def _api_getWebhookInfo(self, p: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook:
            info["max_connections"] = self.webhook.get("max_connections", 40)
            for key in ("ip_address", "allowed_updates"):
                if key in self.webhook:
                    info[key] = self.webhook[key]
            if self._webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info
