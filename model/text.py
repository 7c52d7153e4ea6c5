"""Text that is always storable and renderable, whatever a feed, a page or a file held.

Every string ingest hands to storage goes through here (see model.articles.ParsedArticle):

* lone surrogates (a JSON ``"\\ud83d"`` escape, a file name or stdin read with surrogateescape) become
  U+FFFD; a well-formed surrogate pair becomes the character it encodes. Neither the database drivers nor
  Telegram accept text that cannot be encoded as UTF-8.
* control characters (Unicode category Cc: C0, DEL, C1) other than newline and tab are removed: PostgreSQL
  refuses NUL in text, and the others cannot be shown. Those that separate lines or words are replaced
  instead of removed, so two words never run together: CR, CRLF, VT, FF, the file/group/record separators
  and NEL become a newline, the unit separator a space.
* U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR become a newline too. They are valid text, but they
  are line breaks that `str.splitlines` and Telegram clients honour while our paragraph splitting on "\\n"
  does not; one kind of line break keeps titles on one line and paragraphs where the publisher put them.

Everything else is kept as it is, so clean text comes out unchanged (and keeps its content fingerprint).
"""

from __future__ import annotations

import re

__all__ = ["clean_line", "clean_text", "clean_url"]

_SURROGATE = re.compile("[\ud800-\udfff]")
# Exactly the line boundaries of str.splitlines, besides "\n" itself.
_LINE_BREAK = re.compile("\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_UNIT_SEPARATOR = "\x1f"
# Every other Cc character but tab and newline.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
# One search decides whether there is anything to do: most text is clean, and stays the same object.
_DIRTY = re.compile("[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def clean_text(text: str) -> str:
    """The text with lone surrogates replaced and control characters other than \\n and \\t removed."""
    if not _DIRTY.search(text):
        return text
    if _SURROGATE.search(text):
        # Through UTF-16: a pair is joined into its character, a lone half becomes U+FFFD.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    text = _LINE_BREAK.sub("\n", text).replace(_UNIT_SEPARATOR, " ")
    return _CONTROL.sub("", text)


def clean_line(text: str, limit: int | None = None) -> str:
    """Clean text on one line: whitespace runs (newlines included) collapsed to a space, at most `limit` chars."""
    line = " ".join(clean_text(text).split())
    if limit is not None and len(line) > limit:
        line = line[:limit].rstrip()
    return line


def clean_url(url: str | None, limit: int) -> str | None:
    """A cleaned URL, or None when there is none or it is longer than `limit` (a cut URL would lead elsewhere)."""
    if not url:
        return None
    cleaned = clean_text(url).strip()
    return cleaned if cleaned and len(cleaned) <= limit else None
