"""Telegram-flavoured HTML: escaping, visible length, and splitting into messages that fit.

Telegram's HTML parse mode knows a handful of tags (b, i, u, s, a href, code, pre, blockquote,
tg-spoiler, ...) and the entities &lt; &gt; &amp; &quot; plus numeric ones. Its length limit (4096 for a
message) applies to the text *after* tags are removed and entities decoded; we count it in UTF-16 code
units, which is never less than what Telegram counts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import NamedTuple

from compose.text import char_width, scrub, utf16_len

MESSAGE_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64  # bytes, UTF-8

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

# A tag (attribute values may be quoted and hold '>') or one of the entities Telegram understands.
# Anything else ('<' not starting a tag, '&' not starting a known entity) is literal text.
_TOKEN = re.compile(
    r"""<(?P<close>/?)(?P<name>[A-Za-z][A-Za-z0-9-]*)(?P<attrs>(?:[^<>"']|"[^"]*"|'[^']*')*)>"""
    r"""|&(?P<entity>lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});"""
)

_ZWJ = "\u200d"


def escape(text: str, *, quote: bool = False) -> str:
    """Escape text for Telegram HTML: & < > always, and " too with quote=True (for attribute values).

    Stray surrogate code points, which can't be sent at all, become U+FFFD.
    """
    text = scrub(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quote:
        text = text.replace('"', "&quot;")
    return text


def _decode_entity(name: str) -> str:
    if name in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[name]
    code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return chr(code)


def _visible_sub(match: re.Match[str]) -> str:
    entity = match.group("entity")
    return _decode_entity(entity) if entity else ""


def visible_text(html: str) -> str:
    """The text a user sees: tags removed, entities decoded."""
    return _TOKEN.sub(_visible_sub, html)


def visible_length(html: str) -> int:
    """UTF-16 length of `visible_text(html)`."""
    return utf16_len(visible_text(html))


# --- cutting one oversized block ----------------------------------------------------------------------


class _Tag(NamedTuple):
    start: int  # offset of the tag in the block's HTML
    end: int
    closing: bool
    name: str  # lower case
    raw: str


class _Block:
    """A block's visible text, where each visible character sits in the HTML, and its tags."""

    def __init__(self, html: str) -> None:
        self.html = html
        chars: list[str] = []
        offsets: list[int] = []  # offsets[i]: where visible character i starts in `html`
        self.tags: list[_Tag] = []
        pos = 0
        for match in _TOKEN.finditer(html):
            if match.start() > pos:
                chars.append(html[pos : match.start()])
                offsets.extend(range(pos, match.start()))
            entity = match.group("entity")
            if entity:
                chars.append(_decode_entity(entity))
                offsets.append(match.start())
            else:
                name = match.group("name").lower()
                self.tags.append(_Tag(match.start(), match.end(), bool(match.group("close")), name, match.group(0)))
            pos = match.end()
        if pos < len(html):
            chars.append(html[pos:])
            offsets.extend(range(pos, len(html)))
        self.text = "".join(chars)
        offsets.append(len(html))  # "just past the last character": the end of the block
        self.offsets = offsets


_SPACES = re.compile(r"\s*")
_CONTENT = re.compile(r"\S")
_BREAKABLE = r"[^\S\u00a0\u2007\u202f]"  # whitespace other than the no-break spaces
_LAST_BREAK = re.compile(rf".*{_BREAKABLE}", re.DOTALL)
_SENTENCE_BREAK = re.compile(rf"[.!?…][\"')\]}}»”’›]*(?={_BREAKABLE})|[。！？]")
_NEXT_CONTENT = re.compile(r"\s*(\S)")


def _fit(text: str, start: int, budget: int) -> tuple[int, int]:
    """The largest `end` with utf16_len(text[start:end]) <= budget, and that length."""
    end = min(len(text), start + budget)
    width = utf16_len(text[start:end])
    while width > budget:  # each character is 1 or 2 units: dropping `excess` characters is enough
        end -= width - budget
        width = utf16_len(text[start:end])
    while end < len(text) and width + char_width(text[end]) <= budget:
        width += char_width(text[end])
        end += 1
    return end, width


def _joins_previous(char: str) -> bool:
    """Characters that belong to the grapheme before them: combining marks, ZWJ, variation selectors..."""
    code = ord(char)
    return (
        char == _ZWJ
        or unicodedata.category(char) in ("Mn", "Me", "Mc")
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag characters (subdivision flags)
    )


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _splits_grapheme(text: str, k: int) -> bool:
    """Would cutting between text[k - 1] and text[k] break one user-perceived character apart?"""
    before, after = text[k - 1], text[k]
    if before == _ZWJ or _joins_previous(after):
        return True
    if _is_regional_indicator(before) and _is_regional_indicator(after):
        run = 0  # flags are pairs of indicators: cutting after an odd number of them splits one
        while k - 1 - run >= 0 and _is_regional_indicator(text[k - 1 - run]):
            run += 1
        return run % 2 == 1
    return False


def _choose_cut(text: str, start: int, end: int, width: int, budget: int) -> int:
    """Pick k in (start, end] to end a part at; text[start:end] (`width` units) fits the budget.

    Preference: the last sentence end that fills at least half the budget, then the last breakable
    space, then a hard cut at `end` (moved back a little rather than split a grapheme).
    """
    content = _CONTENT.search(text, start, end)
    if content is None:
        return end  # nothing but whitespace: an empty part, dropped by the caller
    first = content.start()
    min_fill = budget // 2
    for match in reversed(list(_SENTENCE_BREAK.finditer(text, first, end + 1))):
        k = match.end()
        if k > end:
            continue
        if width - utf16_len(text[k:end]) < min_fill:
            break
        following = _NEXT_CONTENT.match(text, k)
        if following is None or not following.group(1).islower():
            return k
    space = _LAST_BREAK.match(text, first + 1, end + 1)
    if space is not None:
        return space.end() - 1
    k = end
    while k > first + 1 and _splits_grapheme(text, k):
        k -= 1
    return end if _splits_grapheme(text, k) else k  # one enormous grapheme: cut it anyway


_OPEN_TAG, _CLOSE_TAG, _TEXT_RUN = 0, 1, 2


def _tidy(html: str) -> str:
    """Strip outer whitespace and drop elements left with nothing inside; "" when no text is left."""
    tokens: list[tuple[int, str, str]] = []  # (kind, raw, visible)
    pos = 0
    for match in _TOKEN.finditer(html):
        if match.start() > pos:
            tokens.append((_TEXT_RUN, html[pos : match.start()], html[pos : match.start()]))
        entity = match.group("entity")
        if entity:
            tokens.append((_TEXT_RUN, match.group(0), _decode_entity(entity)))
        else:
            tokens.append((_CLOSE_TAG if match.group("close") else _OPEN_TAG, match.group(0), ""))
        pos = match.end()
    if pos < len(html):
        tokens.append((_TEXT_RUN, html[pos:], html[pos:]))
    content = [i for i, (kind, _, shown) in enumerate(tokens) if kind == _TEXT_RUN and shown.strip()]
    if not content:
        return ""
    first, last = content[0], content[-1]
    out: list[str] = []
    open_at: list[int] = []
    for i, (kind, raw, shown) in enumerate(tokens):
        if kind == _TEXT_RUN:
            if i < first or i > last:
                continue
            if raw == shown:  # a literal run (entities are tokens of their own)
                raw = raw.lstrip() if i == first else raw
                raw = raw.rstrip() if i == last else raw
            out.append(raw)
        elif kind == _OPEN_TAG:
            open_at.append(len(out))
            out.append(raw)
        else:
            if open_at:
                at = open_at.pop()
                if len(out) == at + 1:  # nothing inside: drop the pair
                    out.pop()
                    continue
            out.append(raw)
    return "".join(out)


def _apply(stack: list[_Tag], tag: _Tag) -> None:
    """Track which tags are open. A stray closing tag with no matching opener is ignored."""
    if not tag.closing:
        stack.append(tag)
        return
    for depth in range(len(stack) - 1, -1, -1):
        if stack[depth].name == tag.name:
            del stack[depth:]
            return


def _split_block(html: str, first_budget: int, budget: int) -> list[str]:
    """Cut one HTML fragment into balanced parts: the first fits `first_budget`, the others `budget`.

    Tags between two visible characters go with the part before the cut; an opening tag left empty
    there is dropped by `_tidy` and, still being open, is reopened at the start of the next part.
    """
    block = _Block(html)
    text, offsets, tags = block.text, block.offsets, block.tags
    parts: list[str] = []
    stack: list[_Tag] = []  # tags open at `raw_start`
    next_tag = 0
    start, raw_start = 0, 0
    while raw_start < len(html):
        skipped = _SPACES.match(text, start)  # leading whitespace would be trimmed anyway
        start = skipped.end() if skipped else start
        if start == len(text):
            break  # only whitespace and tags left
        limit = budget if parts else first_budget
        end, width = _fit(text, start, limit)
        cut = len(text) if end == len(text) else _choose_cut(text, start, end, width, limit)
        raw_cut = offsets[cut]
        opened = [tag.raw for tag in stack]
        while next_tag < len(tags) and tags[next_tag].start < raw_cut:
            _apply(stack, tags[next_tag])
            next_tag += 1
        closers = [f"</{tag.name}>" for tag in reversed(stack)]
        part = _tidy("".join([*opened, html[raw_start:raw_cut], *closers]))
        if part:
            parts.append(part)
        start, raw_start = cut, raw_cut
    return parts


def split_message(blocks: Iterable[str], limit: int = MESSAGE_LIMIT, separator: str = "\n\n") -> list[str]:
    """Pack balanced HTML blocks into as few messages as possible, each at most `limit` visible units.

    Whole blocks are joined with `separator`. A block too long for a message of its own is cut at
    sentence ends, else at spaces, else anywhere between characters (never inside a tag or an entity);
    tags open at a cut are closed before it and reopened, with the same attributes, after it. Its first
    part fills the message being built when at least a quarter of the room is left. Blocks with no
    visible non-space text are skipped, so no message is ever empty; no blocks at all gives [].
    """
    if limit < 2:
        raise ValueError("limit must be at least 2 (one astral character)")
    separator_length = visible_length(separator)
    messages: list[str] = []
    current: list[str] = []
    current_length = 0

    def flush() -> None:
        nonlocal current, current_length
        if current:
            messages.append(separator.join(current))
        current, current_length = [], 0

    for block in blocks:
        shown = visible_text(block)
        if not shown.strip():
            continue
        length = utf16_len(shown)
        joined = current_length + separator_length + length if current else length
        if joined <= limit:
            current.append(block)
            current_length = joined
            continue
        if length <= limit:
            flush()
            current, current_length = [block], length
            continue
        room = limit - current_length - separator_length
        fill = bool(current) and room >= max(limit // 4, 2)
        if not fill:
            flush()
        for index, part in enumerate(_split_block(block, room if fill else limit, limit)):
            part_length = visible_length(part)
            if index == 0 and fill:
                current.append(part)
                current_length += separator_length + part_length
            else:
                flush()
                current, current_length = [part], part_length
    flush()
    return messages
