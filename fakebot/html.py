"""A strict parser for Telegram's HTML parse mode.

It follows the algorithm of TDLib's ``parse_html`` (what the Bot API runs): the same supported tags, the same
attribute syntax and the same error texts. It is stricter than Telegram in one way, on purpose: a ``&`` that does
not start one of the supported character references (``&lt; &gt; &amp; &quot;``, ``&#123;``, ``&#x1F;``) is an
error rather than a literal ampersand, so that forgotten escaping shows up in tests (``strict_ampersand=False``
gives Telegram's lenient behaviour).

`parse_html` returns the visible text and the entities with offsets and lengths in UTF-16 code units, like the
``entities`` of a ``Message``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["EntityParseError", "ParsedText", "parse_html", "trim_text", "utf16_len"]

JSONDict = dict[str, Any]

_SPECIAL = re.compile(r"[<&]")
# Character references as TDLib reads them: "&#x" + hex digits (lowercase x only), "&#" + decimal digits, or
# "&" + letters; the ";" is optional.
_CHAR_REF = re.compile(r"&(?:#x([0-9A-Fa-f]*)|#([0-9]*)|([A-Za-z]*));?")
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = frozenset(" \t\r\n\v\f")
_NAME_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
_SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)
_SIMPLE_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
}


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML. ``str(exc)`` is the detail Telegram puts after
    ``"Bad Request: can't parse entities: "``."""


@dataclass(frozen=True, slots=True)
class ParsedText:
    """Visible text and its entities (offsets/lengths in UTF-16 code units)."""

    text: str
    entities: list[JSONDict]


@dataclass(slots=True)
class _OpenTag:
    name: str
    argument: str
    utf16_start: int
    out_index: int


