"""RSS 0.9x/1.0/2.0, Atom and JSON Feed documents to `ParsedArticle` values.

XML feeds go through feedparser; JSON Feed (https://jsonfeed.org) is read as JSON. What comes out:

* per entry: title, link (made absolute against the feed's URL), GUID, authors, categories as topics,
  the feed's title as the source, the published (else updated) time in UTC when the feed gives a usable
  one (None otherwise: the caller uses the time it saw the entry), and paragraphs of plain text from the
  full content when the feed carries it, else from the summary;
* `summary_only` marks entries whose text is just a short summary: worth fetching the article page for;
* `entry_hash` fingerprints what the feed said about the entry (not its GUID), so an unchanged entry is
  recognised without refetching its page and a changed one is updated in place.

Encodings: an XML feed's own declaration (or BOM) wins over the HTTP charset, which servers often get
wrong; feedparser falls back further by itself when the declaration is wrong too. A feed that had to be
repaired (feedparser's bozo flag with entries recovered, or a charset contradiction) still ingests and
carries a `warning`; a document that is not a feed, or a feed without entries, raises `FeedError`.

Hostile input: every string of the parsed document is cleaned (model.text) before anything reads it,
so the HTML parser and the checks for empty titles see what will be stored; an entry that still cannot be
converted is skipped and logged, never the feed; any other parser failure (JSON nested too deeply
included) is a `FeedError`, so it fails one poll or one `newsbot ingest` argument with one line.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import feedparser
import lxml.html
from lxml import etree

from ingest.htmltext import html_to_paragraphs, html_to_text, text_to_paragraphs
from model.articles import MAX_FEED_TITLE_CHARS, MAX_LANGUAGE_CHARS, MAX_URL_CHARS, ParsedArticle
from model.text import clean_line, clean_text, clean_url

__all__ = ["FeedEntry", "FeedError", "ParsedFeed", "discover_feed_links", "parse_feed", "sniff"]

log = logging.getLogger(__name__)

# Below this many characters of text, an entry without full content is "only a summary".
SHORT_SUMMARY_CHARS = 600
MAX_TOPICS = 12
# A date this far in the future, or before this year, is a feed bug: treat the entry as undated.
_FUTURE_SLACK = timedelta(days=2)
_EARLIEST_YEAR = 1995
# feedparser reports these for feeds it read correctly anyway.
_HARMLESS_BOZO = ("CharacterEncodingOverride", "NonXMLContentType")

_XML_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_FEED_ROOT = re.compile(rb"<(?:rss|feed|rdf:rdf|channel)[\s>/]", re.IGNORECASE)
_HTML_ROOT = re.compile(rb"<(?:!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE)
# Numeric character references; feedparser's lenient parser crashes on those naming a surrogate or no character.
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/rdf+xml")


class FeedError(ValueError):
    """The document is not a feed we can read, or it has no entries."""


@dataclass(slots=True)
class FeedEntry:
    article: ParsedArticle
    entry_hash: str
    summary_only: bool


# The feed's own metadata goes on its source row: cleaned and cut to the columns on every assignment.
_CLEAN_FEED_FIELDS: dict[str, Callable[[Any], Any]] = {
    "title": lambda value: clean_line(value, MAX_FEED_TITLE_CHARS),
    "site_url": lambda value: clean_url(value, MAX_URL_CHARS),
    "language": lambda value: clean_line(value, MAX_LANGUAGE_CHARS) or None if value else None,
    "warning": lambda value: clean_line(value) or None if value else None,
}


@dataclass(slots=True)
class ParsedFeed:
    kind: str  # feedparser's version ("rss20", "atom10", "rss10", ...) or "json1"/"json11"
    title: str
    site_url: str | None
    language: str | None
    entries: list[FeedEntry] = field(default_factory=list)
    warning: str | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        clean = _CLEAN_FEED_FIELDS.get(name)
        object.__setattr__(self, name, clean(value) if clean is not None else value)


# ------------------------------------------------------------------------------------------ detection


def sniff(data: bytes) -> str:
    """'json-feed', 'feed', 'html' or 'text', from the first bytes of a document."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        try:
            document = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            return "text"
        except RecursionError:
            return "json-feed"  # JSON too deep to read: parse_feed says so
        version = document.get("version", "") if isinstance(document, dict) else ""
        return "json-feed" if isinstance(version, str) and "jsonfeed.org" in version else "text"
    if head.startswith(b"<"):
        if _FEED_ROOT.search(head):
            return "feed"
        if _HTML_ROOT.search(head):
            return "html"
    return "text"


