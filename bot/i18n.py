"""Internationalisation: one gettext catalog per language, read straight from the .po files.

aiogram's `I18n` wants compiled .mo files; compiling them in memory at start from the committed
.po sources (with Babel, aiogram's own i18n dependency) means a translation can never be stale
against its source and the repository holds no binaries.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiogram.types import Chat, TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).with_name("locales")

# The language to speak to a chat or user by id (`Steward.locale_for`, injected as `locale_for`).
LocaleFor = Callable[[int], Awaitable[str]]
DOMAIN = "messages"


class PoI18n(I18n):
    """`I18n` that loads `<locale>/LC_MESSAGES/messages.po` and compiles it in memory."""

    @contextmanager
    def context(self) -> Iterator[I18n]:
        # aiogram's `gettext` looks up `I18n.get_current()`; a subclass gets a context variable
        # of its own from ContextInstanceMixin, so publish this instance under the base class.
        token = I18n.set_current(self)
        try:
            yield self
        finally:
            I18n.reset_current(token)

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        translations: dict[str, gettext.GNUTranslations] = {}
        for folder in sorted(self.path.iterdir()):
            po_path = folder / "LC_MESSAGES" / f"{self.domain}.po"
            if not po_path.is_file():
                continue
            with po_path.open("rb") as fp:
                catalog = read_po(fp, locale=folder.name)
            buffer = io.BytesIO()
            write_mo(buffer, catalog)
            buffer.seek(0)
            translations[folder.name] = gettext.GNUTranslations(buffer)
        return translations


def plural_for(i18n: I18n, locale: str) -> Callable[[str, str, int], str]:
    """`ngettext` in one locale, for text built outside a handler's language context (a note
    to a manager, a chat's own language). Bind it to a name `ngettext`: that is the call
    scripts/update_locales.py collects plural messages from."""

    def ngettext(singular: str, plural: str, n: int) -> str:
        return i18n.gettext(singular, plural, n, locale=locale)

    return ngettext


def create_i18n(default_language: str) -> PoI18n:
    return PoI18n(path=LOCALES_DIR, default_locale=default_language, domain=DOMAIN)


def pick_language(
    candidates: Iterable[str | None], supported: tuple[str, ...], default: str
) -> str:
    """First candidate whose base language (`pt-br` -> `pt`) the bot speaks, else the default."""
    for code in candidates:
        if code:
            base = code.lower().replace("_", "-").split("-", 1)[0]
            if base in supported:
                return base
    return default


ChatLanguages = Callable[[int], Awaitable[tuple[str, ...]]]


class LanguageMiddleware(I18nMiddleware):
    """Picks the language of every answer.

    In a group whose admins listed its languages (/setlanguages) the bot speaks the chat's
    first language, so everyone reads the same thing; elsewhere it speaks the user's Telegram
    language when it has it, else the first of LANGUAGES.
    """

    def __init__(
        self, i18n: I18n, languages: tuple[str, ...], chat_languages: ChatLanguages | None = None
    ) -> None:
        super().__init__(i18n=i18n, i18n_key="i18n", middleware_key="i18n_middleware")
        self.languages = languages
        self.chat_languages = chat_languages
        # (chat's languages, user's language code) -> the locale: a handful of combinations
        # cover every update, and picking parses each code again
        self._picked: dict[tuple[tuple[str, ...], str | None], str] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        """aiogram's, with the two context variables set directly instead of through two
        generator-based context managers: this runs for every update."""
        locale = await self.get_locale(event, data)
        data["i18n"] = self.i18n
        data["i18n_middleware"] = self
        instance = I18n.set_current(self.i18n)
        current = self.i18n.ctx_locale.set(locale)
        try:
            return await handler(event, data)
        finally:
            self.i18n.ctx_locale.reset(current)
            I18n.reset_current(instance)

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        chat_languages: tuple[str, ...] = ()
        if chat is not None and chat.type in {"group", "supergroup"} and self.chat_languages:
            chat_languages = await self.chat_languages(chat.id)
        code = user.language_code if user else None
        locale = self._picked.get((chat_languages, code))
        if locale is None:
            locale = pick_language((*chat_languages, code), self.languages, self.languages[0])
            if len(self._picked) >= 10_000:
                self._picked.clear()  # bounded; codes come from Telegram's clients
            self._picked[(chat_languages, code)] = locale
        data["locale"] = locale
        return locale
