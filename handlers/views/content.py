"""Content in several languages, as the wizards ask for it: "🌐 Add a translation" under a
wizard's last look (pick a language, type its texts, another or Done, and the last look comes
back showing each language); services/content.py stores and picks them.

A wizard that offers it adds two steps at the end of its StatesGroup (`translate`: the offer,
and `translation`: the text being typed; out of its straight path, so a wizard run without
translations is as short as before), puts `ContentSteps.button()` beside its Confirm, asks and
skips the two steps with `ContentSteps.ask` and `ContentSteps.skip`, and registers
`ContentSteps.register` on its router after its own `Wizard.register`. The texts live in the
wizard's draft (its `Draft` derives from `ContentDraft`) under `translations` until the wizard
creates its thing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message
from aiogram.utils.i18n import gettext as _
from pydantic import Field

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.text import LANGUAGE_NAMES, N_, counted, esc, list_text
from handlers.views.wizard import (
    NOT_OPEN,
    Draft,
    Target,
    Wizard,
    drop_buttons,
    read_draft,
    save_draft,
)
from services.content import (
    DESCRIPTION,
    LIMITS,
    PICKUP_POINT,
    PICKUP_TIME,
    TEXT,
    TITLE,
    ReadTranslations,
    Translations,
    languages,
)
from services.member import LOCALES, Locale

OFFER = "translate"  # the step that offers a language (Skip: Done)
TYPING = "translation"  # the step that takes the text of one field (Skip: leave it out)
KEY = "translations"  # where the wizard's data keeps them (ContentDraft.translations)

# what each field's question asks, {language} being the language's own name
PROMPTS = {
    TITLE: N_("The title in {language}?"),
    DESCRIPTION: N_("The description in {language}? (/skip to leave it out)"),
    PICKUP_POINT: N_("Where do members pick it up, in {language}? (/skip to leave it out)"),
    PICKUP_TIME: N_("When can they pick it up, in {language}? (/skip to leave it out)"),
    TEXT: N_("The message in {language}, as members should see it?"),
}
TOO_LONG = N_("That is {length}, but at most {limit} fit here. Send a shorter one.")
UNKNOWN_LANGUAGE = N_("Choose one of the languages with the buttons.")

# what a wizard does once the translations are done: asks its next step (data: the handler's
# keyword arguments)
Next = Callable[[Target, dict[str, Any]], Awaitable[None]]


class ContentAction(StrEnum):
    OFFER = "offer"  # under the last look
    LANG = "lang"  # with `locale`
    DONE = "done"


class ContentCallback(CallbackData, prefix="ct"):
    """A language, or Done, under a wizard's "Add a translation?"."""

    wizard: str  # the wizard's name (its StatesGroup)
    action: ContentAction
    locale: Locale | None = None  # with LANG


class ContentDraft(Draft):
    """The part of a wizard's draft the translation steps keep: the texts given so far and
    which language and field are being typed; a wizard offering translations derives its own
    draft from it."""

    translations: dict[str, dict[str, str]] = Field(default_factory=dict)  # {locale: {field: text}}
    content_locale: str | None = None  # the language being typed (None: on the offer)
    content_field: str | None = None  # the field being typed (None: the first)


def language_name(locale: str) -> str:
    return LANGUAGE_NAMES.get(locale, locale)


def translations_of(data: dict[str, Any]) -> Translations:
    """The translations a wizard collected so far, from its FSM data as loose keys (a wizard
    with a `ContentDraft` reads its `translations`)."""
    stored = data.get(KEY) or {}
    return {str(locale): dict(texts) for locale, texts in stored.items()}


def preview_lines(translations: ReadTranslations, fields: tuple[str, ...]) -> list[str]:
    """Each language's texts for a wizard's last look, escaped (none: no lines)."""
    lines: list[str] = []
    given = translations or {}
    for locale in languages(given):
        texts = [esc(given[locale][f]) for f in fields if given[locale].get(f)]
        if texts:
            lines.append(
                _("In {language}: {texts}").format(
                    language=language_name(locale), texts=" · ".join(texts)
                )
            )
    return lines


