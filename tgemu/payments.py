"""Payments: invoices and invoice links, shipping and pre-checkout queries, successful
payments, Stars refunds and subscriptions."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from .base import EmulatorBase
from .spec import bad_request
from .world import (
    _QUERY_TOO_OLD,
    SHIPPING_QUERY_SECONDS,
    SUBSCRIPTION_MAX_STARS,
    SUBSCRIPTION_PERIOD,
    _Chat,
    _now,
    _PreCheckout,
    _ShippingQuery,
)


class PaymentsMixin(EmulatorBase):
    """Invoices, shipping and pre-checkout queries, payments, refunds, subscriptions."""

    def update_subscription(self, user_id: int, invoice_payload: str, state: str) -> dict[str, Any]:
        """A user's Stars subscription to the bot changed (Bot API 10.3's ``subscription``
        update): ``state`` is canceled, active or failed."""
        if state not in ("canceled", "active", "failed"):
            raise ValueError(f"state {state!r} is not canceled, active or failed")
        user = self._user(user_id)
        return self._enqueue(
            {
                "subscription": {
                    "user": copy.deepcopy(user),
                    "invoice_payload": invoice_payload,
                    "state": state,
                }
            }
        )

    def pay_invoice_link(self, user_id: int, link: str) -> dict[str, Any]:
        """The user opens an invoice link (createInvoiceLink) and pays: a pre_checkout_query
        update; after the bot agrees, :meth:`complete_payment` delivers successful_payment
        in the user's private chat (for a subscription link, the subscription's first
        payment)."""
        user = self._user(user_id)
        invoice = self.invoice_links.get(link)
        if invoice is None:
            raise ValueError(f"{link!r} is not an invoice link of this bot")
        self._private_chat(user_id)
        update = self._pre_checkout(user, user_id, 0, invoice, None, None, 0)
        query = self._pre_checkouts[update["pre_checkout_query"]["id"]]
        query.subscription_period = int(invoice["subscription_period"])
        return update

    def _subscription_of(self, charge_id: str) -> dict[str, Any] | None:
        """The subscription one of whose charges is ``charge_id``."""
        for subscription in self.subscriptions.values():
            if charge_id in subscription["charges"]:
                return subscription
        return None

    def _live_subscription(self, charge_id: str) -> dict[str, Any]:
        subscription = self._subscription_of(charge_id)
        if subscription is None:
            raise ValueError(f"no subscription with charge {charge_id!r}")
        return subscription

    def renew_subscription(self, charge_id: str) -> dict[str, Any]:
        """Telegram charges the next period of the subscription (any of its charge ids): a
        successful_payment with is_recurring in the user's private chat, a new charge id and
        an expiration date one period later. Refused (ValueError) once it was cancelled."""
        subscription = self._live_subscription(charge_id)
        if subscription["canceled_by"]:
            raise ValueError(f"the subscription was cancelled by the {subscription['canceled_by']}")
        subscription["expires"] += subscription["period"]
        return self._subscription_payment(subscription, first=False)

    def fail_subscription_renewal(self, charge_id: str) -> dict[str, Any]:
        """Telegram could not charge the next period (the user lacks Stars): a
        ``subscription`` update with state failed. A later :meth:`renew_subscription` is
        Telegram retrying successfully."""
        subscription = self._live_subscription(charge_id)
        return self.update_subscription(subscription["user_id"], subscription["payload"], "failed")

    def cancel_subscription(self, charge_id: str) -> dict[str, Any]:
        """The user cancels the subscription in Telegram's settings: no more renewals, and a
        ``subscription`` update with state canceled."""
        subscription = self._live_subscription(charge_id)
        subscription["canceled_by"] = "user"
        return self.update_subscription(
            subscription["user_id"], subscription["payload"], "canceled"
        )

    def reenable_subscription(self, charge_id: str) -> dict[str, Any]:
        """The user turns a cancelled subscription back on (refused while the bot's own
        cancellation holds): a ``subscription`` update with state active."""
        subscription = self._live_subscription(charge_id)
        if subscription["canceled_by"] == "bot":
            raise ValueError("the bot cancelled this subscription")
        subscription["canceled_by"] = None
        return self.update_subscription(subscription["user_id"], subscription["payload"], "active")

    def _subscription_payment(self, subscription: dict[str, Any], *, first: bool) -> dict[str, Any]:
        n = next(self._ids)
        charge_id = f"stxEMU{n:08d}{secrets.token_hex(6)}"
        subscription["charges"].append(charge_id)
        payment: dict[str, Any] = {
            "currency": "XTR",
            "total_amount": subscription["amount"],
            "invoice_payload": subscription["payload"],
            "subscription_expiration_date": subscription["expires"],
            "is_recurring": True,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        }
        if first:
            payment["is_first_recurring"] = True
        user_id = subscription["user_id"]
        return self._payment_message(self._private_chat(user_id), user_id, payment)

    def _payment_message(
        self, chat: _Chat, user_id: int, payment: dict[str, Any]
    ) -> dict[str, Any]:
        """Keeps the payment (for refunds) and delivers its successful_payment message."""
        charge_id = payment["telegram_payment_charge_id"]
        self.payments[charge_id] = {**payment, "user_id": user_id, "refunded": False}
        message = self._new_message(
            chat,
            self._user(user_id),
            kind="service",
            content={"successful_payment": payment},
            text=None,
            entities=[],
            html=None,
            markup=None,
            reply=None,
        )
        return self._enqueue({"message": copy.deepcopy(message.raw)})

    def pay_invoice(
        self,
        user_id: int,
        chat_id: int,
        message_id: int,
        *,
        shipping_address: dict[str, str] | None = None,
        name: str | None = None,
        phone_number: str | None = None,
    ) -> dict[str, Any]:
        """The user pays an invoice message: a pre_checkout_query update, or first a
        shipping_query when the invoice is flexible and asks an address (then the user picks
        an option with ``choose_shipping``). ``shipping_address`` is a ShippingAddress dict
        (country_code, state, city, street_line1, street_line2, post_code)."""
        user = self._user(user_id)
        chat = self._chats.get(chat_id)
        message = chat.by_id.get(message_id) if chat is not None else None
        invoice = self._invoices.get((chat_id, message_id))
        if message is None or message.deleted or invoice is None:
            raise ValueError(f"no invoice message {message_id} in chat {chat_id}")
        info: dict[str, Any] = {}
        if invoice.get("need_name"):
            if not name:
                raise ValueError("the invoice asks the user's name")
            info["name"] = name
        if invoice.get("need_phone_number"):
            if not phone_number:
                raise ValueError("the invoice asks the user's phone number")
            info["phone_number"] = phone_number
        if invoice.get("need_shipping_address"):
            if not shipping_address:
                raise ValueError("the invoice asks a shipping address")
            address = {key: "" for key in ("state", "street_line2")} | dict(shipping_address)
            info["shipping_address"] = address
        if invoice.get("is_flexible") and invoice.get("need_shipping_address"):
            query_id = str(7_000_000_000_000_000 + next(self._ids))
            self._shipping_queries[query_id] = _ShippingQuery(
                id=query_id,
                user_id=user_id,
                chat_id=chat_id,
                message_id=message_id,
                asked_at=self.clock(),
                order_info=info,
            )
            return self._enqueue(
                {
                    "shipping_query": {
                        "id": query_id,
                        "from": copy.deepcopy(user),
                        "invoice_payload": invoice["payload"],
                        "shipping_address": copy.deepcopy(info["shipping_address"]),
                    }
                }
            )
        return self._pre_checkout(user, chat_id, message_id, invoice, info or None, None, 0)

    def invoice_asks(self, chat_id: int, message_id: int) -> dict[str, bool]:
        """What an invoice message asks the payer: need_name, need_phone_number,
        need_shipping_address, is_flexible (all False for Stars, as Telegram ignores them)."""
        invoice = self._invoices.get((chat_id, message_id), {})
        flags = ("need_name", "need_phone_number", "need_shipping_address", "is_flexible")
        return {flag: bool(invoice.get(flag)) for flag in flags}

    def choose_shipping(self, shipping_query_id: str, option_id: str) -> dict[str, Any]:
        """After answerShippingQuery(ok=True): the user picks one of the options offered and
        pays: pre_checkout_query update with the option and the address, its price added."""
        query = self._shipping_queries.get(shipping_query_id)
        if query is None:
            raise ValueError(f"unknown shipping query {shipping_query_id!r}")
        if not query.answered:
            raise ValueError("the bot has not answered the shipping query (in time)")
        if not query.ok:
            raise ValueError(f"the bot refused the address: {query.error_message!r}")
        chosen = next((o for o in query.options if o["id"] == option_id), None)
        if chosen is None:
            raise ValueError(f"no shipping option {option_id!r} was offered")
        extra = sum(int(price["amount"]) for price in chosen["prices"])
        invoice = self._invoices[(query.chat_id, query.message_id)]
        user = self._user(query.user_id)
        return self._pre_checkout(
            user, query.chat_id, query.message_id, invoice, query.order_info, option_id, extra
        )

    def _pre_checkout(
        self,
        user: dict[str, Any],
        chat_id: int,
        message_id: int,
        invoice: dict[str, Any],
        info: dict[str, Any] | None,
        option_id: str | None,
        extra: int,
    ) -> dict[str, Any]:
        query_id = str(6_000_000_000_000_000 + next(self._ids))
        total = invoice["total_amount"] + extra
        self._pre_checkouts[query_id] = _PreCheckout(
            id=query_id,
            user_id=user["id"],
            chat_id=chat_id,
            message_id=message_id,
            currency=invoice["currency"],
            total_amount=total,
            payload=invoice["payload"],
            shipping_option_id=option_id,
            order_info=info,
        )
        update: dict[str, Any] = {
            "id": query_id,
            "from": copy.deepcopy(user),
            "currency": invoice["currency"],
            "total_amount": total,
            "invoice_payload": invoice["payload"],
        }
        if option_id is not None:
            update["shipping_option_id"] = option_id
        if info:
            update["order_info"] = copy.deepcopy(info)
        return self._enqueue({"pre_checkout_query": update})

    def complete_payment(self, pre_checkout_query_id: str) -> dict[str, Any]:
        """After answerPreCheckoutQuery(ok=True): message update with successful_payment."""
        query = self._pre_checkouts.get(pre_checkout_query_id)
        if query is None:
            raise ValueError(f"unknown pre-checkout query {pre_checkout_query_id!r}")
        if not query.answered:
            raise ValueError("the bot has not answered the pre-checkout query yet")
        if not query.ok:
            raise ValueError(f"the bot declined the payment: {query.error_message!r}")
        if query.completed:
            raise ValueError("the payment was already completed")
        query.completed = True
        if query.subscription_period:
            subscription: dict[str, Any] = {
                "user_id": query.user_id,
                "payload": query.payload,
                "amount": query.total_amount,
                "period": query.subscription_period,
                "expires": _now() + query.subscription_period,
                "canceled_by": None,
                "charges": [],
            }
            update = self._subscription_payment(subscription, first=True)
            self.subscriptions[subscription["charges"][0]] = subscription
            return update
        n = next(self._ids)
        charge_id = f"stxEMU{n:08d}{secrets.token_hex(6)}"
        payment: dict[str, Any] = {
            "currency": query.currency,
            "total_amount": query.total_amount,
            "invoice_payload": query.payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": (
                "" if query.currency == "XTR" else f"provider-{n}-{secrets.token_hex(4)}"
            ),
        }
        if query.shipping_option_id is not None:
            payment["shipping_option_id"] = query.shipping_option_id
        if query.order_info:
            payment["order_info"] = copy.deepcopy(query.order_info)
        return self._payment_message(self._chats[query.chat_id], query.user_id, payment)

    def _api_sendInvoice(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_for_sending(p["chat_id"])
        reply = self._reply_target(chat, p)
        currency = p["currency"]
        prices = p["prices"]
        if currency == "XTR":
            if len(prices) != 1:
                raise bad_request("STARS_INVOICE_INVALID: payments in Telegram Stars need 1 price")
            if p.get("provider_token"):
                raise bad_request("provider_token must be empty for payments in Telegram Stars")
        elif not p.get("provider_token"):
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        if not prices:
            raise bad_request('field "prices" must contain at least one price')
        total = sum(int(price["amount"]) for price in prices)
        if total <= 0:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        invoice = {
            "title": p["title"],
            "description": p["description"],
            "start_parameter": p.get("start_parameter", ""),
            "currency": currency,
            "total_amount": total,
        }
        message = self._send(
            p,
            kind="invoice",
            content={"invoice": invoice},
            text=p["title"],
            entities=[],
            html=None,
            chat=chat,
            reply=reply,
        )
        # Telegram ignores the address, name and phone flags for payments in Stars
        asks = {
            flag: bool(p.get(flag)) and currency != "XTR"
            for flag in ("need_name", "need_phone_number", "need_shipping_address", "is_flexible")
        }
        self._invoices[(chat.id, message.message_id)] = {
            "payload": p["payload"],
            "currency": currency,
            "total_amount": total,
            "prices": prices,
            **asks,
        }
        return message.raw

    def _api_createInvoiceLink(self, p: dict[str, Any]) -> str:
        currency = p["currency"]
        prices = p["prices"]
        if currency == "XTR" and len(prices) != 1:
            raise bad_request("STARS_INVOICE_INVALID: payments in Telegram Stars need 1 price")
        total = sum(int(price["amount"]) for price in prices)
        if total <= 0:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        period = p.get("subscription_period")
        if period is not None:
            if currency != "XTR":
                raise bad_request("SUBSCRIPTION_CURRENCY_INVALID: subscriptions are in Stars")
            if period != SUBSCRIPTION_PERIOD:
                raise bad_request("SUBSCRIPTION_PERIOD_INVALID")
            if total > SUBSCRIPTION_MAX_STARS:
                raise bad_request("SUBSCRIPTION_PRICE_INVALID")
        link = f"https://t.me/$EMU{secrets.token_urlsafe(12)}"
        self.invoice_links[link] = {
            "title": p["title"],
            "description": p["description"],
            "payload": p["payload"],
            "currency": currency,
            "total_amount": total,
            "subscription_period": int(period or 0),
        }
        return link

    def _api_editUserStarSubscription(self, p: dict[str, Any]) -> bool:
        subscription = self._subscription_of(p["telegram_payment_charge_id"])
        if subscription is None or subscription["user_id"] != p["user_id"]:
            raise bad_request("CHARGE_NOT_FOUND")
        if p["is_canceled"]:
            subscription["canceled_by"] = subscription["canceled_by"] or "bot"
        elif subscription["canceled_by"] == "bot":
            subscription["canceled_by"] = "bot_lifted"  # the user may turn it back on
        return True

    def _api_answerPreCheckoutQuery(self, p: dict[str, Any]) -> bool:
        query = self._pre_checkouts.get(p["pre_checkout_query_id"])
        if query is None or query.answered:
            raise bad_request(_QUERY_TOO_OLD)
        if not p["ok"] and not p.get("error_message"):
            raise bad_request('field "error_message" is required when "ok" is false')
        query.answered = True
        query.ok = bool(p["ok"])
        query.error_message = p.get("error_message")
        self.pre_checkout_answers[query.id] = dict(p)
        return True

    def _api_answerShippingQuery(self, p: dict[str, Any]) -> bool:
        query = self._shipping_queries.get(p["shipping_query_id"])
        if query is None or query.answered:
            raise bad_request(_QUERY_TOO_OLD)
        if self.clock() - query.asked_at > SHIPPING_QUERY_SECONDS:
            # too late: the user already saw an error, and no later answer counts either
            raise bad_request(_QUERY_TOO_OLD)
        if p["ok"] and not p.get("shipping_options"):
            raise bad_request('field "shipping_options" is required when "ok" is true')
        if not p["ok"] and not p.get("error_message"):
            raise bad_request('field "error_message" is required when "ok" is false')
        query.answered = True
        query.ok = bool(p["ok"])
        query.error_message = p.get("error_message")
        query.options = list(p.get("shipping_options") or [])
        self.shipping_answers[query.id] = dict(p)
        return True

    def _api_refundStarPayment(self, p: dict[str, Any]) -> bool:
        payment = self.payments.get(p["telegram_payment_charge_id"])
        if payment is None or payment["user_id"] != p["user_id"]:
            raise bad_request("CHARGE_NOT_FOUND")
        if payment["currency"] != "XTR":
            raise bad_request("CHARGE_ID_INVALID: not a Telegram Stars payment")
        if payment["refunded"]:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        payment["refunded"] = True
        return True