def utf16_len(text: str) -> int:
    """Length of `text` in UTF-16 code units, the unit Telegram counts message length in."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _decode_char_ref(match: re.Match[str]) -> str | None:
    """The character a reference stands for, or None when TDLib would not decode it."""
    hex_digits, dec_digits, name = match.group(1), match.group(2), match.group(3)
    if name is not None:
        return _NAMED_REFS.get(name)
    digits = hex_digits if hex_digits is not None else dec_digits
    assert digits is not None
    # TDLib gives up when "&#..." (without ";") spans 10 characters or more.
    if not digits or len(digits) + (3 if hex_digits is not None else 2) >= 10:
        return None
    code = int(digits, 16 if hex_digits is not None else 10)
    if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


class _Parser:
    __slots__ = ("entities", "n", "out", "source", "stack", "strict_ampersand", "utf16")

    def __init__(self, source: str, strict_ampersand: bool) -> None:
        self.source = source
        self.n = len(source)
        self.strict_ampersand = strict_ampersand
        self.out: list[str] = []
        self.utf16 = 0
        self.entities: list[JSONDict] = []
        self.stack: list[_OpenTag] = []

    def _error(self, message: str) -> EntityParseError:
        return EntityParseError(message)

    def _emit(self, chunk: str) -> None:
        self.out.append(chunk)
        self.utf16 += utf16_len(chunk)

    def parse(self) -> ParsedText:
        source, n = self.source, self.n
        pos = 0
        while True:
            match = _SPECIAL.search(source, pos)
            end = match.start() if match is not None else n
            if end > pos:
                self._emit(source[pos:end])
            if match is None:
                break
            if source[end] == "&":
                pos = self._char_ref(end)
            elif end + 1 < n and source[end + 1] == "/":
                pos = self._end_tag(end)
            else:
                pos = self._start_tag(end)
        if self.stack:
            raise self._error(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return ParsedText("".join(self.out), self.entities)

    def _char_ref(self, start: int) -> int:
        match = _CHAR_REF.match(self.source, start)
        char = _decode_char_ref(match) if match is not None else None
        if char is None or match is None:
            if self.strict_ampersand:
                snippet = self.source[start : start + 12]
                raise self._error(
                    f'Unescaped "&" at byte offset {_byte_offset(self.source, start)} ("{snippet}"); '
                    "only &lt; &gt; &amp; &quot; and numeric character references are supported"
                )
            self._emit("&")
            return start + 1
        self._emit(char)
        return match.end()

    def _skip_spaces(self, i: int) -> int:
        source, n = self.source, self.n
        while i < n and source[i] in _SPACES:
            i += 1
        return i

    def _start_tag(self, begin: int) -> int:
        source, n = self.source, self.n
        offset = _byte_offset(source, begin)
        i = begin + 1
        while i < n and source[i] not in _SPACES and source[i] != ">":
            i += 1
        if i >= n:
            raise self._error(f"Unclosed start tag at byte offset {offset}")
        tag = source[begin + 1 : i].lower()
        if tag not in _SUPPORTED_TAGS:
            raise self._error(f'Unsupported start tag "{tag}" at byte offset {offset}')

        argument = ""
        while source[i] != ">":
            i = self._skip_spaces(i)
            if i >= n:
                raise self._error(f'Unclosed start tag "{tag}" at byte offset {offset}')
            if source[i] == ">":
                break
            attribute_begin = i
            while i < n and source[i] not in _SPACES and source[i] != "=" and source[i] != ">":
                i += 1
            attribute = source[attribute_begin:i].lower()
            if not attribute:
                raise self._error(f'Empty attribute name in the tag "{tag}" at byte offset {offset}')
            i = self._skip_spaces(i)
            if i >= n:
                raise self._error(f'Unclosed start tag "{tag}" at byte offset {offset}')
            if source[i] != "=":
                if tag == "blockquote" and attribute == "expandable":
                    argument = "expandable"
                    continue
                raise self._error(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" at byte offset {offset}'
                )
            i = self._skip_spaces(i + 1)
            if i >= n:
                raise self._error(f'Unclosed start tag "{tag}" at byte offset {offset}')
            if source[i] not in "'\"":
                # An unquoted name token: letters, digits, periods and hyphens; case-insensitive.
                token_begin = i
                while i < n and source[i] in _NAME_TOKEN_CHARS:
                    i += 1
                value = source[token_begin:i].lower()
                if i < n and source[i] not in _SPACES and source[i] != ">":
                    raise self._error(
                        f"Unexpected end of name token at byte offset {_byte_offset(source, token_begin)}"
                    )
            else:
                quote = source[i]
                i += 1
                chars: list[str] = []
                while i < n and source[i] != quote:
                    if source[i] == "&":
                        match = _CHAR_REF.match(source, i)
                        char = _decode_char_ref(match) if match is not None else None
                        if char is not None and match is not None:
                            chars.append(char)
                            i = match.end()
                            continue
                        if self.strict_ampersand:
                            raise self._error(
                                f'Unescaped "&" in an attribute value at byte offset {_byte_offset(source, i)}'
                            )
                    chars.append(source[i])
                    i += 1
                if i < n:
                    i += 1  # the closing quote
                value = "".join(chars)
            if i >= n:
                raise self._error(f"Unclosed start tag at byte offset {offset}")

            if tag == "a" and attribute == "href":
                argument = value
            elif tag == "code" and attribute == "class" and value.startswith("language-"):
                argument = value[len("language-") :]
            elif tag == "span" and attribute == "class" and value.startswith("tg-"):
                argument = value[len("tg-") :]
            elif tag == "tg-emoji" and attribute == "emoji-id":
                argument = value
            # Other attributes are ignored, as Telegram does.

        if tag == "span" and argument != "spoiler":
            raise self._error(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        self.stack.append(_OpenTag(tag, argument, self.utf16, len(self.out)))
        return i + 1

    def _end_tag(self, begin: int) -> int:
        source, n = self.source, self.n
        offset = _byte_offset(source, begin)
        if not self.stack:
            raise self._error(f"Unexpected end tag at byte offset {offset}")
        i = begin + 2
        while i < n and source[i] not in _SPACES and source[i] != ">":
            i += 1
        end_name = source[begin + 2 : i].lower()
        i = self._skip_spaces(i)
        if i >= n or source[i] != ">":
            raise self._error(f"Unclosed end tag at byte offset {offset}")
        open_tag = self.stack[-1]
        if end_name and end_name != open_tag.name:
            raise self._error(
                f'Unmatched end tag at byte offset {offset}, expected "</{open_tag.name}>", found "</{end_name}>"'
            )
        self.stack.pop()
        self._close(open_tag)
        return i + 1

    def _close(self, tag: _OpenTag) -> None:
        start = tag.utf16_start
        length = self.utf16 - start
        name = tag.name
        if name == "tg-emoji":
            if not tag.argument.isdigit() or int(tag.argument) == 0:
                raise self._error("Invalid custom emoji identifier specified")
            if length > 0:
                self.entities.append(
                    {"type": "custom_emoji", "offset": start, "length": length, "custom_emoji_id": tag.argument}
                )
            return
        if length <= 0:
            return
        simple = _SIMPLE_ENTITY_TYPES.get(name)
        if simple is not None:
            self.entities.append({"type": simple, "offset": start, "length": length})
        elif name == "a":
            url = tag.argument or "".join(self.out[tag.out_index :])
            if url:
                self.entities.append({"type": "text_link", "offset": start, "length": length, "url": url})
        elif name == "code":
            entity: JSONDict = {"type": "code", "offset": start, "length": length}
            if tag.argument:
                entity["language"] = tag.argument  # moved onto an enclosing <pre>, dropped otherwise
            self.entities.append(entity)
        elif name == "pre":
            entity = {"type": "pre", "offset": start, "length": length}
            last = self.entities[-1] if self.entities else None
            if last is not None and last["type"] == "code" and last["offset"] == start and last["length"] == length:
                self.entities.pop()
                if "language" in last:
                    entity["language"] = last["language"]
            self.entities.append(entity)
        elif name == "blockquote":
            kind = "expandable_blockquote" if tag.argument == "expandable" else "blockquote"
            self.entities.append({"type": kind, "offset": start, "length": length})


def parse_html(source: str, *, strict_ampersand: bool = True) -> ParsedText:
    """Parse Telegram HTML; raise `EntityParseError` with Telegram's detail text when it is malformed.

    A broadcast sends one text to many chats: the parse of a recent text is reused (a fresh copy each time, since
    callers may change the entities). Without it the fake server spent about a third of its CPU here, CPU that a
    benchmark's sender on the same machine could not use. Malformed texts raise again each time (not cached)."""
    parsed = _parse_recent(source, strict_ampersand)
    return ParsedText(parsed.text, [dict(entity) for entity in parsed.entities])


@functools.lru_cache(maxsize=256)
def _parse_recent(source: str, strict_ampersand: bool) -> ParsedText:
    parsed = _Parser(source, strict_ampersand).parse()
    for entity in parsed.entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    return parsed


def trim_text(text: str, entities: list[JSONDict]) -> ParsedText:
    """Strip leading and trailing whitespace as Telegram does, moving and clipping the entities."""
    stripped = text.strip()
    if len(stripped) == len(text):
        return ParsedText(text, entities)
    lead = len(text) - len(text.lstrip())  # whitespace is in the BMP: one UTF-16 unit per character
    new_len = utf16_len(stripped)
    moved: list[JSONDict] = []
    for entity in entities:
        begin = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, new_len)
        if end > begin:
            moved.append({**entity, "offset": begin, "length": end - begin})
    return ParsedText(stripped, moved)
