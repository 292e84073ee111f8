"""Polls: users' answers, sendPoll and stopPoll."""

from __future__ import annotations

import copy
from typing import Any

from .base import EmulatorBase
from .spec import apply_parse_mode, bad_request
from .world import (
    _Poll,
)


class PollsMixin(EmulatorBase):
    """The bot's polls and users' answers to them."""

    def answer_poll(self, user_id: int, poll_id: str, option_ids: list[int]) -> dict[str, Any]:
        """A user votes (empty list = retract). Non-anonymous polls deliver ``poll_answer``;
        anonymous ones deliver the new ``poll`` state (as Telegram does for bot polls)."""
        user = self._user(user_id)
        state = self._polls.get(poll_id)
        if state is None:
            raise ValueError(f"unknown poll {poll_id!r}")
        poll = state.poll
        if poll["is_closed"]:
            raise ValueError("the poll is closed")
        options = poll["options"]
        if any(not 0 <= i < len(options) for i in option_ids) or len(set(option_ids)) != len(
            option_ids
        ):
            raise ValueError(f"invalid option ids {option_ids}")
        if len(option_ids) > 1 and not poll["allows_multiple_answers"]:
            raise ValueError("the poll allows a single answer")
        previous = state.votes.get(user_id)
        if previous is not None and not poll.get("allows_revoting", True):
            raise ValueError("the poll does not allow changing the vote")
        for i in state.votes.pop(user_id, []):
            options[i]["voter_count"] -= 1
        if option_ids:
            state.votes[user_id] = list(option_ids)
            for i in option_ids:
                options[i]["voter_count"] += 1
        poll["total_voter_count"] = len(state.votes)
        if poll["is_anonymous"]:
            return self._enqueue({"poll": copy.deepcopy(poll)})
        return self._enqueue(
            {
                "poll_answer": {
                    "poll_id": poll_id,
                    "user": copy.deepcopy(user),
                    "option_ids": list(option_ids),
                    "option_persistent_ids": [options[i]["persistent_id"] for i in option_ids],
                }
            }
        )

    def _api_sendPoll(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_for_sending(p["chat_id"])
        reply = self._reply_target(chat, p)
        poll_type = p.get("type", "regular")
        if poll_type not in ("regular", "quiz"):
            raise bad_request("poll type is invalid")
        question, question_entities = apply_parse_mode(
            p["question"], p.get("question_parse_mode"), strict_html=self.strict_html
        )
        options = []
        for i, option in enumerate(p["options"]):
            text, entities = apply_parse_mode(
                option["text"], option.get("text_parse_mode"), strict_html=self.strict_html
            )
            item: dict[str, Any] = {"persistent_id": str(i), "text": text, "voter_count": 0}
            custom = [e for e in entities if e["type"] == "custom_emoji"]
            if custom:
                item["text_entities"] = custom
            options.append(item)
        if len({o["text"] for o in options}) != len(options):
            raise bad_request("poll options must be unique")
        correct = p.get("correct_option_ids")
        if poll_type == "quiz" and (not correct or any(not 0 <= i < len(options) for i in correct)):
            raise bad_request("wrong correct option ids specified")
        poll_id = str(5_000_000_000_000_000 + next(self._ids))
        poll: dict[str, Any] = {
            "id": poll_id,
            "question": question,
            "options": options,
            "total_voter_count": 0,
            "is_closed": bool(p.get("is_closed", False)),
            "is_anonymous": bool(p.get("is_anonymous", True)),
            "type": poll_type,
            "allows_multiple_answers": bool(p.get("allows_multiple_answers", False)),
            "allows_revoting": bool(p.get("allows_revoting", poll_type != "quiz")),
            "members_only": bool(p.get("members_only", False)),
        }
        custom_question = [e for e in question_entities if e["type"] == "custom_emoji"]
        if custom_question:
            poll["question_entities"] = custom_question
        if poll_type == "quiz" and correct:
            poll["correct_option_ids"] = list(correct)
        if p.get("explanation"):
            explanation, explanation_entities, _ = self._formatted(
                p["explanation"], p.get("explanation_parse_mode"), p.get("explanation_entities")
            )
            poll["explanation"] = explanation
            if explanation_entities:
                poll["explanation_entities"] = explanation_entities
        for key in ("open_period", "close_date"):
            if key in p:
                poll[key] = p[key]
        if p.get("description"):
            description, description_entities, _ = self._formatted(
                p["description"], p.get("description_parse_mode"), p.get("description_entities")
            )
            poll["description"] = description
            if description_entities:
                poll["description_entities"] = description_entities
        message = self._send(
            p,
            kind="poll",
            content={"poll": poll},
            text=question,
            entities=[],
            html=None,
            chat=chat,
            reply=reply,
        )
        self._polls[poll_id] = _Poll(poll=poll, chat_id=chat.id, message_id=message.message_id)
        return message.raw

    def _api_stopPoll(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(p["chat_id"])
        self._require_member(chat)
        message = chat.by_id.get(p["message_id"])
        if message is None or message.deleted or message.kind != "poll":
            raise bad_request("message with poll to stop not found")
        if not message.from_bot:
            raise bad_request("poll can't be stopped")
        poll = message.raw["poll"]
        if poll["is_closed"]:
            raise bad_request("poll has already been closed")
        poll["is_closed"] = True
        if "reply_markup" in p:
            self._set_markup(message, p["reply_markup"])
        return copy.deepcopy(poll)
