"""The catalogues are complete and match the code, and no user-facing string in compose/ or handlers/ bypasses them.

Plain pytest: no bot, no database.
"""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from compose import i18n
from compose.i18n import (
    DEFAULT_LANGUAGE,
    LOCALES,
    SUPPORTED_LANGUAGES,
    current_language,
    format_date,
    gettext,
    language_name,
    ngettext,
    supported_language,
    translate_known,
    use_language,
)

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("compose", "handlers")  # where every user-facing literal must go through the catalogue
TRANSLATING_CALLS = {"_", "gettext", "ngettext", "pgettext", "N_"}
MSGID_ARGUMENTS = {"ngettext": 2, "pgettext": 2}  # how many leading arguments are literals pybabel extracts

FIELD = re.compile(r"\{(\w*)\}")
TELEGRAM_TAG = re.compile(r"</?(?:b|i|u|s|a|code|pre|blockquote|tg-spoiler)\b[^>]*>")
ENTITY = re.compile(r"&(?:lt|gt|amp|quot);")


# ---------------------------------------------------------------------------- the catalogues


def extracted_messages() -> dict[tuple[str | None, str | tuple[str, str]], str]:
    """Every message id the code marks, as `pybabel extract -F babel.cfg` sees it: (context, id) -> where."""
    with (ROOT / "babel.cfg").open() as file:
        method_map, options_map = parse_mapping_cfg(file)
    found: dict[tuple[str | None, str | tuple[str, str]], str] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(ROOT, method_map, options_map):
        found.setdefault((context, message), f"{filename}:{lineno}")
    return found


def catalogue(language: str) -> Catalog:
    with (LOCALES / language / "LC_MESSAGES" / "newsbot.po").open("rb") as file:
        return read_po(file, locale=language)


def test_the_bot_speaks_english_russian_german_and_spanish() -> None:
    assert SUPPORTED_LANGUAGES[:4] == ("en", "ru", "de", "es") and DEFAULT_LANGUAGE == "en"
    assert [language_name(code) for code in SUPPORTED_LANGUAGES[:4]] == ["English", "Русский", "Deutsch", "Español"]


def test_the_code_marks_messages_and_they_are_found() -> None:
    messages = extracted_messages()
    assert len(messages) > 200
    assert (None, "Midday bulletin") in messages and ("date pattern", "EEEE d MMMM y") in messages
    assert (None, ("{count} article", "{count} articles")) in messages


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_message_is_in_every_catalogue_with_the_same_placeholders(language: str) -> None:
    """What is missing, stale, empty or mismatched, message by message: fix the .po file it names."""
    wanted = extracted_messages()
    catalog = catalogue(language)
    problems: list[str] = []
    present = {(message.context, message.id) for message in catalog if message.id}
    for key, where in wanted.items():
        if key not in present:
            problems.append(f"missing ({where}): {key[1]!r}")
    for message in catalog:
        if not message.id:
            continue
        key = (message.context, message.id)
        if key not in wanted:
            problems.append(f"no longer in the code (remove it): {message.id!r}")
            continue
        if message.fuzzy:
            problems.append(f"fuzzy (check it, then drop the flag): {message.id!r}")
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if isinstance(message.id, tuple) and len(strings) != catalog.num_plurals:
            problems.append(f"{len(strings)} plural forms, the catalogue says {catalog.num_plurals}: {ids[0]!r}")
        if language == DEFAULT_LANGUAGE:
            # English msgids are the text: an empty msgstr means "as written"; one that is given must agree.
            strings = tuple(string for string in strings if string)
        elif not all(strings):
            problems.append(f"untranslated: {ids[0]!r}")
            continue
        for string in strings:
            problems += _mismatches(ids[-1], string, message.context)
    assert not problems, f"{language}.po:\n" + "\n".join(problems)


