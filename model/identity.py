"""Story identity: what makes one story one row, however it reaches us.

Three keys, tried in this order by storage: the entry's GUID within its feed (`guid_key`), the canonical URL
(`canonical_url`: one story reached through different links), and the text itself (`content_fingerprint`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import unquote_plus, urlsplit, urlunsplit

# Query parameters that only say how a reader arrived (campaigns, ad clicks, newsletters, social shares).
_TRACKING_PREFIXES = ("utm_", "mtm_", "pk_campaign", "pk_kwd", "_hs")
_TRACKING_NAMES = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "twclid", "ttclid",
        "mc_cid", "mc_eid", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id", "_ga", "_gl",
        "at_medium", "at_campaign", "cmpid", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname",
    }
)  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048


def is_tracking_parameter(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str | None) -> str | None:
    """http(s) URL with host lower-cased, default port, fragment and tracking parameters removed.

    Returns None for anything that is not an absolute http(s) URL, or is too long to index.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    # Filter the raw pairs so the remaining ones keep their exact encoding.
    kept = [
        pair
        for pair in parts.query.split("&")
        if pair and not is_tracking_parameter(unquote_plus(pair.split("=", 1)[0]))
    ]
    result = urlunsplit((scheme, host, parts.path or "/", "&".join(kept), ""))
    return result if len(result) <= MAX_URL_LENGTH else None


# Longer feed GUIDs are stored as their SHA-256 (the column is indexed, and indexes limit key length).
MAX_GUID_CHARS = 512


def guid_key(guid: str | None) -> str | None:
    if not guid:
        return None
    return guid if len(guid) <= MAX_GUID_CHARS else "sha256:" + hashlib.sha256(guid.encode()).hexdigest()


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def content_fingerprint(title: str, body: str) -> str:
    def norm(text: str) -> str:
        text = unicodedata.normalize("NFKC", text).casefold()
        return _NON_WORD.sub(" ", text).strip()

    digest = hashlib.sha256()
    digest.update(norm(title).encode())
    digest.update(b"\x00")
    digest.update(norm(body).encode())
    return digest.hexdigest()