def given_line(translations: ReadTranslations) -> str:
    """Which languages the content is given in besides the original ('' when none)."""
    given = languages(translations)
    if not given:
        return ""
    return _("Also in: {languages}.").format(languages=list_text(map(language_name, given)))


class ContentSteps:
    """The two translation steps of one wizard, for the fields it lets staff translate."""

    def __init__(
        self,
        wizard: Wizard,
        fields: tuple[str, ...],
        *,
        confirm: str,
        after: Next,
        limit: Callable[[dict[str, Any], str], int] | None = None,
    ) -> None:
        assert {OFFER, TYPING} <= set(wizard.steps), f"{wizard.name} lacks the content steps"
        self.wizard = wizard
        self.fields = fields
        self.confirm = confirm  # the step whose last look carries the button
        self.after = after  # asks that step again
        self.steps = (OFFER, TYPING)
        # how long a field may be, given the wizard's data (a broadcast with a photo: a caption)
        self.limit = limit or (lambda _data, field: LIMITS[field])

    def button(self) -> InlineKeyboardButton:
        """🌐 Add a translation, for the wizard's last look."""
        return InlineKeyboardButton(
            text=_("🌐 Add a translation"),
            callback_data=ContentCallback(
                wizard=self.wizard.name, action=ContentAction.OFFER
            ).pack(),
        )

    async def ask(self, target: Target, step: str, data: dict[str, Any]) -> None:
        """Asks the offer, or the field being typed (Back lands here too)."""
        state: FSMContext = data["state"]
        draft = await read_draft(state, ContentDraft)
        if step == TYPING and draft.content_locale in LOCALES:
            field = draft.content_field or self.fields[0]
            back = await self.wizard.enter(state, TYPING)
            prompt = _(PROMPTS[field]).format(language=language_name(draft.content_locale))
            error = data.get("content_error", "")
            await target.answer(
                "\n\n".join(filter(None, [error, prompt])),
                reply_markup=self.wizard.keyboard(TYPING, back=back),
            )
            return
        back = await self.wizard.enter(state, OFFER)
        translations = draft.translations
        builder = InlineKeyboardBuilder()
        for locale in LOCALES:
            mark = "✅ " if locale in translations else ""
            builder.button(
                text=mark + language_name(locale),
                callback_data=ContentCallback(
                    wizard=self.wizard.name, action=ContentAction.LANG, locale=locale
                ),
            )
        builder.button(
            text=_("Done"),
            callback_data=ContentCallback(wizard=self.wizard.name, action=ContentAction.DONE),
        )
        builder.adjust(len(LOCALES), 1)
        text = _(
            "Add a translation? Groups and members whose language is given read it in theirs; "
            "the others read it in the brand's language, else as you wrote it. Tap a language "
            "(again to replace it), or Done."
        )
        lines = [text, *preview_lines(translations, self.fields)]
        await target.answer(
            "\n".join(lines), reply_markup=self.wizard.keyboard(OFFER, back=back, above=builder)
        )

    async def skip(self, target: Target, step: str, data: dict[str, Any]) -> None:
        """Skip on the offer: Done. Skip on a field: left out, then the next field."""
        if step == OFFER:
            await self.after(target, data)
        else:
            await self._next_field(target, data)

    async def _next_field(self, target: Target, data: dict[str, Any]) -> None:
        state: FSMContext = data["state"]
        draft = await read_draft(state, ContentDraft)
        field = draft.content_field or self.fields[0]
        index = self.fields.index(field) + 1 if field in self.fields else len(self.fields)
        if index < len(self.fields):
            draft.content_field = self.fields[index]
            await save_draft(state, draft)
            await self.ask(target, TYPING, data)
            return
        draft.content_locale = draft.content_field = None
        await save_draft(state, draft)
        await self.ask(target, OFFER, data)

    async def _take(self, message: Message, data: dict[str, Any]) -> None:
        """The text of the field being typed: kept, then the next field or the offer again."""
        state: FSMContext = data["state"]
        bot: Bot = data["bot"]
        draft = await read_draft(state, ContentDraft)
        locale = draft.content_locale
        field = draft.content_field or self.fields[0]
        if locale not in LOCALES or field not in self.fields:
            await self.ask(message, OFFER, data)
            return
        if field == TEXT:  # Telegram HTML, checked by sending it back as it will go out
            text = message.html_text if message.entities else (message.text or "")
        else:
            text = (message.text or "").strip()
        # the wizard's own limit reads its own draft (a broadcast's photo), as FSM data
        limit = min(LIMITS[field], self.limit(await state.get_data(), field))
        if len(text) > limit:
            error = _(TOO_LONG).format(length=counted("character", len(text)), limit=limit)
            await self.ask(message, TYPING, {**data, "content_error": error})
            return
        if field == TEXT:
            try:
                await bot.send_message(message.chat.id, text)
            except TelegramBadRequest as exc:
                error = _(
                    "Telegram cannot read that formatting: {error}. Send the message again."
                ).format(error=esc(exc.message))
                await self.ask(message, TYPING, {**data, "content_error": error})
                return
        draft.translations.setdefault(locale, {})[field] = text
        await save_draft(state, draft)
        await self._next_field(message, data)

    def register(self, router: Router) -> None:
        """The language and Done buttons and the typed texts, on the wizard's router (after
        its `Wizard.register`, before its own handlers of typed answers)."""
        name = self.wizard.name
        offer = getattr(self.wizard.group, OFFER)
        typing = getattr(self.wizard.group, TYPING)

        async def offer_button(query: CallbackQuery, bot: Bot, **data: Any) -> None:
            """🌐 Add a translation: which language?"""
            await query.answer()
            await drop_buttons(bot, query)
            if query.message is not None:
                await self.ask(query.message, OFFER, {**data, "bot": bot})

        async def language_button(
            query: CallbackQuery, callback_data: ContentCallback, bot: Bot, **data: Any
        ) -> None:
            """A language tapped: its first field is asked."""
            if callback_data.locale is None or query.message is None:
                await query.answer(_(UNKNOWN_LANGUAGE), show_alert=True)
                return
            await query.answer()
            await drop_buttons(bot, query)
            state: FSMContext = data["state"]
            draft = await read_draft(state, ContentDraft)
            draft.content_locale, draft.content_field = callback_data.locale, None
            await save_draft(state, draft)
            await self.ask(query.message, TYPING, {**data, "bot": bot})

        async def done_button(query: CallbackQuery, bot: Bot, **data: Any) -> None:
            """Done: the wizard goes on."""
            await query.answer()
            await drop_buttons(bot, query)
            if query.message is not None:
                await self.after(query.message, {**data, "bot": bot})

        async def typed(message: Message, bot: Bot, **data: Any) -> None:
            """The text of one field in the chosen language."""
            await self._take(message, {**data, "bot": bot})

        async def stale_button(query: CallbackQuery) -> None:
            """A language or Done under an offer that is not the open question any more."""
            await query.answer(_(NOT_OPEN), show_alert=True)

        def button(action: ContentAction) -> CallbackQueryFilter:
            return ContentCallback.filter((F.wizard == name) & (F.action == action))

        confirm = getattr(self.wizard.group, self.confirm)
        router.callback_query.register(offer_button, button(ContentAction.OFFER), confirm)
        router.callback_query.register(language_button, button(ContentAction.LANG), offer)
        router.callback_query.register(done_button, button(ContentAction.DONE), offer)
        router.callback_query.register(stale_button, ContentCallback.filter(F.wizard == name))
        router.message.register(typed, typing, F.text, ~F.text.startswith("/"))