def _mismatches(msgid: str, string: str, context: str | None) -> list[str]:
    if context == "date pattern":
        try:
            format_date(datetime(2026, 11, 27), string)
        except Exception as exc:  # a pattern Babel cannot read
            return [f"not a date pattern: {string!r} ({exc})"]
        return []
    found = []
    if sorted(FIELD.findall(string)) != sorted(FIELD.findall(msgid)):
        found.append(f"placeholders differ: {msgid!r} -> {string!r}")
    if sorted(m.split()[0] for m in TELEGRAM_TAG.findall(string)) != sorted(
        m.split()[0] for m in TELEGRAM_TAG.findall(msgid)
    ):
        found.append(f"HTML tags differ: {msgid!r} -> {string!r}")
    if sorted(ENTITY.findall(string)) != sorted(ENTITY.findall(msgid)):
        found.append(f"&lt; &gt; entities differ: {msgid!r} -> {string!r}")
    return found


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_translations_are_used(language: str) -> None:
    with use_language(language):
        edition = gettext("Midday bulletin")
        ages = [ngettext("{count} min ago", "{count} min ago", n).format(count=n) for n in (1, 2, 5, 21)]
    if language == "en":
        assert edition == "Midday bulletin" and ages == ["1 min ago", "2 min ago", "5 min ago", "21 min ago"]
    else:
        assert edition != "Midday bulletin" and all(
            age != f"{n} min ago" for age, n in zip(ages, (1, 2, 5, 21), strict=True)
        )


def test_russian_has_three_plural_forms() -> None:
    with use_language("ru"):
        assert [ngettext("{count} article", "{count} articles", n).format(count=n) for n in (1, 3, 5, 11, 21, 22)] == [
            "1 статья", "3 статьи", "5 статей", "11 статей", "21 статья", "22 статьи",
        ]  # fmt: skip
    assert catalogue("ru").num_plurals == 3
    assert catalogue("de").num_plurals == catalogue("es").num_plurals == 2


# ---------------------------------------------------------------------------- the language of the moment


@pytest.mark.parametrize(
    ("code", "expected"),
    [("ru", "ru"), ("de-AT", "de"), ("es_MX", "es"), ("EN-gb", "en"), ("pt-BR", "en"), ("", "en"), (None, "en")],
)
def test_supported_language(code: str | None, expected: str) -> None:
    assert supported_language(code) == expected


def test_use_language_nests_and_restores() -> None:
    assert current_language() == "en"
    with use_language("ru") as outer:
        assert outer == "ru" and gettext("Morning bulletin") == "Утренняя сводка"
        with use_language("de-CH"):
            assert gettext("Morning bulletin") == "Morgenausgabe"
        assert current_language() == "ru"
    assert current_language() == "en" and gettext("Morning bulletin") == "Morning bulletin"


async def test_each_task_keeps_its_own_language() -> None:
    """What makes a ContextVar safe for concurrent updates: a language set in one task is not seen by another."""
    started = asyncio.Event()

    async def speak(code: str) -> str:
        i18n.set_language(code)
        started.set() if code == "ru" else await started.wait()
        await asyncio.sleep(0)
        return gettext("Evening bulletin")

    assert await asyncio.gather(speak("ru"), speak("es")) == ["Вечерняя сводка", "Boletín de la tarde"]
    assert current_language() == "en"


def test_dates_times_and_durations_follow_the_language() -> None:
    moment = datetime(2026, 11, 27, 7, 5)
    with use_language("ru"):
        assert format_date(moment, "EEEE d MMMM") == "пятница 27 ноября"
        assert i18n.format_time(moment) == "07:05"
        assert i18n.format_timedelta(timedelta(minutes=-5), add_direction=True) == "5 минут назад"
    with use_language("es"):
        assert i18n.join_and(["a", "b", "c"]) == "a, b y c" and i18n.format_date(moment) == "27 nov 2026"
    assert i18n.format_timedelta(timedelta(hours=3)) == "3 hours" and i18n.join_and(["a"]) == "a"


def test_errors_from_lower_layers_are_translated_when_known() -> None:
    with use_language("de"):
        assert translate_known("a term is at most 100 characters", ["a term is at most {most} characters"]) == (
            "ein Begriff hat höchstens 100 Zeichen"
        )
        assert translate_known("HTTP 404 from the server", ["a term is at most {most} characters"]) == (
            "HTTP 404 from the server"
        )


# ---------------------------------------------------------------------------- nothing bypasses the catalogues