def discover_feed_links(page: bytes, base_url: str) -> list[str]:
    """Feed URLs an HTML page advertises with <link rel="alternate" type="application/rss+xml" ...>."""
    try:
        root = lxml.html.document_fromstring(page)
    except (etree.ParserError, ValueError):
        return []
    found: list[str] = []
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().split(";")[0].strip()
        # An http(s) URL that fits the sources.url column; "http://[oops" and the like are no link.
        url = clean_url(_absolute(link.get("href"), base_url), MAX_URL_CHARS)
        if "alternate" in rel and kind in _FEED_TYPES and url and url not in found:
            found.append(url)
    return found


# ------------------------------------------------------------------------------------------ parsing


def parse_feed(data: bytes, *, url: str, content_type: str | None = None, now: datetime | None = None) -> ParsedFeed:
    """Parse a feed document fetched from `url`. Raises FeedError when it is not a usable feed."""
    now = now or datetime.now(UTC)
    if not data.strip():
        raise FeedError("empty response: the server sent no feed")
    try:
        kind = sniff(data)
        if kind == "json-feed" or (kind == "text" and data.lstrip().startswith(b"{")):
            feed = _parse_json_feed(data, url=url, now=now)
        else:
            feed = _parse_xml_feed(data, url=url, content_type=content_type, now=now, looks_like_html=kind == "html")
    except FeedError:
        raise
    except Exception as exc:  # a parser's bug or limit: this document fails, not the caller
        log.debug("could not parse the feed from %s", url, exc_info=True)
        raise FeedError(f"unreadable feed ({type(exc).__name__}: {_describe(exc)})") from None
    if not feed.entries:
        raise FeedError(f"the feed has no entries ({feed.kind})")
    return feed


