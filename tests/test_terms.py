"""Search terms (model.terms): folding, tokens, parsing with its refusals, and matching articles in any script,
linear in the text whatever a user types."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.terms import MAX_TERM_CHARS, MatchText, Term, TermError, fold, parse_term, parse_terms, passes, tokens


def matches(term: str, *parts: str) -> bool:
    return MatchText.of(*parts).contains(parse_term(term))


# ---------------------------------------------------------------------------- folding and tokens


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Café", "cafe"),
        ("NAÏVE Résumé", "naive resume"),
        ("Straße", "strasse"),
        ("ΑΘΗΝΑ Αθήνα", "αθηνα αθηνα"),
        ("Ёлка МОСКВА", "елка москва"),
        ("ＴＯＫＹＯ ２０２６", "tokyo 2026"),
        ("ﬁnance", "finance"),
        ("İstanbul", "istanbul"),
    ],
)
def test_fold_drops_case_accents_and_compatibility_forms(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_keeps_the_marks_that_make_letters() -> None:
    assert fold("नमस्ते") == "नमस्ते"  # the virama is part of the word
    assert fold("が") != fold("か")  # a voiced kana is another sound


def test_tokens_are_words_of_any_script_and_single_cjk_characters() -> None:
    assert tokens("Central-Bank's rate: 4.5%, (Café)") == ["central", "bank", "s", "rate", "4", "5", "cafe"]
    assert tokens("Путин и Зеленский") == ["путин", "и", "зеленскии"]
    assert tokens("東京都のガス、서울 시") == ["東", "京", "都", "の", "ガ", "ス", "서", "울", "시"]
    assert tokens("snake_case under_score") == ["snake", "case", "under", "score"]
    assert tokens("…—!?") == []


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "term", "display"),
    [
        ("Sanction", Term(("sanction",), prefix=False, exclude=False), "sanction"),
        ("+sanction*", Term(("sanction",), prefix=True, exclude=False), "sanction*"),
        ("-Sport", Term(("sport",), prefix=False, exclude=True), "-sport"),
        ('"Central  Bank"', Term(("central", "bank"), prefix=False, exclude=False), '"central bank"'),
        ('-"central bank"', Term(("central", "bank"), prefix=False, exclude=True), '-"central bank"'),
        ('"central ban*"', Term(("central", "ban"), prefix=True, exclude=False), '"central ban*"'),
        ('"central ban"*', Term(("central", "ban"), prefix=True, exclude=False), '"central ban*"'),
        ("central-bank", Term(("central", "bank"), prefix=False, exclude=False), '"central bank"'),
        ('"Bank"', Term(("bank",), prefix=False, exclude=False), "bank"),
        ("東京", Term(("東", "京"), prefix=False, exclude=False), '"東京"'),
        ("Café", Term(("cafe",), prefix=False, exclude=False), "cafe"),
    ],
)
def test_parse_term_and_its_canonical_form(text: str, term: Term, display: str) -> None:
    assert parse_term(text) == term
    assert term.display() == display
    assert parse_term(display) == term


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty term"),
        ("   ", "empty term"),
        ("-", "a term needs letters or digits"),
        ("...!?", "a term needs letters or digits"),
        ('"—"', "a term needs letters or digits"),
        ("*", "a term needs letters or digits"),
        ("a" * (MAX_TERM_CHARS + 1), f"a term is at most {MAX_TERM_CHARS} characters"),
        ("sanc*tion", "* only at the end of a word or phrase"),
        ("*sanction", "* only at the end of a word or phrase"),
        ("sanction**", "* only at the end of a word or phrase"),
        ('"central bank', "unbalanced quote"),
        ('central"bank', "unbalanced quote"),
        ('"', "unbalanced quote"),
        ('"central bank"s', 'a phrase ends at its closing quote ("…" or "…"*)'),
    ],
)
def test_parse_term_refuses_with_a_short_reason(text: str, reason: str) -> None:
    with pytest.raises(TermError) as raised:
        parse_term(text)
    assert str(raised.value) == reason


def test_a_term_at_the_limit_is_taken() -> None:
    assert parse_term("a" * MAX_TERM_CHARS).words == ("a" * MAX_TERM_CHARS,)


def test_parse_terms_groups_quotes_and_keeps_each_term_once() -> None:
    assert [term.display() for term in parse_terms('+"central bank" -sport  sanction* Sport -SPORT')] == [
        '"central bank"',
        "-sport",
        "sanction*",
        "sport",
    ]
    assert parse_terms("   ") == []
    with pytest.raises(TermError, match="unbalanced quote") as raised:
        parse_terms('rates "central bank')
    assert raised.value.term == '"central bank'
    with pytest.raises(TermError, match="letters or digits") as raised:
        parse_terms("rates ??? bank")
    assert raised.value.term == "???"


@given(st.text(max_size=40))
def test_every_parsed_term_reads_back_from_its_display(text: str) -> None:
    try:
        term = parse_term(text)
    except TermError:
        return
    assert parse_term(term.display()) == term
    assert len(term.display()) <= MAX_TERM_CHARS


# ---------------------------------------------------------------------------- matching


def test_words_match_whole_words_only() -> None:
    assert matches("bank", "The bank raised rates")
    assert not matches("bank", "Banking news")
    assert not matches("ban", "The bank raised rates")
    assert matches("cafe", "Café owners protest")
    assert matches("CAFÉ", "a cafe in Paris")


def test_other_scripts() -> None:
    assert matches("москва", "Новости: МОСКВА сегодня")
    assert matches("Ёлка", "ёлка на площади")
    assert matches("αθηνα", "Σεισμός στην Αθήνα")
    assert matches('"東京"', "東京都の知事")
    assert not matches('"東京"', "京東の会社")
    assert matches("서울", "서울 시장 선거")
    assert matches("नमस्ते", "सबको नमस्ते!")


def test_phrases_are_consecutive_words_across_punctuation_but_not_across_parts() -> None:
    assert matches('"central bank"', "The Central-Bank's decision")
    assert matches('"central bank"', "central, bank")
    assert not matches('"central bank"', "a central role for the bank")
    assert not matches('"central bank"', "Rates rise at the central", "Bank holiday ahead")
    assert matches('"rates rise"', "Title", "Rates rise again")
    assert matches('"a b a b c"', "a b a b a b c")  # the phrase starts after a partial match


def test_prefixes() -> None:
    assert matches("sanction*", "New SANCTIONS announced")
    assert matches("sanction*", "a sanction")
    assert not matches("sanction*", "sanctuary city")
    assert matches("санкци*", "Новые санкции")
    assert matches('"central ban*"', "central banks meet")
    assert not matches('"central ban*"', "central", "banks meet")
    assert not matches('"central ban*"', "banks central")


def test_passes_needs_one_include_and_no_exclude() -> None:
    text = MatchText.of("Sanctions on oil", "The central bank met on Monday")
    assert passes(parse_terms("sanction* football"), text)
    assert not passes(parse_terms("football tennis"), text)
    assert not passes(parse_terms('sanction* -"central bank"'), text)
    assert passes(parse_terms("-football"), text)
    assert not passes(parse_terms("-oil"), text)
    assert passes([], text)


def test_contains_ignores_exclude() -> None:
    text = MatchText.of("sport results")
    assert text.contains(parse_term("-sport"))


def test_a_hostile_term_against_a_hostile_text_is_answered() -> None:
    # 49-word phrases of one repeated word against 200,000 copies of it: a naive phrase search would make
    # ten million comparisons; the scan makes a few per token.
    text = MatchText.of("a " * 200_000)
    almost = parse_term('"' + "a " * 48 + 'b"')
    assert len(almost.words) == 49
    assert not text.contains(almost)
    assert text.contains(parse_term('"' + "a " * 48 + 'a*"'))
    assert not text.contains(parse_term('"' + "a " * 48 + 'b*"'))
    assert not passes([almost, parse_term("zzz*")], text)


def test_typographic_quotes_that_phones_type_group_a_phrase_like_straight_ones() -> None:
    assert parse_terms("“central bank” -«sport news»") == parse_terms('"central bank" -"sport news"')
    assert parse_term("„central bank“").display() == '"central bank"'
