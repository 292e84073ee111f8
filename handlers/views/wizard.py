"""The steps of every wizard behave alike (product, group-buy, poll, broadcast, and the one-step
follow-ups of NPS and suggestions).

Under each question one row: ⬅️ Back (to the step asked before it; not on the first step),
⏭ Skip (on optional steps only: the step's default) and ✖️ Cancel (every step). The buttons
carry the same callback data in every wizard (`wz:<wizard>:<action>:<step>`) and do the same
things:

- Cancel, from any question of the wizard, or /cancel typed: the state is cleared, nothing
  was created, and the user reads "Cancelled. Nothing was changed." The tapped question loses
  its buttons.
- Back asks the previous question again (the earlier answer is re-asked, not shown as kept:
  the step is answered anew, and every later step after it). The way back follows the steps
  really asked, so a step a branch left out (a poll's points when it is anonymous) is passed
  over on the way back too.
- Skip, or /skip typed, takes the step's default and asks the next step.
- A Back or Skip of a question that is no longer the open one is refused with a toast; a
  button of a wizard that ended, or someone else's, too.

Each wizard says how it asks a step and what its Skip does (`Wizard.register`); its own
buttons (a choice, a product, Confirm) sit above the row.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import Any, TypeVar

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import StatesGroup
from aiogram.types import (
    CallbackQuery,
    InaccessibleMessage,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import gettext as _
from pydantic import BaseModel, ConfigDict, ValidationError

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.text import N_

log = logging.getLogger(__name__)

CANCELLED = N_("Cancelled. Nothing was changed.")
NOT_OPEN = N_("That question is not open any more.")
EARLIER_STEP = N_("That button is from an earlier step.")
NOT_OPTIONAL = N_("This step cannot be skipped: please answer it.")
TRAIL = "wizard_trail"  # the steps asked so far, in order: the way back

Target = Message | InaccessibleMessage
# asks `step` (the question after the error, if any) in the chat of `target`; data: the
# handler's keyword arguments (state, session, settings, member, ...)
Ask = Callable[[Target, str, dict[str, Any]], Awaitable[None]]
# takes the default of the optional `step` and asks the next one
Skip = Callable[[Target, str, dict[str, Any]], Awaitable[None]]


class StepAction(StrEnum):
    BACK = "back"  # ask the previous step again
    SKIP = "skip"  # take the step's default
    CANCEL = "cancel"  # leave the wizard; nothing is created


class StepCallback(CallbackData, prefix="wz"):
    """⬅️ Back, ⏭ Skip or ✖️ Cancel under a wizard's question (the same in every wizard)."""

    wizard: str  # which wizard: the name of its StatesGroup
    action: StepAction
    step: str  # the step whose question carries the button


class Draft(BaseModel):
    """What a wizard has collected so far, typed: each wizard declares its own (its fields
    with defaults, as nothing is answered at first) and reads and writes it only through
    `read_draft` and `save_draft`, never as loose keys of the FSM data.

    The fields are stored flat in the FSM data, beside the wizard's trail, as JSON (Redis
    keeps it so); other keys are ignored when read, so a draft saved by an older version of the
    wizard still reads, and an assignment is validated when it is made."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)


DraftT = TypeVar("DraftT", bound=Draft)


async def read_draft(state: FSMContext, model: type[DraftT]) -> DraftT:
    """The wizard's draft as saved; a draft that no longer reads (a deploy changed a field's
    type while someone was halfway) starts again empty, with a log line."""
    data = await state.get_data()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        log.warning("a %s no longer reads, starting it empty: %s", model.__name__, exc)
        return model()


async def save_draft(state: FSMContext, draft: Draft) -> None:
    """Keep the draft for the wizard's next step (the trail and other keys stay)."""
    await state.update_data(draft.model_dump(mode="json"))


async def cancel_wizard(state: FSMContext, target: Target) -> None:
    """Leaves whatever wizard the user is in: the state is cleared and they are told."""
    await state.clear()
    await target.answer(_(CANCELLED))


async def drop_buttons(bot: Bot, query: CallbackQuery) -> None:
    """Takes the buttons off the tapped question, so it reads as done (a second tap is
    refused anyway)."""
    if query.message is None:
        return
    try:
        await bot.edit_message_reply_markup(
            chat_id=query.message.chat.id, message_id=query.message.message_id, reply_markup=None
        )
    except TelegramAPIError as exc:  # e.g. too old to edit: the buttons only look alive
        log.info("wizard buttons not removed: %s", exc)