# Literals that contain words and spaces but are not said to anyone: compared with Telegram's error texts.
ALLOWED_LITERALS = {"not modified"}
# Calls whose string arguments are not sent to users.
SILENT_CALLS = {"debug", "info", "warning", "error", "exception", "critical", "compile", "match", "fullmatch"}
# `_(name)` with a variable is fine where the values are N_-marked literals (tables translated when shown).
VARIABLE_MSGIDS = {("compose/help.py", "description"), ("compose/subscriptions.py", "label")}
WORDS = re.compile(r"[^\W\d_]{2,}")
COMMAND = re.compile(r"/\w+")
HTML_FRAGMENT = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^>]*)?>?")


def says_something(text: str) -> bool:
    """A literal a user would read: a word of letters and a space, once tags, entities, placeholders and /commands
    are taken out (so '<a href="', '{mark} {count}' or ' · ' are not)."""
    for pattern in (HTML_FRAGMENT, ENTITY, FIELD, COMMAND):
        text = pattern.sub("", text)
    return bool(WORDS.search(text)) and " " in text.strip()


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def bypasses(source: str, path: str = "<test>") -> Iterator[str]:
    """Where `source` has a user-facing literal outside the catalogue calls (line: text)."""
    tree = ast.parse(source)
    skipped: set[int] = set()  # ids of constant nodes that are fine
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skipped.add(id(first.value))  # a docstring
        inside: list[ast.AST] = []
        if isinstance(node, ast.Call):
            name = _name(node.func)
            if name in TRANSLATING_CALLS:
                for argument in node.args[: MSGID_ARGUMENTS.get(name, 1)]:
                    if not isinstance(argument, ast.Constant) and (path, _name(argument)) not in VARIABLE_MSGIDS:
                        yield f"{node.lineno}: {name}() of something pybabel cannot extract (a literal, please)"
                inside = list(node.args)
            elif name in SILENT_CALLS:
                inside = list(node.args)
        elif isinstance(node, ast.JoinedStr):
            for value in ast.walk(node):
                if isinstance(value, ast.Call) and _name(value.func) in TRANSLATING_CALLS:
                    yield f"{value.lineno}: {_name(value.func)}() inside an f-string, where pybabel does not see it"
        elif isinstance(node, ast.Raise) and node.exc is not None:
            inside = [node.exc]  # programming errors, for developers
        elif isinstance(node, ast.Assert) and node.msg is not None:
            inside = [node.msg]
        for part in inside:
            skipped.update(id(sub) for sub in ast.walk(part) if isinstance(sub, ast.Constant))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skipped
            and node.value not in ALLOWED_LITERALS
            and says_something(node.value)
        ):
            yield f"{node.lineno}: {node.value!r}"


def test_the_scan_catches_a_sentence_sent_without_the_catalogue() -> None:
    source = 'async def f(update):\n    """Says hello."""\n    await reply_html(update, "Some new sentence")\n'
    assert list(bypasses(source)) == ["3: 'Some new sentence'"]
    assert list(bypasses('x = f"<b>{n}</b> new articles stored"')) != []
    assert list(bypasses("label = f\"✅ {_('Open in the bot')}\"")) != []  # pybabel would miss it
    assert list(bypasses("x = _(text)")) != []
    fine = (
        'log.warning("bulletin skipped for %s", x)\n'
        'raise ValueError("at most two, not three")\n'
        'x = _("Some new sentence").format(n=1)\n'
        'y = ngettext("{count} day", "{count} days", n)\n'
        'z = f\'<a href="{url}">{label}</a>\' + " · " + "/read_12"\n'
    )
    assert list(bypasses(fine)) == []


@pytest.mark.parametrize(
    "path",
    sorted(
        str(p.relative_to(ROOT))
        for folder in SCANNED
        for p in (ROOT / folder).rglob("*.py")
        if p.name != "i18n.py"  # the catalogue calls themselves
    ),
)
def test_no_user_facing_string_bypasses_the_catalogues(path: str) -> None:
    found = list(bypasses((ROOT / path).read_text(encoding="utf-8"), path))
    assert not found, f"{path}: wrap these in _() (compose/i18n.py) and add them to every catalogue:\n" + "\n".join(
        found
    )
