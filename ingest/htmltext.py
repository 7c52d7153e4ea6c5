"""Feed HTML to plain text paragraphs. What we store is plain text; the renderers escape it for Telegram.

Block elements (p, div, li, headings, blockquote, ...) and <br> end a paragraph; scripts, styles, embedded
frames, forms and navigation are dropped with everything inside them; entities are decoded; whitespace
(including no-break and other Unicode spaces) is collapsed; invisible characters are removed.
"""

from __future__ import annotations

import re
import unicodedata

import lxml.html
from lxml import etree

__all__ = ["html_to_paragraphs", "html_to_text", "text_to_paragraphs"]

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "br", "caption", "center", "dd", "details", "div",
        "dl", "dt", "figcaption", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
        "main", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_SKIPPED_TAGS = frozenset(
    {
        "audio", "button", "canvas", "embed", "figure", "form", "head", "iframe", "input", "map", "nav", "noscript",
        "object", "script", "select", "style", "svg", "template", "textarea", "video",
    }
)  # fmt: skip
# (figure: images with their captions and photo credits are not article text.)
# Zero-width space, word joiner, BOM, soft hyphen, Mongolian vowel separator; ZWJ/ZWNJ are kept (scripts need them).
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u00ad\u180e]")
# Control characters other than tab and newline cannot be shown and break XML-based tooling later.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# WordPress and similar platforms append these to every feed item; they are not part of the story.
_BOILERPLATE = re.compile(
    r"^(?:the post .{1,300} appeared first on .{1,200}|continue reading.{0,200}|read more.{0,80}|\[(?:…|\.\.\.)\])$",
    re.IGNORECASE,
)
_BLANK_LINES = re.compile(r"\n\s*\n")


def _clean(text: str) -> str:
    text = _CONTROL.sub(" ", _INVISIBLE.sub("", unicodedata.normalize("NFC", text)))
    return " ".join(text.split())


def _keep(paragraph: str) -> bool:
    return bool(paragraph) and not _BOILERPLATE.match(paragraph)


def text_to_paragraphs(text: str) -> list[str]:
    """Plain text: paragraphs are separated by blank lines (each line is one when there is no blank line)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = _BLANK_LINES.split(text) if _BLANK_LINES.search(text) else text.split("\n")
    return [p for p in (_clean(block) for block in blocks) if _keep(p)]


def html_to_paragraphs(markup: str) -> list[str]:
    """Paragraphs of visible text in an HTML fragment or document."""
    if not markup or not markup.strip():
        return []
    if "<" not in markup and "&" not in markup:
        return text_to_paragraphs(markup)
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return text_to_paragraphs(markup)
    paragraphs: list[list[str]] = [[]]

    def paragraph_break() -> None:
        if paragraphs[-1]:
            paragraphs.append([])

    def walk(element: etree._Element) -> None:
        tag = element.tag.lower() if isinstance(element.tag, str) else None  # None: comment or processing instruction
        if tag is not None and tag not in _SKIPPED_TAGS:
            block = tag in _BLOCK_TAGS
            if block:
                paragraph_break()
            if element.text:
                paragraphs[-1].append(element.text)
            for child in element:
                walk(child)
            if block:
                paragraph_break()
        if element.tail:
            paragraphs[-1].append(element.tail)

    walk(root)
    return [p for p in (_clean(" ".join(parts)) for parts in paragraphs) if _keep(p)]


def html_to_text(markup: str) -> str:
    """One line of text (titles, names): tags removed, entities decoded, whitespace collapsed."""
    return " ".join(html_to_paragraphs(markup)) if markup else ""
