"""Texts to and from Telegram: long replies in Telegram-sized pieces (a message holds at most
4,096 characters), a command's arguments with the sender's formatting, the ids people type, and
text from elsewhere (a file) made into HTML that Telegram accepts."""

from __future__ import annotations

import html
import re

from aiogram.types import Message
from aiogram.utils.text_decorations import html_decoration

TEXT_LIMIT = 4096  # UTF-16 units in one Telegram message (an emoji is two)
ALERT_LIMIT = 200  # UTF-16 units in a callback query's answer (a toast or an alert)
# The largest integer the database stores (SQLite's INTEGER, PostgreSQL's BIGINT): SQLite will
# not even compare a bigger one, so a typed number beyond it names nothing and must stop here.
BIGGEST_ID = 2**63 - 1
_TYPED_ID = re.compile(r"#?([0-9]{1,19})")
_TYPED_CHAT_ID = re.compile(r"-?[0-9]{1,19}")


def typed_id(token: str) -> int | None:
    """The number of a stored thing as people type it ("12" or "#12"); None for anything else,
    including numbers too big to name a row and digits int() refuses ("²")."""
    match = _TYPED_ID.fullmatch(token.strip())
    if match is None:
        return None
    value = int(match[1])
    return value if 0 < value <= BIGGEST_ID else None


def typed_chat_id(token: str) -> int | None:
    """A Telegram chat or user id as people paste it (negative for groups and channels,
    "-1001234567890"); None for anything else ("--5", a name, a number too big to be one)."""
    token = token.strip()
    if not _TYPED_CHAT_ID.fullmatch(token):
        return None
    value = int(token)
    return value if value != 0 and abs(value) <= BIGGEST_ID else None


# the tags Telegram's HTML parse mode knows (https://core.telegram.org/bots/api#html-style)
TELEGRAM_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a"}
    | {"tg-emoji", "code", "pre", "blockquote"}
)
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>")
_ANY_TAG = re.compile(r"<[^<>]*>")
# one attribute as Telegram reads it: a value in quotes or a name token (letters, digits, "."
# and "-"); a bare name only in <blockquote expandable>
_ATTRIBUTE = re.compile(
    r"""\s*([a-zA-Z0-9_-]+)(?:\s*=\s*("[^"]*"|'[^']*'|[a-zA-Z0-9.-]+(?=[\s]|$)))?"""
)
_BARE_AMPERSAND = re.compile(r"&(?!(?:[a-zA-Z]+|#[0-9]+|#x[0-9a-fA-F]+);)")


def utf16_length(text: str) -> int:
    """How long Telegram takes `text` to be: entity offsets and lengths count UTF-16 units (an
    emoji outside the basic plane is two)."""
    return len(text.encode("utf-16-le")) // 2


def cut_to(text: str, limit: int) -> str:
    """The longest start of `text` that Telegram counts as at most `limit` long (never half
    of an emoji)."""
    if len(text) <= limit // 2 or utf16_length(text) <= limit:
        return text
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


def shorten(text: str, limit: int) -> str:
    """`text` when Telegram counts it as at most `limit` long, otherwise its start cut to fit
    with "…" (counted in UTF-16 units, as Telegram does: an emoji is two)."""
    if utf16_length(text) <= limit:
        return text
    return cut_to(text, limit - 1).rstrip() + "…"


def pack_lines(lines: list[str], limit: int = TEXT_LIMIT) -> list[str]:
    """`lines` joined into as few messages as fit `limit` each, split only between lines (a
    line longer than a whole message is cut). Counted as Telegram counts (UTF-16 units: an
    emoji is two) and with any HTML tags, which Telegram does not count, so it errs on the
    safe side."""
    texts: list[str] = []
    current = ""
    size = 0
    for line in lines:
        line = cut_to(line, limit)
        length = utf16_length(line)
        if current and size + 1 + length > limit:
            texts.append(current)
            current, size = line, length
        elif current:
            current, size = f"{current}\n{line}", size + 1 + length
        else:
            current, size = line, length
    if current:
        texts.append(current)
    return texts


