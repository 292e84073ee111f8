"""The bot's own profile: getMe, commands, the menu button, name and descriptions."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .base import EmulatorBase
from .spec import bad_request


class ProfileMixin(EmulatorBase):
    """The bot's own profile: getMe, commands, menu button, name and descriptions."""

    def _api_getMe(self, p: dict[str, Any]) -> dict[str, Any]:
        me = dict(self.bot_user)
        for f in self.spec.fields("User"):
            if "Returned only in getMe" in f.get("description", "") and f["types"] == ["Boolean"]:
                me[f["name"]] = f["name"] == "can_join_groups"
        return me

    # -- bot settings ----------------------------------------------------------------------
    def _check_scope(self, scope: Mapping[str, Any] | None) -> None:
        if scope and scope.get("chat_id") is not None:
            chat = self._chat(scope["chat_id"])
            if scope["type"] != "chat" and chat.type == "private":
                raise bad_request("can't use chat administrators scope in private chats")
        if scope and scope.get("user_id") is not None:
            self._any_user(scope["user_id"])

    def _api_setMyCommands(self, p: dict[str, Any]) -> bool:
        scope = p.get("scope")
        self._check_scope(scope)
        key = self._commands_key(scope, p.get("language_code", ""))
        self.commands[key] = [dict(command) for command in p["commands"]]
        return True

    def _api_deleteMyCommands(self, p: dict[str, Any]) -> bool:
        scope = p.get("scope")
        self._check_scope(scope)
        self.commands.pop(self._commands_key(scope, p.get("language_code", "")), None)
        return True

    def _api_getMyCommands(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        key = self._commands_key(p.get("scope"), p.get("language_code", ""))
        return copy.deepcopy(self.commands.get(key, []))

    def _api_setChatMenuButton(self, p: dict[str, Any]) -> bool:
        chat_id = p.get("chat_id")
        if chat_id is not None:
            chat = self._chat(chat_id)
            if chat.type != "private":
                raise bad_request("menu button can be set only in private chats")
        self.menu_buttons[chat_id] = dict(p.get("menu_button") or {"type": "default"})
        return True

    def _api_getChatMenuButton(self, p: dict[str, Any]) -> dict[str, Any]:
        chat_id = p.get("chat_id")
        button = self.menu_buttons.get(chat_id) or self.menu_buttons.get(None)
        return copy.deepcopy(button or {"type": "default"})

    def _set_bot_text(self, kind: str, p: dict[str, Any], value: str | None) -> bool:
        key = (kind, p.get("language_code", ""))
        if value:
            self.bot_texts[key] = value
        else:
            self.bot_texts.pop(key, None)
        return True

    def _api_setMyName(self, p: dict[str, Any]) -> bool:
        return self._set_bot_text("name", p, p.get("name"))

    def _api_getMyName(self, p: dict[str, Any]) -> dict[str, Any]:
        name = self.bot_texts.get(("name", p.get("language_code", "")))
        return {"name": name or self.bot_user["first_name"]}

    def _api_setMyDescription(self, p: dict[str, Any]) -> bool:
        return self._set_bot_text("description", p, p.get("description"))

    def _api_getMyDescription(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"description": self.bot_texts.get(("description", p.get("language_code", "")), "")}

    def _api_setMyShortDescription(self, p: dict[str, Any]) -> bool:
        return self._set_bot_text("short_description", p, p.get("short_description"))

    def _api_getMyShortDescription(self, p: dict[str, Any]) -> dict[str, Any]:
        key = ("short_description", p.get("language_code", ""))
        return {"short_description": self.bot_texts.get(key, "")}
