"""The playground's chat as it is printed: each bot message, edit, ephemeral message and
popup once, with its buttons numbered; a photo, a file or an invoice as a card."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.cli.playground_world import GROUPS, PERSONAS
from handlers.views.text import format_money
from tgemu import Emulator, StoredMessage

PREVIEW_LINES = 4  # lines of a CSV file shown under it (the header and the first rows)


@dataclass
class Screen:
    """What the playground has printed, in every chat of the session."""

    emulator: Emulator
    write: Callable[[str], None]
    shown: dict[tuple[int, int], tuple[int, str]] = field(default_factory=dict)
    answers_shown: set[str] = field(default_factory=set)
    # ephemeral messages shown, by (chat, receiver, ephemeral_message_id)
    ephemeral_shown: dict[tuple[int, int, int], tuple[int, str]] = field(default_factory=dict)
    # the groups of this session: the two of the world, and those made with :newgroup
    groups: dict[str, tuple[int, str, int]] = field(default_factory=lambda: dict(GROUPS))

    def chat_title(self, chat_id: int) -> str:
        for group_id, title, _creator in self.groups.values():
            if group_id == chat_id:
                return title
        for persona in PERSONAS:
            if persona.user_id == chat_id:
                return f"{persona.name} (private)"
        return str(chat_id)

    @staticmethod
    def persona_name(user_id: int) -> str:
        return next((p.name for p in PERSONAS if p.user_id == user_id), str(user_id))

    def render(self, message: StoredMessage, edited: bool) -> None:
        sender = "bot" if message.from_user.get("is_bot") else message.from_user.get("first_name")
        label = " (edited)" if edited else ""
        if message.receiver_user_id is not None:  # an ephemeral message (Bot API 10.2)
            label += f" (only {self.persona_name(message.receiver_user_id)} sees this)"
        text = (message.text or f"[{message.kind}]").replace("\n", "\n    ")
        if message.kind == "photo":
            text = self.photo_card(message)
        if message.kind == "invoice":
            text = self.invoice_card(message)
        if message.kind == "document":
            text = self.document_card(message, text)
        self.write(f"[{self.chat_title(message.chat_id)}] {sender}{label}: {text}")
        buttons = message.button_texts
        if buttons:
            self.write("    " + "  ".join(f"[{i}] {t}" for i, t in enumerate(buttons, 1)))

    @staticmethod
    def photo_card(message: StoredMessage) -> str:
        """A photo as a line that says there is one (and its size), with its caption under it."""
        size = message.raw["photo"][-1]
        shown = f"🖼️ [photo {size['width']}×{size['height']}]"
        if message.text:
            shown += "\n    " + message.text.replace("\n", "\n    ")
        return shown

    def document_card(self, message: StoredMessage, caption: str) -> str:
        """A file as Telegram shows it: its name and caption; a CSV's first lines, as opening
        it would show them."""
        document = message.raw["document"]
        name = str(document.get("file_name", "file"))
        shown = f"📎 {name}\n    {caption}" if caption != "[document]" else f"📎 {name}"
        if name.endswith(".csv"):
            data = self.emulator.file_bytes(document["file_id"]).decode("utf-8-sig", "replace")
            lines = data.splitlines()
            preview = [f"    | {line}" for line in lines[:PREVIEW_LINES]]
            if len(lines) > PREVIEW_LINES:
                preview.append(f"    | ... ({len(lines) - PREVIEW_LINES} more lines)")
            shown += "\n" + "\n".join(preview)
        return shown

    @staticmethod
    def invoice_card(message: StoredMessage) -> str:
        """An invoice as Telegram draws it: title, description, and its Pay button."""
        invoice = message.raw["invoice"]
        amount = format_money(invoice["total_amount"], invoice["currency"], "en")
        return (
            f"🧾 {invoice['title']}\n    {invoice['description']}\n"
            f"    [Pay {amount}]  (type :pay to pay it)"
        )

    def flush(self) -> None:
        """Print every bot message and edit not shown yet, in every chat, and popups."""
        for chat_id in self.known_chats():
            for message in self.emulator.bot_messages(chat_id):
                key = (chat_id, message.message_id)
                state = (message.edit_count, message.text or "")
                if key not in self.shown:
                    self.render(message, edited=False)
                elif self.shown[key] != state:
                    self.render(message, edited=True)
                self.shown[key] = state
            for persona in PERSONAS:  # what each member alone sees in the group
                if chat_id == persona.user_id:
                    continue
                for message in self.emulator.ephemeral_messages(chat_id, persona.user_id):
                    seen = (chat_id, persona.user_id, message.ephemeral_message_id or 0)
                    state = (message.edit_count, message.text or "")
                    if self.ephemeral_shown.get(seen) != state:
                        self.render(message, edited=seen in self.ephemeral_shown)
                    self.ephemeral_shown[seen] = state
        for query_id, params in self.emulator.callback_answers.items():
            if query_id not in self.answers_shown:
                self.answers_shown.add(query_id)
                if params.get("text"):
                    self.write(f"    (popup) {params['text']}")

    def known_chats(self) -> list[int]:
        return [p.user_id for p in PERSONAS] + [g[0] for g in self.groups.values()]
