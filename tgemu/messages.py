"""Messages: what users send and press, and the bot's sending, copying, forwarding,
editing, deleting, pinning and reacting, ephemeral messages and callback answers."""

from __future__ import annotations

import copy
import mimetypes
from collections.abc import Callable, Mapping
from typing import Any

from .files import FilesMixin
from .html import find_bot_commands
from .spec import UploadedFile, bad_request
from .world import (
    _ACTIVE,
    _ADMINS,
    _CHAT_ACTIONS,
    _NOT_MODIFIED,
    _QUERY_TOO_OLD,
    CHANNEL_BOT,
    GROUP_ANONYMOUS_BOT,
    StoredMessage,
    _CallbackQuery,
    _Chat,
    _inline_markup,
    _Poll,
    _StoredFile,
)


class MessagesMixin(FilesMixin):
    """Users send messages and press buttons; the bot sends, edits and deletes."""

    def inject_update(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Enqueue an arbitrary update body (``{"message": {...}}``); assigns the update_id."""
        return self._enqueue(dict(body))

    def send_message(
        self,
        user_id: int,
        chat_id: int,
        text: str,
        *,
        reply_to_message_id: int | None = None,
        as_chat: int | None = None,
    ) -> dict[str, Any]:
        """A user writes ``text`` in a chat (private chat: ``chat_id == user_id``).

        ``as_chat`` sends it as Telegram does for someone who does not write as themselves:
        the group's own id for one of its admins writing anonymously, a channel's id (see
        :meth:`add_channel`) for one of that channel's admins writing as the channel. The
        message then comes from Telegram's stand-in user (GroupAnonymousBot, Channel_Bot) with
        the chat in ``sender_chat``; who typed it is not in the update."""
        user = self._user(user_id)
        chat, reply = self._users_chat(user_id, chat_id, reply_to_message_id)
        entities = find_bot_commands(text)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        if as_chat is not None:
            user, content["sender_chat"] = self._sender_chat(user_id, chat, as_chat)
        message = self._new_message(
            chat,
            user,
            kind="text",
            content=content,
            text=text,
            entities=entities,
            html=None,
            markup=None,
            reply=reply,
        )
        return self._enqueue({"message": copy.deepcopy(message.raw)})

    def send_photo(
        self,
        user_id: int,
        chat_id: int,
        data: bytes,
        *,
        filename: str = "photo.jpg",
        caption: str | None = None,
    ) -> dict[str, Any]:
        """A user sends a photo (``data``: JPEG, PNG or GIF bytes), with an optional caption,
        in a chat (private chat: ``chat_id == user_id``); the bot can download it by its
        file_id, as from Telegram."""
        content_type = mimetypes.guess_type(filename)[0] or "image/jpeg"
        stored = self._store_file(UploadedFile(filename, content_type, data), "photo")
        return self._user_file(
            user_id, chat_id, "photo", {"photo": self._photo_sizes(stored)}, caption
        )

    def send_video(
        self,
        user_id: int,
        chat_id: int,
        data: bytes,
        *,
        duration: int = 10,
        filename: str = "clip.mp4",
        caption: str | None = None,
    ) -> dict[str, Any]:
        """A user sends a video of `duration` seconds (``data``: any bytes) in a chat."""
        stored = self._store_file(UploadedFile(filename, "video/mp4", data), "video")
        stored.duration = duration
        return self._user_file(user_id, chat_id, "video", {"video": self._video(stored)}, caption)

    def send_document(
        self,
        user_id: int,
        chat_id: int,
        data: bytes,
        *,
        filename: str,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """A user sends a file as a document (its MIME type guessed from `filename`)."""
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = self._store_file(UploadedFile(filename, content_type, data), "document")
        return self._user_file(
            user_id, chat_id, "document", {"document": self._document(stored)}, caption
        )

    def _user_file(
        self,
        user_id: int,
        chat_id: int,
        kind: str,
        content: dict[str, Any],
        caption: str | None,
    ) -> dict[str, Any]:
        user = self._user(user_id)
        chat, _reply = self._users_chat(user_id, chat_id, None)
        entities: list[dict[str, Any]] = []
        if caption:
            entities = find_bot_commands(caption)
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        message = self._new_message(
            chat,
            user,
            kind=kind,
            content=content,
            text=caption,
            entities=entities,
            html=None,
            markup=None,
            reply=None,
        )
        return self._enqueue({"message": copy.deepcopy(message.raw)})

    def _sender_chat(
        self, user_id: int, chat: _Chat, as_chat: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The stand-in user and the ``sender_chat`` of a message the user sends as a chat."""
        if chat.type == "private":
            raise ValueError("only in groups can a message be sent as a chat")
        if as_chat == chat.id:
            if chat.members.get(user_id) not in _ADMINS:
                raise ValueError(f"user {user_id} is no admin of chat {chat.id}: not anonymous")
            return copy.deepcopy(GROUP_ANONYMOUS_BOT), chat.as_dict()
        channel = self._channels.get(as_chat)
        if channel is None:
            raise ValueError(f"unknown channel {as_chat}; call add_channel() first")
        if channel.members.get(user_id) not in _ADMINS:
            raise ValueError(f"user {user_id} is no admin of channel {as_chat}")
        return copy.deepcopy(CHANNEL_BOT), channel.as_dict()

    def _users_chat(
        self, user_id: int, chat_id: int, reply_to_message_id: int | None
    ) -> tuple[_Chat, StoredMessage | None]:
        """The chat a user writes in (joining a group they were not in, as writing there
        implies), and the message they reply to, if any."""
        if chat_id == user_id:
            chat = self._private_chat(user_id)
            self._started.add(user_id)
            self._blocked.discard(user_id)
        else:
            chat = self._group(chat_id)
            status = chat.members.get(user_id)
            if status == "kicked":
                raise ValueError(f"user {user_id} is banned in chat {chat_id}")
            if status in (None, "left"):
                chat.members[user_id] = "member"
            if chat.bot_status not in _ACTIVE:
                if chat.bot_status_changed:
                    raise ValueError(
                        f"the bot is {chat.bot_status} in chat {chat_id} and can't see messages"
                    )
                # The bot's membership was never set: it joined before the test started
                # (without a my_chat_member update), otherwise it could not see the message.
                chat.bot_status = "member"
        reply = None
        if reply_to_message_id is not None:
            reply = chat.by_id.get(reply_to_message_id)
            if reply is None or reply.deleted:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
        return chat, reply

    def press_button(
        self,
        user_id: int,
        chat_id: int,
        message_id: int,
        *,
        callback_data: str | None = None,
        index: int | None = None,
        force: bool = False,
        ephemeral_message_id: int | None = None,
    ) -> dict[str, Any]:
        """A user presses an inline button of a bot message (by callback_data or flat index);
        of an ephemeral message sent to them with ``ephemeral_message_id`` (message_id 0).

        ``force=True`` skips the "this button exists" check so arbitrary data can be forged.
        """
        user = self._user(user_id)
        chat = self._chats.get(chat_id)
        message = chat.by_id.get(message_id) if chat is not None else None
        if ephemeral_message_id is not None:
            message = chat.ephemeral.get((user_id, ephemeral_message_id)) if chat else None
            if message is None and not force:
                raise ValueError(
                    f"no ephemeral message {ephemeral_message_id} for user {user_id} in chat "
                    f"{chat_id} (only its receiver sees one)"
                )
        if message is not None and message.deleted:
            message = None
        data = callback_data
        if not force:
            if message is None:
                raise ValueError(f"no message {message_id} in chat {chat_id}")
            if not message.from_bot:
                raise ValueError(f"message {message_id} was not sent by the bot")
            data = self._find_button_data(message, callback_data, index)
        elif data is None and message is not None and index is not None:
            flat = [b for row in message.buttons for b in row]
            if 0 <= index < len(flat):
                data = flat[index].get("callback_data")
        if data is None:
            raise ValueError("no callback data to send")
        query_id = str(4_000_000_000_000_000 + next(self._ids))
        query: dict[str, Any] = {
            "id": query_id,
            "from": copy.deepcopy(user),
            "chat_instance": f"{abs(chat_id) * 7919 % 10**15}",
            "data": data,
        }
        if message is not None:
            query["message"] = copy.deepcopy(message.raw)
        elif chat is not None:
            query["message"] = {"chat": chat.as_dict(), "message_id": message_id, "date": 0}
        self._callbacks[query_id] = _CallbackQuery(
            query_id, user_id, chat_id, message_id, data, ephemeral_message_id=ephemeral_message_id
        )
        return self._enqueue({"callback_query": query})

    def _find_button_data(
        self, message: StoredMessage, callback_data: str | None, index: int | None
    ) -> str:
        flat = [button for row in message.buttons for button in row]
        if not flat:
            raise ValueError(f"message {message.message_id} has no inline keyboard")
        if index is not None:
            if not 0 <= index < len(flat):
                raise ValueError(f"button index {index} out of range (0..{len(flat) - 1})")
            button = flat[index]
            if callback_data is not None and button.get("callback_data") != callback_data:
                raise ValueError(
                    f"button {index} has callback_data {button.get('callback_data')!r}"
                )
        elif callback_data is not None:
            matching = [b for b in flat if b.get("callback_data") == callback_data]
            if not matching:
                known = [b.get("callback_data") for b in flat]
                raise ValueError(f"no button with callback_data {callback_data!r}; have {known}")
            button = matching[0]
        else:
            raise ValueError("pass callback_data or index")
        if "callback_data" not in button:
            raise ValueError(f"button {button.get('text')!r} has no callback_data")
        return str(button["callback_data"])

    # -- sending ---------------------------------------------------------------------------
    def _api_sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_for_sending(p["chat_id"])
        reply = self._reply_target(chat, p)
        text, entities, html = self._formatted(p["text"], p.get("parse_mode"), p.get("entities"))
        if not text:
            raise bad_request("message text is empty")
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        message = self._send(
            p,
            kind="text",
            content=content,
            text=text,
            entities=entities,
            html=html,
            chat=chat,
            reply=reply,
            ephemeral_ok=True,
        )
        return message.raw

    def _api_sendPhoto(self, p: dict[str, Any]) -> dict[str, Any]:
        spoiler = {"has_media_spoiler": True} if p.get("has_spoiler") else {}
        return self._send_file(p, "photo", self._photo_sizes, spoiler)

    def _api_sendDocument(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._send_file(p, "document", self._document)

    def _send_file(
        self,
        p: dict[str, Any],
        kind: str,
        describe: Callable[[_StoredFile], Any],
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """sendPhoto, sendDocument: the file in p[kind] stored and sent, with its caption."""
        chat = self._chat_for_sending(p["chat_id"])
        reply = self._reply_target(chat, p)
        caption, text, entities, html = self._caption(p)
        stored = self._store_file(p[kind], kind)
        content: dict[str, Any] = {kind: describe(stored), **caption, **(extra or {})}
        message = self._send(
            p,
            kind=kind,
            content=content,
            text=text,
            entities=entities,
            html=html,
            chat=chat,
            reply=reply,
            ephemeral_ok=True,
        )
        return message.raw

    def _api_sendMediaGroup(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        chat = self._chat_for_sending(p["chat_id"])
        reply = self._reply_target(chat, p)
        prepared = []
        for item in p["media"]:
            if item["type"] not in ("photo", "document", "video"):
                raise bad_request(f"media type {item['type']!r} is not supported by the emulator")
            caption, text, entities, html = self._caption(item)
            stored = self._store_file(item["media"], item["type"])
            media: Any = (
                self._photo_sizes(stored)
                if item["type"] == "photo"
                else self._video(stored)
                if item["type"] == "video"
                else self._document(stored)
            )
            prepared.append((item["type"], {item["type"]: media, **caption}, text, entities, html))
        group_id = str(7_000_000_000_000_000 + next(self._ids))
        result = []
        for kind, content, text, entities, html in prepared:
            content["media_group_id"] = group_id
            message = self._new_message(
                chat,
                self.bot_user,
                kind=kind,
                content=content,
                text=text,
                entities=entities,
                html=html,
                markup=None,
                reply=reply,
                params=p,
            )
            result.append(message.raw)
        return result

    def _api_sendChatAction(self, p: dict[str, Any]) -> bool:
        self._chat_for_sending(p["chat_id"])
        if p["action"] not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _api_copyMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        source = self._chat(p["from_chat_id"])
        original = source.by_id.get(p["message_id"])
        if original is None or original.deleted:
            raise bad_request("message to copy not found")
        if original.kind in ("service", "invoice"):
            raise bad_request("the message can't be copied")
        chat = self._chat_for_sending(p["chat_id"])
        reply = self._reply_target(chat, p)
        skip = {
            "message_id",
            "from",
            "chat",
            "date",
            "reply_to_message",
            "reply_markup",
            "edit_date",
            "forward_origin",
            "caption",
            "caption_entities",
        }
        content = {k: copy.deepcopy(v) for k, v in original.raw.items() if k not in skip}
        text, entities, html = original.text, original.entities, original.html
        if original.kind in ("photo", "document"):
            if "caption" in p:
                caption, text, entities, html = self._caption(p)
            else:
                caption = {
                    k: copy.deepcopy(original.raw[k])
                    for k in ("caption", "caption_entities")
                    if k in original.raw
                }
            content.update(caption)
        if original.kind == "poll":
            poll = content["poll"]
            poll["id"] = str(5_000_000_000_000_000 + next(self._ids))
            poll["total_voter_count"] = 0
            poll["is_closed"] = False
            for option in poll["options"]:
                option["voter_count"] = 0
        message = self._send(
            p,
            kind=original.kind,
            content=content,
            text=text,
            entities=list(entities),
            html=html,
            chat=chat,
            reply=reply,
        )
        if original.kind == "poll":
            poll = message.raw["poll"]
            self._polls[poll["id"]] = _Poll(poll, chat.id, message.message_id)
        return {"message_id": message.message_id}

    def _api_forwardMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        source = self._chat(p["from_chat_id"])
        original = source.by_id.get(p["message_id"])
        if original is None or original.deleted:
            raise bad_request("message to forward not found")
        if original.kind in ("service", "invoice"):
            raise bad_request("the message can't be forwarded")
        chat = self._chat_for_sending(p["chat_id"])
        skip = {
            "message_id",
            "from",
            "chat",
            "date",
            "reply_to_message",
            "reply_markup",
            "edit_date",
            "forward_origin",
        }
        content = {k: copy.deepcopy(v) for k, v in original.raw.items() if k not in skip}
        content["forward_origin"] = copy.deepcopy(
            original.raw.get("forward_origin")
            or {"type": "user", "sender_user": original.from_user, "date": original.date}
        )
        message = self._new_message(
            chat,
            self.bot_user,
            kind=original.kind,
            content=content,
            text=original.text,
            entities=list(original.entities),
            html=original.html,
            markup=None,
            reply=None,
            params=p,
        )
        return message.raw

    # -- editing ---------------------------------------------------------------------------
    def _api_editMessageText(self, p: dict[str, Any]) -> dict[str, Any]:
        _, message = self._message_for_edit(p)
        self._edit_text(message, p)
        return message.raw

    def _edit_text(self, message: StoredMessage, p: dict[str, Any]) -> None:
        """Replace a text message's text, entities and buttons as editMessageText does."""
        if "text" not in p:
            raise bad_request("message text is empty")
        if message.kind != "text":
            raise bad_request("there is no text in the message to edit")
        text, entities, html = self._formatted(p["text"], p.get("parse_mode"), p.get("entities"))
        if not text:
            raise bad_request("message text is empty")
        markup = p.get("reply_markup")
        if (
            text == message.text
            and entities == message.entities
            and markup == _inline_markup(message.reply_markup)
        ):
            raise bad_request(_NOT_MODIFIED)
        message.text, message.entities, message.html = text, entities, html
        message.raw["text"] = text
        if entities:
            message.raw["entities"] = entities
        else:
            message.raw.pop("entities", None)
        self._set_markup(message, markup)
        self._mark_edited(message)

    def _api_editMessageCaption(self, p: dict[str, Any]) -> dict[str, Any]:
        _, message = self._message_for_edit(p)
        if message.kind not in ("photo", "document"):
            raise bad_request("there is no caption in the message to edit")
        caption, text, entities, html = self._caption(p)
        markup = p.get("reply_markup")
        if (
            text == message.text
            and entities == message.entities
            and markup == _inline_markup(message.reply_markup)
        ):
            raise bad_request(_NOT_MODIFIED)
        for key in ("caption", "caption_entities", "show_caption_above_media"):
            message.raw.pop(key, None)
        message.raw.update(caption)
        message.text, message.entities, message.html = text, entities, html
        self._set_markup(message, markup)
        self._mark_edited(message)
        return message.raw

    def _api_editMessageReplyMarkup(self, p: dict[str, Any]) -> dict[str, Any]:
        _, message = self._message_for_edit(p)
        markup = p.get("reply_markup")
        if markup == _inline_markup(message.reply_markup):
            raise bad_request(_NOT_MODIFIED)
        self._set_markup(message, markup)
        self._mark_edited(message)
        return message.raw

    def _api_deleteMessage(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_member(chat)
        message = chat.by_id.get(p["message_id"])
        if message is None or message.deleted:
            raise bad_request("message to delete not found")
        if chat.type != "private" and not message.from_bot and chat.bot_status not in _ADMINS:
            raise bad_request("message can't be deleted")
        message.deleted = True
        return True

    def _api_deleteMessages(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_member(chat)
        for message_id in p["message_ids"]:
            message = chat.by_id.get(message_id)
            if message is None or message.deleted:
                continue
            if chat.type == "private" or message.from_bot or chat.bot_status in _ADMINS:
                message.deleted = True
        return True

    # -- ephemeral messages (Bot API 10.2) --------------------------------------------------
    def _ephemeral(self, p: Mapping[str, Any], missing: str) -> StoredMessage:
        chat = self._chat(p["chat_id"])
        self._require_member(chat)
        message = chat.ephemeral.get((p["receiver_user_id"], p["ephemeral_message_id"]))
        if message is None or message.deleted:
            raise bad_request(missing)
        return message

    def _api_deleteEphemeralMessage(self, p: dict[str, Any]) -> bool:
        message = self._ephemeral(p, "message to delete not found")
        message.deleted = True
        return True

    def _api_editEphemeralMessageText(self, p: dict[str, Any]) -> bool:
        message = self._ephemeral(p, "message to edit not found")
        self._edit_text(message, p)
        return True

    def _api_editEphemeralMessageReplyMarkup(self, p: dict[str, Any]) -> bool:
        message = self._ephemeral(p, "message to edit not found")
        markup = p.get("reply_markup")
        if markup == _inline_markup(message.reply_markup):
            raise bad_request(_NOT_MODIFIED)
        self._set_markup(message, markup)
        self._mark_edited(message)
        return True

    def _api_setMessageReaction(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_member(chat)
        message = chat.by_id.get(p["message_id"])
        if message is None or message.deleted:
            raise bad_request("message to react not found")
        return True

    def _api_pinChatMessage(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_admin(chat, "not enough rights to manage pinned messages in the chat")
        message = chat.by_id.get(p["message_id"])
        if message is None or message.deleted:
            raise bad_request("message to pin not found")
        if message.message_id not in chat.pinned:
            chat.pinned.append(message.message_id)
        return True

    def _api_unpinChatMessage(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_admin(chat, "not enough rights to manage pinned messages in the chat")
        message_id = p.get("message_id") or (chat.pinned[-1] if chat.pinned else None)
        if message_id in chat.pinned:
            chat.pinned.remove(message_id)
        return True

    def _api_unpinAllChatMessages(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_admin(chat, "not enough rights to manage pinned messages in the chat")
        chat.pinned.clear()
        return True

    # -- callbacks -------------------------------------------------------------------------
    def _api_answerCallbackQuery(self, p: dict[str, Any]) -> bool:
        query = self._callbacks.get(p["callback_query_id"])
        if query is None or query.answered:
            raise bad_request(_QUERY_TOO_OLD)
        query.answered = True
        self.callback_answers[query.id] = dict(p)
        return True