class Wizard:
    """One wizard's steps (its StatesGroup, in order) and which of them are optional."""

    def __init__(
        self,
        group: type[StatesGroup],
        *,
        optional: Iterable[str] = (),
        not_open: str = NOT_OPEN,
    ) -> None:
        self.group = group
        self.not_open = not_open  # (untranslated) a button of a wizard that ended, or not yours
        self.name = group.__name__
        self.steps = [s.state.partition(":")[2] for s in group.__all_states__ if s.state]
        self.optional = frozenset(optional)
        unknown = self.optional - set(self.steps)
        assert not unknown, f"{self.name} has no steps {unknown}"

    def step_of(self, raw_state: str | None) -> str | None:
        """The step a raw FSM state names, or None outside this wizard."""
        group, _sep, step = (raw_state or "").partition(":")
        return step if group == self.name and step in self.steps else None

    async def enter(self, state: FSMContext, step: str) -> bool:
        """Moves the wizard to `step`, remembering the way back; whether there is a step to go
        back to (not on the first)."""
        trail = list((await state.get_data()).get(TRAIL, []))
        if step in trail:  # asked again after a bad answer, or gone back to
            del trail[trail.index(step) + 1 :]
        else:
            trail.append(step)
        await state.set_state(getattr(self.group, step))
        await state.update_data({TRAIL: trail})
        return len(trail) > 1

    async def start(self, state: FSMContext, step: str) -> bool:
        """Begins the wizard afresh at its first `step` (whatever the user was doing)."""
        await state.clear()
        return await self.enter(state, step)

    def row(self, step: str, *, back: bool) -> list[InlineKeyboardButton]:
        """⬅️ Back (when there is a step before), ⏭ Skip (optional steps), ✖️ Cancel."""
        buttons = []
        if back:
            buttons.append((_("⬅️ Back"), StepAction.BACK))
        if step in self.optional:
            buttons.append((_("⏭ Skip"), StepAction.SKIP))
        buttons.append((_("✖️ Cancel"), StepAction.CANCEL))
        return [
            InlineKeyboardButton(
                text=text,
                callback_data=StepCallback(wizard=self.name, action=action, step=step).pack(),
            )
            for text, action in buttons
        ]

    def keyboard(
        self,
        step: str,
        *,
        back: bool,
        above: InlineKeyboardBuilder | InlineKeyboardMarkup | None = None,
    ) -> InlineKeyboardMarkup:
        """The step's own buttons (already laid out), with the Back / Skip / Cancel row under
        them."""
        if isinstance(above, InlineKeyboardBuilder):
            above = above.as_markup()
        rows = list(above.inline_keyboard) if above is not None else []
        return InlineKeyboardMarkup(inline_keyboard=[*rows, self.row(step, back=back)])

    async def back_to(self, state: FSMContext, step: str) -> str | None:
        """The step asked before `step`, or None on the first."""
        trail = list((await state.get_data()).get(TRAIL, []))
        if step not in trail or trail.index(step) == 0:
            return None
        return str(trail[trail.index(step) - 1])

    def register(self, router: Router, *, ask: Ask, skip: Skip | None = None) -> None:
        """Adds the shared Back / Skip / Cancel handlers (buttons, /skip and /cancel typed) to
        the wizard's router; register it before the router's own handlers of typed answers."""
        mine = StepCallback.filter(F.wizard == self.name)

        def button(action: StepAction) -> CallbackQueryFilter:
            return StepCallback.filter((F.wizard == self.name) & (F.action == action))

        inside = StateFilter(self.group)

        async def on_step(query: CallbackQuery, callback_data: StepCallback, **data: Any) -> bool:
            return self.step_of(data.get("raw_state")) == callback_data.step

        async def cancel_button(query: CallbackQuery, state: FSMContext, bot: Bot) -> None:
            """✖️ Cancel under any question of the wizard: nothing was created."""
            await query.answer()
            await drop_buttons(bot, query)
            if query.message is not None:
                await cancel_wizard(state, query.message)
            else:
                await state.clear()

        async def cancel_command(message: Message, state: FSMContext) -> None:
            """/cancel at any step (in private, start.py's /cancel comes first and is the
            same)."""
            await cancel_wizard(state, message)

        async def back_button(
            query: CallbackQuery, callback_data: StepCallback, bot: Bot, **data: Any
        ) -> None:
            """⬅️ Back: the previous question, asked again."""
            previous = await self.back_to(data["state"], callback_data.step)
            if previous is None or query.message is None:
                await query.answer(_(EARLIER_STEP), show_alert=True)
                return
            await query.answer()
            await drop_buttons(bot, query)
            await ask(query.message, previous, {**data, "bot": bot})

        async def skip_button(
            query: CallbackQuery, callback_data: StepCallback, bot: Bot, **data: Any
        ) -> None:
            """⏭ Skip: the step's default, then the next question."""
            if skip is None or callback_data.step not in self.optional or query.message is None:
                await query.answer(_(NOT_OPTIONAL), show_alert=True)
                return
            await query.answer()
            await drop_buttons(bot, query)
            await skip(query.message, callback_data.step, {**data, "bot": bot})

        async def skip_command(message: Message, **data: Any) -> None:
            """/skip typed on an optional step: as ⏭ Skip."""
            step = self.step_of(data.get("raw_state"))
            assert skip is not None and step is not None
            await skip(message, step, data)

        async def stale_button(query: CallbackQuery, raw_state: str | None) -> None:
            """A button of an earlier question, of a wizard that ended, or someone else's."""
            text = EARLIER_STEP if self.step_of(raw_state) is not None else self.not_open
            await query.answer(_(text), show_alert=True)

        router.callback_query.register(cancel_button, button(StepAction.CANCEL), inside)
        router.message.register(cancel_command, Command("cancel"), inside)
        router.callback_query.register(back_button, button(StepAction.BACK), on_step)
        router.callback_query.register(skip_button, button(StepAction.SKIP), on_step)
        if skip is not None and self.optional:  # a wizard without optional steps has no /skip
            optional = StateFilter(*(getattr(self.group, step) for step in sorted(self.optional)))
            router.message.register(skip_command, Command("skip"), optional)
        router.callback_query.register(stale_button, mine)