def _parse_xml_feed(
    data: bytes, *, url: str, content_type: str | None, now: datetime, looks_like_html: bool
) -> ParsedFeed:
    http_charset = _charset(content_type)
    declared = _declared_encoding(data)
    # The document's own declaration wins; the HTTP charset is used only when the document states none.
    media_type = "application/xml" if declared or not http_charset else f"application/xml; charset={http_charset}"
    # No sanitising or link rewriting inside content: we keep only its text (that saves 60% of the parse time).
    parsed = feedparser.parse(
        _defuse_char_refs(data),
        response_headers={"content-type": media_type, "content-location": url},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    version = parsed.get("version") or ""
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not version:
        if looks_like_html:
            raise FeedError("not a feed: the server sent an HTML page")
        reason = f": {_describe(problem)}" if problem else ""
        raise FeedError(f"not a feed (unrecognised document){reason}")
    warnings = []
    if problem is not None and type(problem).__name__ not in _HARMLESS_BOZO:
        warnings.append(f"malformed feed, repaired by the parser ({_describe(problem)})")
    used = (parsed.get("encoding") or "").lower()
    if http_charset and used and _norm_encoding(http_charset) != _norm_encoding(used):
        warnings.append(f"the server declares charset {http_charset} but the feed is {used}")
    info = _cleaned(parsed.get("feed", {}))
    title = html_to_text(info.get("title", "")) or _host(url)
    base = info.get("link") or url
    feed = ParsedFeed(
        kind=version,
        title=title,
        site_url=_absolute(info.get("link"), url),
        language=str(info.get("language") or "") or None,
    )
    entries = _cleaned(parsed.get("entries", []))
    skipped = _convert_entries(
        feed, entries, lambda raw: _xml_entry(raw, source=feed.title, base=base, feed_url=url, now=now), url
    )
    feed.warning = "; ".join(warnings + skipped) or None
    return feed


def _defuse_char_refs(data: bytes) -> bytes:
    """The document with references to surrogates or to numbers past U+10FFFF written as U+FFFD."""

    def defuse(match: re.Match[bytes]) -> bytes:
        code = int(match[1], 16) if match[1] else int(match[2])
        return b"&#xFFFD;" if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else match[0]

    return _CHAR_REF.sub(defuse, data) if b"&#" in data else data


def _xml_entry(raw: Any, *, source: str, base: str, feed_url: str, now: datetime) -> FeedEntry | None:
    link = _absolute(raw.get("link"), base) or _absolute(raw.get("link"), feed_url)
    contents = [c for c in raw.get("content", []) if (c.get("value") or "").strip()]
    content = max(contents, key=lambda c: len(c.get("value", "")), default=None)
    summary_detail = raw.get("summary_detail") or {}
    summary = raw.get("summary", "")
    if content is not None:
        paragraphs = _paragraphs(content.get("value", ""), content.get("type"))
        # Some feeds put the teaser in content and the article in description: take whichever says more.
        if len(summary) > len(content.get("value", "")):
            summary_paragraphs = _paragraphs(summary, summary_detail.get("type"))
            if _length(summary_paragraphs) > _length(paragraphs):
                paragraphs = summary_paragraphs
    else:
        paragraphs = _paragraphs(summary, summary_detail.get("type"))
    raw_title = raw.get("title", "")
    title = html_to_text(raw_title) if raw.get("title_detail", {}).get("type") == "text/html" else _one_line(raw_title)
    authors = _xml_authors(raw)
    topics = _topics(tag.get("label") or tag.get("term") or "" for tag in raw.get("tags", []))
    # dict.get: feedparser's own get() maps a missing "published" to "updated" with a DeprecationWarning.
    published = _struct_time(dict.get(raw, "published_parsed"), now) or _struct_time(
        dict.get(raw, "updated_parsed"), now
    )
    guid = _one_line(raw.get("id", "")) or None
    hashed = [raw.get("title", ""), raw.get("link", ""), summary, content.get("value", "") if content else "",
              dict.get(raw, "published", ""), dict.get(raw, "updated", ""), authors, topics]  # fmt: skip
    return _entry(
        title=title, paragraphs=paragraphs, link=link, guid=guid, authors=authors, topics=topics,
        published=published, source=source, full_content=content is not None, hashed=hashed,
    )  # fmt: skip


def _xml_authors(raw: Any) -> list[str]:
    names = [_one_line(a.get("name", "")) for a in raw.get("authors", []) if isinstance(a, dict)]
    if not any(names) and raw.get("author"):
        names = [_one_line(raw.get("author_detail", {}).get("name") or raw.get("author", ""))]
    return _unique(name for name in names if name and "@" not in name)


def _parse_json_feed(data: bytes, *, url: str, now: datetime) -> ParsedFeed:
    try:
        document = _cleaned(json.loads(data.decode("utf-8-sig")))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FeedError(f"not a feed: invalid JSON ({_describe(exc)})") from None
    except RecursionError:  # json.loads recurses once per level of nesting
        raise FeedError("not a feed: JSON nested too deeply") from None
    version = document.get("version", "") if isinstance(document, dict) else ""
    if not isinstance(version, str) or "jsonfeed.org/version/" not in version:
        raise FeedError("not a feed: JSON without a JSON Feed version")
    kind = "json" + version.rstrip("/").rsplit("/", 1)[-1].replace(".", "")
    title = _one_line(_scalar(document.get("title"))) or _host(url)
    home = document.get("home_page_url") if isinstance(document.get("home_page_url"), str) else None
    language = document.get("language") if isinstance(document.get("language"), str) else None
    feed = ParsedFeed(kind=kind, title=title, site_url=_absolute(home, url), language=language)
    feed_authors = _json_authors(document)
    items = document.get("items")
    items = [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    base = home or url

    def convert(item: dict[str, Any]) -> FeedEntry | None:
        return _json_entry(item, source=feed.title, base=base, feed_url=url, feed_authors=feed_authors, now=now)

    skipped = _convert_entries(feed, items, convert, url)
    feed.warning = "; ".join(skipped) or None
    return feed


def _json_entry(
    item: dict[str, Any], *, source: str, base: str, feed_url: str, feed_authors: list[str], now: datetime
) -> FeedEntry | None:
    def text(key: str) -> str:
        value = item.get(key)
        return value if isinstance(value, str) else ""

    link = _absolute(text("url") or text("external_url"), base) or _absolute(text("url"), feed_url)
    content_html, content_text, summary = text("content_html"), text("content_text"), text("summary")
    if content_html.strip():
        paragraphs = html_to_paragraphs(content_html)
    elif content_text.strip():
        paragraphs = text_to_paragraphs(content_text)
    else:
        paragraphs = text_to_paragraphs(summary)
    full = bool(content_html.strip() or content_text.strip()) and _length(paragraphs) > _length(
        text_to_paragraphs(summary)
    )
    tags = item.get("tags")
    topics = _topics(t for t in (tags if isinstance(tags, list) else []) if isinstance(t, str))
    published = _iso_date(text("date_published"), now) or _iso_date(text("date_modified"), now)
    guid = _one_line(_scalar(item.get("id"))) or None
    authors = _json_authors(item) or feed_authors
    hashed = [text("title"), text("url"), summary, content_html, content_text, text("date_published"),
              text("date_modified"), authors, topics]  # fmt: skip
    return _entry(
        title=_one_line(text("title")), paragraphs=paragraphs, link=link, guid=guid, authors=authors,
        topics=topics, published=published, source=source, full_content=full, hashed=hashed,
    )  # fmt: skip


def _json_authors(node: dict[str, Any]) -> list[str]:
    people = node.get("authors")
    if not isinstance(people, list):
        single = node.get("author")  # JSON Feed 1.0
        people = [single] if isinstance(single, dict) else []
    return _unique(_one_line(p["name"]) for p in people if isinstance(p, dict) and isinstance(p.get("name"), str))


def _entry(
    *,
    title: str,
    paragraphs: list[str],
    link: str | None,
    guid: str | None,
    authors: list[str],
    topics: list[str],
    published: datetime | None,
    source: str,
    full_content: bool,
    hashed: list[Any],
) -> FeedEntry | None:
    if not title:
        if not paragraphs:
            return None  # nothing to show at all
        title = _headline_from(paragraphs[0])
    article = ParsedArticle(
        title=title,
        paragraphs=paragraphs,
        source=source or None,
        authors=authors,
        url=link,
        published_at=published,
        topics=topics,
        guid=guid,
    )
    summary_only = not full_content and _length(paragraphs) < SHORT_SUMMARY_CHARS and bool(link)
    digest = hashlib.sha256(json.dumps(hashed, ensure_ascii=False, default=str).encode()).hexdigest()
    return FeedEntry(article=article, entry_hash=digest, summary_only=summary_only)


def _convert_entries(
    feed: ParsedFeed, raws: list[Any], convert: Callable[[Any], FeedEntry | None], url: str
) -> list[str]:
    """Append each raw entry's FeedEntry to the feed; one that fails to convert is logged and skipped.

    Returns the warning to show on the source when some were skipped (else an empty list)."""
    failures = 0
    for raw in raws:
        try:
            entry = convert(raw)
        except Exception as exc:  # one hostile or unforeseen entry must not cost the feed its other entries
            failures += 1
            log.warning("feed %s: skipped entry %s: %s: %s", url, _entry_label(raw), type(exc).__name__, _describe(exc))
            log.debug("feed %s: the entry that failed", url, exc_info=True)
            continue
        if entry is not None:
            feed.entries.append(entry)
    if not failures:
        return []
    return [f"skipped {failures} entr{'y' if failures == 1 else 'ies'} that could not be read"]


def _entry_label(raw: Any) -> str:
    """The entry's id or link, for the log."""
    for key in ("id", "link", "url"):
        value = dict.get(raw, key) if isinstance(raw, dict) else None
        if isinstance(value, str) and value.strip():
            return repr(clean_line(value, 200))
    return "without id or link"


def _cleaned(tree: Any) -> Any:
    """The parsed document with every string in it cleaned (in place for dicts and lists; iterative, so depth is
    no problem). Keys are left alone: only values reach articles."""
    if isinstance(tree, str):
        return clean_text(tree)
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            pairs = list(dict.items(node))
        elif isinstance(node, list):
            pairs = list(enumerate(node))
        else:
            continue
        for key, value in pairs:
            if isinstance(value, str):
                cleaned = clean_text(value)
                if cleaned is not value:
                    if isinstance(node, dict):
                        dict.__setitem__(node, key, cleaned)
                    else:
                        node[key] = cleaned
            elif isinstance(value, (dict, list)):
                stack.append(value)
    return tree


# ------------------------------------------------------------------------------------------ small helpers


def _paragraphs(value: str, media_type: str | None) -> list[str]:
    if media_type == "text/plain":
        return text_to_paragraphs(value)
    return html_to_paragraphs(value)


def _scalar(value: Any) -> str:
    """A string or a number as text (feeds put numbers where the spec says strings); anything else is ""."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    return value if isinstance(value, str) else str(value)


def _length(paragraphs: list[str]) -> int:
    return sum(len(p) for p in paragraphs)


def _one_line(value: str) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _headline_from(paragraph: str, limit: int = 90) -> str:
    if len(paragraph) <= limit:
        return paragraph
    cut = paragraph[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:-") + "…"


def _topics(values: Any) -> list[str]:
    return _unique(_one_line(html_to_text(v)) for v in values)[:MAX_TOPICS]


def _unique(values: Any) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        if value and value.casefold() not in seen:
            seen[value.casefold()] = value
    return list(seen.values())


def _absolute(link: Any, base: str) -> str | None:
    if not isinstance(link, str) or not link.strip():
        return None
    try:
        url = urljoin(base, link.strip())
    except ValueError:  # "http://[oops": not a URL at all
        return None
    return url if url.startswith(("http://", "https://")) else None


def _host(url: str) -> str:
    return re.sub(r"^[a-z]+://", "", url).split("/")[0] or url


def _sane(when: datetime, now: datetime) -> datetime | None:
    if when.year < _EARLIEST_YEAR or when > now + _FUTURE_SLACK:
        return None
    return when


def _struct_time(value: Any, now: datetime) -> datetime | None:
    """feedparser's parsed dates are UTC struct_time values."""
    if not value:
        return None
    try:
        return _sane(datetime(*value[:6]).replace(tzinfo=UTC), now)
    except (TypeError, ValueError):
        return None


def _iso_date(value: str, now: datetime) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return _sane(when.astimezone(UTC), now)
    except OverflowError:  # year 9999 west of UTC, year 1 east of it
        return None


def _charset(content_type: str | None) -> str | None:
    match = _CHARSET.search(content_type or "")
    return match.group(1) if match else None


def _declared_encoding(data: bytes) -> str | None:
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return "bom"
    match = _XML_DECLARATION.match(data[:200])
    return match.group(1).decode("ascii") if match else None


def _norm_encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name.lower()


def _describe(problem: BaseException | None) -> str:
    if problem is None:
        return "unknown problem"
    return clean_line(str(problem), 200) or type(problem).__name__