def command_args_html(message: Message) -> str:
    """A command's arguments as HTML: the sender's formatting kept, "<" and "&" escaped (they
    are letters the sender typed). Entities are cut to the arguments, so one spanning the
    command too cannot leave half a tag behind."""
    text = message.text or message.caption or ""  # a command may come as a photo's caption
    parts = text.split(maxsplit=1)
    if len(parts) < 2:
        return ""
    start = text.index(parts[1], len(parts[0]))
    shift = utf16_length(text[:start])
    entities = []
    for entity in (message.entities if message.text else message.caption_entities) or []:
        begin, end = max(entity.offset, shift), entity.offset + entity.length
        if end > begin and entity.type != "bot_command":
            entities.append(
                entity.model_copy(update={"offset": begin - shift, "length": end - begin})
            )
    return html_decoration.unparse(parts[1], entities)


def telegram_html(text: str) -> str:
    """`text` from outside the bot (an imported file) as HTML that Telegram will parse, so an
    answer never fails at the moment a member asks: kept as it is when its tags are Telegram's
    and balanced (an exported answer with its formatting; a stray "&" or ">" is escaped),
    otherwise taken as plain text ("under < 5 euro" is letters, not a broken tag)."""
    parts: list[str] = []
    open_tags: list[str] = []
    position = 0
    for tag in _TAG.finditer(text):
        between = text[position : tag.start()]
        closing, name = tag[1], tag[2].lower()
        if "<" in between or name not in TELEGRAM_TAGS:
            return html.escape(text, quote=False)
        if not closing and not _attributes_parse(name, tag[3] or ""):
            return html.escape(text, quote=False)
        if closing and (not open_tags or open_tags.pop() != name):
            return html.escape(text, quote=False)
        if not closing:
            open_tags.append(name)
        parts += [_loose_text(between), tag[0]]
        position = tag.end()
    rest = text[position:]
    if "<" in rest or open_tags:
        return html.escape(text, quote=False)
    return "".join([*parts, _loose_text(rest)])


def _attributes_parse(tag: str, text: str) -> bool:
    """Whether Telegram takes these attributes of a start tag: each a name with a quoted value
    or a name token, a `<span>` only as class "tg-spoiler", a `<tg-emoji>` only with a numeric
    emoji-id (tdlib parse_html refuses the rest: "can't parse entities")."""
    values: dict[str, str] = {}
    position = 0
    while text[position:].strip():
        match = _ATTRIBUTE.match(text, position)
        if match is None:
            return False
        name, value = match[1].lower(), match[2]
        if value is None and (tag, name) != ("blockquote", "expandable"):
            return False
        values[name] = html.unescape(
            (value or "")[1:-1] if value and value[0] in "\"'" else value or ""
        )
        position = match.end()
    if tag == "span" and values.get("class") != "tg-spoiler":
        return False
    emoji_id = values.get("emoji-id", "")
    return tag != "tg-emoji" or (emoji_id.isdigit() and 0 < int(emoji_id) < 2**63)


def _loose_text(text: str) -> str:
    """Text between tags: a ">" or an "&" that starts no entity stands for itself."""
    return _BARE_AMPERSAND.sub("&amp;", text.replace(">", "&gt;"))


def visible_length(html_text: str) -> int:
    """How long Telegram takes the text a reader sees of this HTML to be, tags left out: its
    4,096 limit counts UTF-16 units, so an emoji (outside the basic plane) counts two."""
    return utf16_length(html.unescape(_ANY_TAG.sub("", html_text)))


def fit_html(html_text: str, limit: int = TEXT_LIMIT) -> str:
    """HTML that Telegram takes as one message: as it is when what the reader sees fits
    `limit`, otherwise that visible text cut to fit and escaped again (the tags dropped: a cut
    through HTML could leave half of one, which Telegram refuses)."""
    if visible_length(html_text) <= limit:
        return html_text
    plain = html.unescape(_ANY_TAG.sub("", html_text))
    return html.escape(cut_to(plain, limit), quote=False)
