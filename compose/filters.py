"""/filter: a chat's keyword filter and the replies to changing it."""

from __future__ import annotations

from collections.abc import Sequence

from compose.html import escape
from compose.i18n import N_, translate_known
from compose.i18n import gettext as _
from compose.text import truncate
from model.terms import Term

# Why a term or a filter change is refused, as model.terms and services.preferences say it (in English).
TERM_REASONS = (
    N_("empty term"),
    N_("a term is at most {most} characters"),
    N_("unbalanced quote"),
    N_('a phrase ends at its closing quote ("…" or "…"*)'),
    N_("* only at the end of a word or phrase"),
    N_("a term needs letters or digits"),
    N_("no term given"),
    N_("a filter holds at most {most} terms"),
)


def reason_text(reason: str) -> str:
    """A refusal's reason (plain text) in the current language."""
    return translate_known(reason, TERM_REASONS)


def filter_help() -> str:
    return _(
        '/filter +word, /filter -word, /filter +"central bank", /filter sanction* (any word starting so) add a term; '
        "/filter remove &lt;term&gt; removes one; /filter clear empties the filter."
    )


def filter_cleared() -> str:
    return _("✅ Keyword filter cleared: you read every article of your sources and topics.")


def _terms(terms: Sequence[Term]) -> str:
    return ", ".join(f"<code>{escape(truncate(t.display().lstrip('-'), 110))}</code>" for t in terms)


def render_filter(terms: Sequence[Term]) -> str:
    include = [t for t in terms if not t.exclude]
    exclude = [t for t in terms if t.exclude]
    if not terms:
        return (
            _("<b>Keyword filter</b>")
            + "\n"
            + _("None: you read every article of your sources and topics.")
            + "\n\n"
            + filter_help()
        )
    lines = [_("<b>Keyword filter</b>")]
    if include:
        lines.append(_("Articles with any of: {terms}").format(terms=_terms(include)))
    if exclude:
        lines.append(_("Never articles with: {terms}").format(terms=_terms(exclude)))
    lines += [
        "",
        _("Words match whole words in the title and text, in any case and with or without accents."),
        filter_help(),
    ]
    return "\n".join(lines)


def filter_changed_text(terms: Sequence[Term]) -> str:
    return _("✅ Filter updated.") + "\n\n" + render_filter(terms)


def filter_error_text(reason: str) -> str:
    reason = escape(truncate(reason_text(reason), 200))
    return _("❌ {reason}. Nothing changed.").format(reason=reason) + "\n\n" + filter_help()


def filter_too_long_text() -> str:
    return filter_error_text(_("that is too long"))


def no_such_term_text(written: str) -> str:
    return _("Your filter has no term “{term}”. /filter shows it.").format(term=escape(truncate(written, 110)))
