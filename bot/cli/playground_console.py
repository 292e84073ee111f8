"""The playground's commands: a line typed (or read from a script) is a message sent as the
current user, or a :command that switches user or chat, presses a button, pays, lets time
pass, and so on; what the bot answers is printed by the screen (bot/cli/playground_screen.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.cli.playground_screen import Screen
from bot.cli.playground_world import PERSONAS, PHOTO_SIZE, Persona, sample_photo
from handlers.views.text import format_money
from tgemu import StoredMessage

LINK = re.compile(r"https://t\.me/\S+")  # a link the bot shows in a message

HELP = """Playground commands (anything else is sent as a message):
  :user NAME        act as another user (alice, bob, carol, dan, erin)
  :chat NAME        switch chat: tea, coffee, or private
  :press N          press button N of the newest message with buttons in this chat (one
                    only you see, too); a link button opens the bot or joins the group
  :open NAME|URL    open the newest t.me link the bot sent NAME in private (as if NAME
                    forwarded it to you: an invitation), or the link given
  :pay [ADDRESS]    pay the newest invoice the bot sent you; an invoice that asks an address
                    takes it as COUNTRY, city, street, post code (e.g. CN, Shenzhen,
                    1 Tea Road, 518000) and you take the first shipping option offered
  :renew [fail]     Telegram charges the next month of your newest Stars subscription (a
                    paid membership), or with fail: the renewal fails (no Stars)
  :unsubscribe      cancel your newest Stars subscription in Telegram's settings
  :scan NAME        as a keeper, scan the newest pickup QR code the bot sent NAME (what the
                    Mini App's scanner reads): /redeem with its code, in your private chat
  :photo [CAPTION]  send a photo (a made-up picture) here, e.g. at the product wizard's
                    photo step, or in private after /review (晒单)
  :wait HOURS|Nd    let time pass (deadlines, reservation reminders and expiry,
                    commission past the refund window, the Monday digest and alerts fall
                    due), e.g. :wait 36 or :wait 8d
  :newgroup NAME    create a group of your own with everyone in it, add the bot to it, and
                    switch to it (a group not added by staff waits for staff's approval)
  :promote NAME     make NAME a Telegram admin of this group (as its creator would);
                    :promote bot lets the bot make invite links and answer join requests
  :request NAME GROUP  NAME asks to join GROUP (tea, coffee, ...) through a join request, as
                    a VIP or core group admits (NAME leaves it first if in it; the bot must
                    be its admin: :promote bot); the bot approves or declines
  :leave NAME       NAME leaves this group (then an invite link can let them in again)
  :reply TEXT       reply TEXT to the newest message with buttons in this chat (a card:
                    a sign-up list takes orders like 1x2 3x1 or +1 3 so)
  :paste            the lines that follow, up to :end, go as one message (a pasted list)
  :users / :chats   list who and where
  :history          show this chat's messages again
  :help             this text
  :quit             leave (Ctrl-D works too)"""


# keyword-only: these fields follow the Screen's, which have defaults
@dataclass(kw_only=True)
class Console(Screen):
    """The playground's state: who is typing where (and, as a Screen, what has been shown)."""

    settle: Callable[[], Awaitable[None]]  # waits for messages the bot sends in the background
    # lets hours pass on the bot's clock and runs what fell due (None: time cannot be moved)
    wait: Callable[[float], Awaitable[None]] | None = None
    user: Persona = PERSONAS[0]
    chat_key: str = "private"
    # the lines of a message being pasted (after :paste, until :end); None: not pasting
    pasted: list[str] | None = None

    @property
    def chat_id(self) -> int:
        return self.user.user_id if self.chat_key == "private" else self.groups[self.chat_key][0]

    @property
    def prompt(self) -> str:
        return f"{self.user.name}@{self.chat_title(self.chat_id)}> "

    def newest_keyboard(self) -> StoredMessage | None:
        visible = self.emulator.bot_messages(self.chat_id, viewer=self.user.user_id)
        for message in reversed(visible):
            if message.button_texts:
                return message
        return None

    async def handle(self, line: str) -> bool:
        """Act on one input line; False when the user wants to leave."""
        line = line.strip()
        if self.pasted is not None:  # a pasted message: every line until :end
            if line == ":end":
                text, self.pasted = "\n".join(self.pasted), None
                await self.say(text)
            elif line:
                self.pasted.append(line)
            return True
        if not line or line.startswith("#"):
            return True
        if not line.startswith(":"):
            await self.say(line)
            return True
        word, _, arg = line[1:].partition(" ")
        arg = arg.strip()
        if word in ("quit", "exit", "q"):
            return False
        if word == "help":
            self.write(HELP)
        elif word == "users":
            for p in PERSONAS:
                self.write(
                    f"  {p.name:<6} id {p.user_id}, app language {p.language_code}: {p.role}"
                )
        elif word == "chats":
            self.write("  private  your private chat with the bot")
            for key, (chat_id, title, _creator) in self.groups.items():
                self.write(f"  {key:<8} {title} ({chat_id})")
        elif word == "user":
            match = [p for p in PERSONAS if p.name == arg.lower()]
            if not match:
                self.write(f"no user {arg!r}; try :users")
            else:
                self.user = match[0]
                self.write(f"you are now {self.user.name}")
        elif word == "chat":
            if arg.lower() not in self.groups and arg.lower() != "private":
                self.write(f"no chat {arg!r}; try :chats")
            else:
                self.chat_key = arg.lower()
                self.write(f"you are now in {self.chat_title(self.chat_id)}")
        elif word == "press":
            await self.press(arg)
        elif word == "reply":
            await self.reply(arg)
        elif word == "paste":
            self.pasted = []
            self.write("(paste the message's lines, then :end)")
        elif word == "pay":
            await self.pay(arg)
        elif word == "renew":
            await self.subscription("fail" if arg.lower() == "fail" else "renew")
        elif word == "unsubscribe":
            await self.subscription("cancel")
        elif word == "scan":
            await self.scan(arg)
        elif word == "open":
            await self.open_link(arg)
        elif word == "wait":
            await self.wait_hours(arg)
        elif word == "newgroup":
            await self.new_group(arg)
        elif word == "promote":
            self.promote(arg)
        elif word == "request":
            await self.request_to_join(arg)
        elif word == "leave":
            await self.leave(arg)
        elif word == "photo":
            await self.send_photo(arg)
        elif word == "history":
            for message in self.emulator.messages(self.chat_id):
                if not message.deleted:
                    self.render(message, edited=False)
        else:
            self.write(f"unknown playground command :{word}; try :help")
        return True

    async def say(self, text: str, reply_to: int | None = None) -> None:
        """The current user sends `text` here (as a reply to message `reply_to`, if given)."""
        update = self.emulator.send_message(
            self.user.user_id, self.chat_id, text, reply_to_message_id=reply_to
        )
        await self.emulator.wait_processed(update["update_id"])
        await self.settle()
        self.flush()

    async def reply(self, arg: str) -> None:
        message = self.newest_keyboard()
        if message is None or message.ephemeral_message_id is not None:
            self.write("no message with buttons to reply to in this chat")
            return
        if not arg:
            self.write("reply with some text, like :reply 1x2 3x1")
            return
        self.write(f"({self.user.name} replies to the message with buttons)")
        await self.say(arg, reply_to=message.message_id)

    async def wait_hours(self, arg: str) -> None:
        days = arg.lower().endswith("d")
        try:
            hours = float(arg.lower().removesuffix("d").removesuffix("h")) * (24 if days else 1)
        except ValueError:
            hours = -1.0
        if not 0 < hours <= 24 * 365:
            self.write("wait a number of hours or days, like :wait 36 or :wait 8d")
            return
        if self.wait is None:
            self.write("time cannot be moved in this playground")
            return
        self.write(f"({hours:g} hours pass)")
        await self.wait(hours)
        await self.settle()
        self.flush()

    async def press(self, arg: str) -> None:
        message = self.newest_keyboard()
        if message is None:
            self.write("no buttons in this chat")
            return
        if not arg.isdigit() or not 1 <= int(arg) <= len(message.button_texts):
            self.write(f"press a number from 1 to {len(message.button_texts)}")
            return
        index = int(arg) - 1
        self.write(f"({self.user.name} presses [{arg}] {message.button_texts[index]})")
        button = [b for row in message.buttons for b in row][index]
        if "url" in button:
            await self.follow(str(button["url"]))
            return
        update = self.emulator.press_button(
            self.user.user_id,
            self.chat_id,
            message.message_id,
            index=index,
            ephemeral_message_id=message.ephemeral_message_id,
        )
        await self.emulator.wait_processed(update["update_id"])
        await self.settle()
        self.flush()

    async def open_link(self, arg: str) -> None:
        """Open a link a friend shared: the newest t.me link in their private chat."""
        if arg.startswith(("https://", "http://")):
            await self.follow(arg)
            return
        match = [p for p in PERSONAS if p.name == arg.lower()]
        if not match:
            self.write(":open NAME (whose shared link to open) or :open https://t.me/...")
            return
        for message in reversed(self.emulator.bot_messages(match[0].user_id)):
            found = LINK.search(message.text or "")
            if found is not None:
                self.write(f"({match[0].name} shares {found.group(0)} with {self.user.name})")
                await self.follow(found.group(0))
                return
        self.write(f"the bot sent {match[0].name} no link to share yet (try /invite as them)")

    async def scan(self, arg: str) -> None:
        """The current user, a keeper, scans the pickup QR code NAME shows: the code of the
        newest pickup QR photo the bot sent NAME goes to the bot as /redeem CODE in private
        (the code is the photo caption's code span, which is what the QR code holds)."""
        match = [p for p in PERSONAS if p.name == arg.lower()]
        if not match:
            self.write(":scan NAME (whose pickup QR code to scan)")
            return
        for message in reversed(self.emulator.bot_messages(match[0].user_id)):
            caption = message.raw.get("caption", "")
            spans = [e for e in message.raw.get("caption_entities", []) if e.get("type") == "code"]
            if message.kind == "photo" and spans:
                units = caption.encode("utf-16-le")
                first = spans[0]
                start, end = 2 * first["offset"], 2 * (first["offset"] + first["length"])
                code = units[start:end].decode("utf-16-le")
                self.write(f"({self.user.name} scans {match[0].name}'s pickup QR code: {code})")
                self.chat_key = "private"
                update = self.emulator.send_message(
                    self.user.user_id, self.user.user_id, f"/redeem {code}"
                )
                await self.emulator.wait_processed(update["update_id"])
                await self.settle()
                self.flush()
                return
        self.write(f"the bot sent {match[0].name} no pickup QR code yet (🔳 in their /orders)")

    async def follow(self, url: str) -> None:
        """Open a link button as Telegram's app does: a deep link into the bot opens the
        private chat with /start; an invite link joins the group. The playground goes there."""
        try:
            updates = self.emulator.open_url(self.user.user_id, url)
        except ValueError as exc:
            self.write(f"    (the link {url} does not open here: {exc})")
            return
        for update in updates:
            await self.emulator.wait_processed(update["update_id"])
        paying = [u["pre_checkout_query"]["id"] for u in updates if "pre_checkout_query" in u]
        if paying:  # an invoice link: the payment window, then the money if the bot agrees
            self.write(f"({self.user.name} opens the payment: {url})")
            await self.complete(paying[0])
            return
        joined = [
            u["message"]["chat"]["id"]
            for u in updates
            if "new_chat_members" in u.get("message", {})
        ]
        joined += [u["chat_member"]["chat"]["id"] for u in updates if "chat_member" in u]
        if joined:
            key = next((k for k, g in self.groups.items() if g[0] == joined[0]), None)
            if key is not None:
                self.chat_key = key
            self.write(f"({self.user.name} joins {self.chat_title(joined[0])})")
        else:
            self.chat_key = "private"
            self.write(f"({self.user.name} opens the bot: {url})")
        await self.settle()
        self.flush()

    async def new_group(self, title: str) -> None:
        """The current user creates a group with everyone in it and adds the bot, as anyone can
        in Telegram; the playground switches to it."""
        if not title:
            self.write("give the group a name: :newgroup Matcha Fans")
            return
        key = title.split()[0].lower()
        if key in self.groups or key == "private":
            self.write(f"there is a chat called {key!r} already; choose another name")
            return
        chat_id = -100100 - 100 * len(self.groups)
        creator = self.user.user_id
        members = [p.user_id for p in PERSONAS if p.user_id != creator]
        self.emulator.add_group(chat_id, title, creator=creator, members=members)
        self.groups[key] = (chat_id, title, creator)
        self.chat_key = key
        self.write(f"({self.user.name} creates {title} and adds the bot; :chat {key} goes there)")
        update = self.emulator.add_bot_to_group(chat_id, creator)
        await self.emulator.wait_processed(update["update_id"])
        await self.settle()
        self.flush()

    async def send_photo(self, caption: str) -> None:
        """The current user sends a photo (a made-up picture) with an optional caption, as from
        the phone's gallery: the product wizard takes it at its photo step."""
        update = self.emulator.send_photo(
            self.user.user_id, self.chat_id, sample_photo(), caption=caption or None
        )
        self.write(f"({self.user.name} sends a photo, {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]})")
        await self.emulator.wait_processed(update["update_id"])
        await self.settle()
        self.flush()

    def promote(self, arg: str) -> None:
        """The group's creator makes a persona one of its Telegram admins: a candidate who may
        apply to lead it (/lead), not a leader."""
        if self.chat_key != "private" and arg.lower() == "bot":
            bot_id = int(self.emulator.bot_user["id"])
            self.emulator.set_member_status(self.chat_id, bot_id, "administrator")
            self.write(f"the bot is now an admin of {self.chat_title(self.chat_id)}")
            return
        match = [p for p in PERSONAS if p.name == arg.lower()]
        if self.chat_key == "private" or not match:
            self.write("in a group, :promote NAME (alice, bob, carol, dan, erin, or bot)")
            return
        self.emulator.set_member_status(self.chat_id, match[0].user_id, "administrator")
        self.write(f"{match[0].name} is now an admin of {self.chat_title(self.chat_id)}")

    async def leave(self, arg: str) -> None:
        """A persona leaves the current group, as they would in Telegram."""
        match = [p for p in PERSONAS if p.name == arg.lower().strip()]
        if self.chat_key == "private" or not match:
            self.write("in a group, :leave NAME (alice, bob, carol, dan or erin)")
            return
        persona = match[0]
        if self.emulator.get_member_status(self.chat_id, persona.user_id) in ("left", "kicked"):
            self.write(f"{persona.name} is not in {self.chat_title(self.chat_id)}")
            return
        self.emulator.member_leaves(self.chat_id, persona.user_id)
        self.write(f"({persona.name} leaves {self.chat_title(self.chat_id)})")
        await self.settle()
        self.flush()

    async def request_to_join(self, arg: str) -> None:
        """A persona asks to join a group through a join request (leaving it first if in it),
        as one does a VIP or core group; the bot decides and tells them in private."""
        name, _sep, group = arg.lower().partition(" ")
        match = [p for p in PERSONAS if p.name == name]
        key = group.strip()
        if not match or key not in self.groups:
            self.write(":request NAME GROUP, e.g. :request erin tea")
            return
        persona, chat_id = match[0], self.groups[key][0]
        try:
            status = self.emulator.get_member_status(chat_id, persona.user_id)
            if status not in ("left", "kicked"):
                self.emulator.member_leaves(chat_id, persona.user_id)
                self.write(f"({persona.name} leaves {self.chat_title(chat_id)})")
            update = self.emulator.request_to_join(chat_id, persona.user_id)
        except ValueError as exc:
            self.write(f"cannot ask to join: {exc}")
            return
        self.write(f"({persona.name} asks to join {self.chat_title(chat_id)})")
        await self.emulator.wait_processed(update["update_id"])
        await self.settle()
        self.flush()

    def newest_invoice(self) -> StoredMessage | None:
        for message in reversed(self.emulator.bot_messages(self.user.user_id)):
            if message.kind == "invoice" and not message.deleted:
                return message
        return None

    async def pay(self, address: str = "") -> None:
        """Pay the newest invoice in the user's private chat as Telegram's payment window does:
        an invoice that asks an address takes ADDRESS (COUNTRY, city, street, post code) and
        the bot offers its shipping options (the first is taken); the bot is asked first
        (pre_checkout_query) and may refuse; then the money arrives (successful_payment)."""
        invoice = self.newest_invoice()
        if invoice is None:
            self.write("no invoice to pay: order a product sold in Telegram Stars with /buy first")
            return
        details = invoice.raw["invoice"]
        user_id = self.user.user_id
        asks = self.emulator.invoice_asks(user_id, invoice.message_id)
        given: dict[str, str] | None = None
        if asks["need_shipping_address"]:
            parts = [part.strip() for part in address.split(",")]
            if len(parts) < 4 or len(parts[0]) != 2 or not all(parts):
                self.write("this invoice asks an address: :pay COUNTRY, city, street, post code")
                return
            given = {
                "country_code": parts[0].upper(),
                "city": parts[1],
                "street_line1": ", ".join(parts[2:-1]),
                "post_code": parts[-1],
            }
        amount = format_money(details["total_amount"], details["currency"], "en")
        self.write(f"({self.user.name} pays {amount} for {details['title']})")
        asked = self.emulator.pay_invoice(
            user_id,
            user_id,
            invoice.message_id,
            shipping_address=given,
            name=self.user.name.capitalize() if asks["need_name"] else None,
            phone_number="+8613800000000" if asks["need_phone_number"] else None,
        )
        await self.emulator.wait_processed(asked["update_id"])
        if "shipping_query" in asked:
            shipping = self.emulator.shipping_answers.get(asked["shipping_query"]["id"])
            if shipping is None:
                self.write("    (payment window) the bot did not answer in time; nothing was paid")
                return
            if not shipping["ok"]:
                self.write(f"    (payment window) {shipping.get('error_message', '')}")
                return
            option = shipping["shipping_options"][0]
            option = option if isinstance(option, dict) else json.loads(option)
            price = sum(int(p["amount"]) for p in option["prices"])
            money = format_money(price, details["currency"], "en")
            self.write(f"    (payment window) shipping: {option['title']}, {money}")
            asked = self.emulator.choose_shipping(asked["shipping_query"]["id"], option["id"])
            await self.emulator.wait_processed(asked["update_id"])
        await self.complete(asked["pre_checkout_query"]["id"])

    async def complete(self, query_id: str) -> None:
        """The payment window after the bot's pre-checkout answer: the money arrives when the
        bot agreed (successful_payment), or the window shows its refusal."""
        answer = self.emulator.pre_checkout_answers.get(query_id)
        if answer is None:
            self.write("    (payment window) the bot did not answer; nothing was paid")
        elif not answer["ok"]:
            self.write(f"    (payment window) {answer.get('error_message', '')}")
        else:
            paid = self.emulator.complete_payment(query_id)
            await self.emulator.wait_processed(paid["update_id"])
        await self.settle()
        self.flush()

    async def subscription(self, action: str) -> None:
        """Telegram's side of the user's newest Stars subscription: the next month charged
        (renew), a renewal that fails (fail), or the user cancelling it (cancel)."""
        user_id = self.user.user_id
        mine = [c for c, s in self.emulator.subscriptions.items() if s["user_id"] == user_id]
        if not mine:
            self.write("no Stars subscription: subscribe to a plan from /membership first")
            return
        charge_id = mine[-1]
        try:
            if action == "renew":
                update = self.emulator.renew_subscription(charge_id)
                self.write(f"(Telegram charges {self.user.name} for the next month)")
            elif action == "fail":
                update = self.emulator.fail_subscription_renewal(charge_id)
                self.write(f"(Telegram could not charge {self.user.name}: no Stars)")
            else:
                update = self.emulator.cancel_subscription(charge_id)
                self.write(f"({self.user.name} cancels the subscription in Telegram)")
        except ValueError as exc:
            self.write(f"    (Telegram) {exc}")
            return
        await self.emulator.wait_processed(update["update_id"])
        await self.settle()
        self.flush()
