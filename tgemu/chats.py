"""Chats and members: the world's users, groups and channels, joins and leaves, join
requests, the bot added or removed, and the chat methods of the Bot API."""

from __future__ import annotations

import copy
import itertools
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from .base import EmulatorBase
from .spec import bad_request
from .world import (
    _ACTIVE,
    _ADMINS,
    MEMBER_STATUSES,
    _Chat,
    _now,
)


class ChatsMixin(EmulatorBase):
    """Users join, leave and ask to join; the bot reads and manages chats and members."""

    def add_group(
        self,
        chat_id: int,
        title: str,
        *,
        creator: int | None = None,
        admins: Iterable[int] = (),
        members: Iterable[int] = (),
        supergroup: bool = True,
    ) -> dict[str, Any]:
        """Create a group (negative id, -100... for supergroups); the bot is not a member yet."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative (supergroups look like -100...)")
        chat = _Chat(id=chat_id, type="supergroup" if supergroup else "group", title=title)
        self._chats[chat_id] = chat
        for user_id, status in itertools.chain(
            [(creator, "creator")] if creator is not None else [],
            ((uid, "administrator") for uid in admins),
            ((uid, "member") for uid in members),
        ):
            self._ensure_user(user_id)
            chat.members.setdefault(user_id, status)
        return chat.as_dict()

    def add_channel(
        self, chat_id: int, title: str, *, admins: Iterable[int] = ()
    ) -> dict[str, Any]:
        """Create a channel (-100... id) whose admins may write in groups as the channel."""
        if chat_id >= 0:
            raise ValueError("channel ids are negative (they look like -100...)")
        if chat_id in self._chats:
            raise ValueError(f"chat {chat_id} exists already")
        channel = _Chat(id=chat_id, type="channel", title=title)
        for user_id in admins:
            self._ensure_user(user_id)
            channel.members[user_id] = "administrator"
        self._channels[chat_id] = channel
        return channel.as_dict()

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """Set a member's status (creator/administrator/member/left/kicked/restricted)."""
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        chat = self._group(chat_id)
        if user_id == self.bot_user["id"]:
            chat.bot_status = status
            chat.bot_status_changed = True
            return
        self._ensure_user(user_id)
        chat.members[user_id] = status

    def get_member_status(self, chat_id: int, user_id: int) -> str:
        """A user's status in a group (left when never in it)."""
        return self._group(chat_id).members.get(user_id, "left")

    def join_by_link(self, user_id: int, invite_link: str) -> list[dict[str, Any]]:
        """The user joins a group through an invite link made by createChatInviteLink: a
        chat_member update carrying the link (delivered only when the bot asked for chat_member
        updates, as Telegram does for administrators), then the "joined" service message."""
        user = self._user(user_id)
        found = [
            (chat, link)
            for chat in self._chats.values()
            for link in chat.invite_links
            if link["invite_link"] == invite_link
        ]
        if not found:
            raise ValueError(f"no invite link {invite_link!r}")
        chat, link = found[0]
        if link["is_revoked"] or link.get("expire_date", _now() + 1) <= _now():
            raise ValueError(f"invite link {invite_link!r} is revoked or expired")
        if link["creates_join_request"]:
            raise ValueError("links that need approval are not emulated")
        used = chat.invite_uses.get(invite_link, 0)
        if link.get("member_limit") and used >= link["member_limit"]:
            raise ValueError(f"invite link {invite_link!r} reached its member limit")
        status = chat.members.get(user_id, "left")
        if status == "kicked":
            raise ValueError(f"user {user_id} is banned in chat {chat.id}")
        if status in _ACTIVE:
            raise ValueError(f"user {user_id} is already in chat {chat.id}")
        chat.members[user_id] = "member"
        chat.invite_uses[invite_link] = used + 1
        updates = []
        if chat.bot_status in _ADMINS:  # only administrators hear about other members
            updates.append(
                self._enqueue(
                    {
                        "chat_member": {
                            "chat": chat.as_dict(),
                            "from": copy.deepcopy(user),
                            "date": _now(),
                            "old_chat_member": self._member(user, status),
                            "new_chat_member": self._member(user, "member"),
                            "invite_link": copy.deepcopy(link),
                        }
                    }
                )
            )
        if chat.bot_status in _ACTIVE:
            message = self._new_message(
                chat,
                user,
                kind="new_chat_members",
                content={"new_chat_members": [copy.deepcopy(user)]},
                text=None,
                entities=[],
                html=None,
                markup=None,
                reply=None,
            )
            updates.append(self._enqueue({"message": copy.deepcopy(message.raw)}))
        return updates

    def request_to_join(self, chat_id: int, user_id: int) -> dict[str, Any]:
        """The user asks to join a group that admits by request (a link with
        creates_join_request, or the group's join-request setting): a chat_join_request update
        for the bot, which must be an administrator that may invite users. Until the request
        is approved or declined (at most 5 minutes), the bot may write to the user in private
        even if they never started it (`user_chat_id`)."""
        chat = self._group(chat_id)
        user = self._user(user_id)
        if chat.bot_status not in _ADMINS:
            raise ValueError("only administrators hear about join requests")
        status = chat.members.get(user_id, "left")
        if status in _ACTIVE:
            raise ValueError(f"user {user_id} is already in chat {chat_id}")
        if status == "kicked":
            raise ValueError(f"user {user_id} is banned in chat {chat_id}")
        chat.join_requests[user_id] = _now()
        return self._enqueue(
            {
                "chat_join_request": {
                    "chat": chat.as_dict(),
                    "from": copy.deepcopy(user),
                    "user_chat_id": user_id,
                    "date": _now(),
                }
            }
        )

    def member_joins(self, chat_id: int, user_id: int) -> None:
        """A user joins a group: the service message (new_chat_members), and a chat_member
        update when the bot asked for those in allowed_updates."""
        self._member_moves(chat_id, user_id, "member")

    def member_leaves(self, chat_id: int, user_id: int) -> None:
        """A user leaves a group: the service message (left_chat_member), and a chat_member
        update when the bot asked for those in allowed_updates."""
        self._member_moves(chat_id, user_id, "left")

    def _member_moves(self, chat_id: int, user_id: int, status: str) -> None:
        chat = self._group(chat_id)
        user = self._user(user_id)
        old = chat.members.get(user_id, "left")
        chat.members[user_id] = status
        self._enqueue(
            {
                "chat_member": {
                    "chat": chat.as_dict(),
                    "from": copy.deepcopy(user),
                    "date": _now(),
                    "old_chat_member": self._member(user, old),
                    "new_chat_member": self._member(user, status),
                }
            }
        )
        content = (
            {"new_chat_members": [copy.deepcopy(user)]}
            if status == "member"
            else {"left_chat_member": copy.deepcopy(user)}
        )
        message = self._new_message(
            chat,
            user,
            kind="service",
            content=content,
            text=None,
            entities=[],
            html=None,
            markup=None,
            reply=None,
        )
        self._enqueue({"message": copy.deepcopy(message.raw)})

    def block_bot(self, user_id: int, *, notify: bool = True) -> dict[str, Any] | None:
        """The user blocks the bot: sending to them answers 403. Delivers my_chat_member."""
        user = self._user(user_id)
        self._blocked.add(user_id)
        if not notify:
            return None
        chat = self._private_chat(user_id)
        return self._enqueue(
            {
                "my_chat_member": {
                    "chat": chat.as_dict(),
                    "from": copy.deepcopy(user),
                    "date": _now(),
                    "old_chat_member": self._member(self.bot_user, "member"),
                    "new_chat_member": self._member(self.bot_user, "kicked"),
                }
            }
        )

    def unblock_bot(self, user_id: int) -> None:
        self._blocked.discard(user_id)

    def add_bot_to_group(
        self, chat_id: int, by_user_id: int, *, status: str = "member"
    ) -> dict[str, Any]:
        """``by_user_id`` adds the bot (status member or administrator): my_chat_member update."""
        if status not in _ACTIVE:
            raise ValueError(f"status must be one of {sorted(_ACTIVE)}")
        chat = self._group(chat_id)
        user = self._user(by_user_id)
        if chat.members.get(by_user_id) in (None, "left"):
            chat.members[by_user_id] = "member"
        return self._bot_status_update(chat, user, status)

    def remove_bot_from_group(self, chat_id: int, by_user_id: int) -> dict[str, Any]:
        """``by_user_id`` removes the bot (kicked in supergroups, left in basic groups)."""
        chat = self._group(chat_id)
        user = self._user(by_user_id)
        return self._bot_status_update(
            chat, user, "kicked" if chat.type == "supergroup" else "left"
        )

    def _bot_status_update(
        self, chat: _Chat, by_user: dict[str, Any], status: str
    ) -> dict[str, Any]:
        old = chat.bot_status
        chat.bot_status = status
        chat.bot_status_changed = True
        return self._enqueue(
            {
                "my_chat_member": {
                    "chat": chat.as_dict(),
                    "from": copy.deepcopy(by_user),
                    "date": _now(),
                    "old_chat_member": self._member(self.bot_user, old),
                    "new_chat_member": self._member(self.bot_user, status),
                }
            }
        )

    # -- chats -----------------------------------------------------------------------------
    def _api_getChat(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(p["chat_id"])
        info = chat.as_dict()
        info["accent_color_id"] = 0
        info["max_reaction_count"] = 11
        info["accepted_gift_types"] = {
            name: False for name in self.spec.required_fields("AcceptedGiftTypes")
        }
        if chat.type != "private":
            info["permissions"] = {"can_send_messages": True}
        if chat.pinned:
            pinned = chat.by_id.get(chat.pinned[-1])
            if pinned is not None and not pinned.deleted:
                info["pinned_message"] = copy.deepcopy(pinned.raw)
        return info

    def _api_getChatMember(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(p["chat_id"])
        user = self._any_user(p["user_id"])
        return self._member(user, self._status_in(chat, p["user_id"]))

    def _api_getChatAdministrators(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        chat = self._chat(p["chat_id"])
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        result = []
        for wanted in ("creator", "administrator"):
            for user_id, status in chat.members.items():
                if status == wanted:
                    result.append(self._member(self._users[user_id], status))
            if chat.bot_status == wanted:
                result.append(self._member(self.bot_user, wanted))
        return result

    def _api_getChatMemberCount(self, p: dict[str, Any]) -> int:
        chat = self._chat(p["chat_id"])
        if chat.type == "private":
            return 2
        count = sum(1 for status in chat.members.values() if status in _ACTIVE)
        return count + (1 if chat.bot_status in _ACTIVE else 0)

    def _join_request(self, p: Mapping[str, Any]) -> tuple[_Chat, int]:
        chat = self._chat(p["chat_id"])
        if chat.type == "private":
            raise bad_request("method is available for supergroup and channel chats only")
        self._require_admin(chat, "not enough rights to manage join requests")
        user_id = p["user_id"]
        self._any_user(user_id)
        if user_id not in chat.join_requests:
            raise bad_request("HIDE_REQUESTER_MISSING")
        del chat.join_requests[user_id]
        return chat, user_id

    def _api_approveChatJoinRequest(self, p: dict[str, Any]) -> bool:
        chat, user_id = self._join_request(p)
        self._member_moves(chat.id, user_id, "member")
        return True

    def _api_declineChatJoinRequest(self, p: dict[str, Any]) -> bool:
        self._join_request(p)
        return True

    def _api_leaveChat(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        self._require_member(chat)
        self._bot_status_update(chat, self.bot_user, "left")
        return True

    def _api_banChatMember(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_admin(chat, "not enough rights to restrict/unrestrict chat member")
        if chat.type == "private":
            raise bad_request("can't ban members in private chats")
        user_id = p["user_id"]
        self._any_user(user_id)
        if chat.members.get(user_id) == "creator":
            raise bad_request("can't remove chat owner")
        chat.members[user_id] = "kicked"
        return True

    def _api_unbanChatMember(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        self._require_admin(chat, "not enough rights to restrict/unrestrict chat member")
        user_id = p["user_id"]
        self._any_user(user_id)
        status = chat.members.get(user_id)
        unban = status == "kicked"
        remove = not p.get("only_if_banned") and status in _ACTIVE and status not in _ADMINS
        if unban or remove:
            chat.members[user_id] = "left"
        return True

    def _api_createChatInviteLink(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(p["chat_id"])
        if chat.type == "private":
            raise bad_request("can't invite members to a private chat")
        self._require_admin(chat, "not enough rights to manage chat invite link")
        if p.get("creates_join_request") and p.get("member_limit"):
            raise bad_request("member_limit can't be specified for links requiring approval")
        link: dict[str, Any] = {
            "invite_link": f"https://t.me/+EMU{secrets.token_urlsafe(12)}",
            "creator": copy.deepcopy(self.bot_user),
            "creates_join_request": bool(p.get("creates_join_request", False)),
            "is_primary": False,
            "is_revoked": False,
        }
        for key in ("name", "expire_date", "member_limit"):
            if key in p:
                link[key] = p[key]
        chat.invite_links.append(link)
        return link
