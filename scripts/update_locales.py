#!/usr/bin/env python3
"""Refresh bot/locales/*/LC_MESSAGES/messages.po from the strings in the code.

    python scripts/update_locales.py          # add new msgids, drop unused ones, keep translations
    python scripts/update_locales.py --check  # exit 1 if a catalog is out of date (used by tests)
    python scripts/update_locales.py --fill translations.json  # {"ru": {"msgid": "..."}, ...}

English is the source language: its catalog holds every msgid with an empty translation.
A plural message (`ngettext(singular, plural, n)`) is filled by its singular msgid with a list of
the language's forms: {"ru": {"{count} post": ["{count} пост", "{count} поста", "{count} постов"]}}.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "bot" / "locales"
SOURCES = ("bot", "handlers")
KEYWORDS = {
    "_": None,
    "N_": None,
    "gettext": None,
    "lazy_gettext": None,
    "__": None,
    "ngettext": (1, 2),
}
LANGUAGES = ("en", "ru", "nl")


MessageId = str | tuple[str, str]  # a plural message is (singular, plural)


def extract() -> dict[MessageId, list[tuple[str, int]]]:
    found: dict[MessageId, list[tuple[str, int]]] = {}
    for source in SOURCES:
        for filename, lineno, message, _comments, _ctx in extract_from_dir(
            ROOT / source, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            if isinstance(message, str):
                msgid: MessageId = message
            elif len(message) > 1 and message[1]:
                msgid = (message[0], message[1])
            else:
                msgid = message[0]
            if msgid:
                found.setdefault(msgid, []).append((f"{source}/{filename}", lineno))
    return found


def _singular(msgid: MessageId) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]


def build(
    language: str,
    messages: dict[MessageId, list[tuple[str, int]]],
    fill: dict[str, str | list[str]] | None = None,
) -> bytes:
    path = LOCALES / language / "LC_MESSAGES" / "messages.po"
    old = read_po(path.open("rb"), locale=language) if path.exists() else Catalog(locale=language)
    catalog = Catalog(
        locale=language,
        project="Steward",
        version="1",
        fuzzy=False,
        header_comment="# Steward messages. Edit translations; run "
        "scripts/update_locales.py after changing strings in the code.",
    )
    for msgid in sorted(messages, key=_singular):
        previous = old.get(_singular(msgid))
        if isinstance(msgid, tuple):
            empty: str | tuple[str, ...] = ("",) * catalog.num_plurals
            keep = previous is not None and previous.pluralizable and language != "en"
            string = tuple(previous.string) if keep else empty
        else:
            keep = previous is not None and not previous.pluralizable and language != "en"
            empty = ""
            string = previous.string if keep else empty
        if fill and _singular(msgid) in fill and language != "en":
            given = fill[_singular(msgid)]
            string = tuple(given) if isinstance(msgid, tuple) else given
        catalog.add(msgid, string, locations=[])
    out = io.BytesIO()
    write_po(
        out,
        catalog,
        width=0,
        omit_header=False,
        sort_output=True,
        no_location=True,
        include_previous=False,
    )
    # drop the volatile creation date so the file only changes when messages do
    text = b"\n".join(
        line
        for line in out.getvalue().split(b"\n")
        if not line.startswith((b'"POT-Creation-Date', b'"PO-Revision-Date', b'"Generated-By'))
    )
    return text


def same_messages(current: bytes, wanted: bytes, language: str) -> bool:
    """Compare messages, not bytes: headers such as Plural-Forms differ between Babel releases."""

    def messages(raw: bytes) -> dict[object, object]:
        catalog = read_po(io.BytesIO(raw), locale=language)
        return {message.id: message.string for message in catalog if message.id}

    return messages(current) == messages(wanted)


def main(argv: list[str]) -> int:
    messages = extract()
    fills: dict[str, dict[str, str]] = {}
    if "--fill" in argv:
        import json

        fills = json.loads(Path(argv[argv.index("--fill") + 1]).read_text(encoding="utf-8"))
    stale = []
    for language in LANGUAGES:
        path = LOCALES / language / "LC_MESSAGES" / "messages.po"
        content = build(language, messages, fills.get(language))
        if path.exists() and same_messages(path.read_bytes(), content, language):
            continue
        stale.append(str(path.relative_to(ROOT)))
        if "--check" not in argv:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    if stale and "--check" in argv:
        print("out of date:", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
