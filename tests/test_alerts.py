"""Alerts end to end: /alert as a chat uses it, articles from a polled feed or `newsbot ingest` matched as they are
stored, and the alert messages the bulletin job sends through the outbox (bundled within ALERT_MIN_INTERVAL,
following the chat's sources, exactly once after a kill -9 of the sender). Both databases."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.app import alert_service, run_delivery_check
from fakebot import FakeBotAPI
from model.alert_index import AlertIndex, IndexedAlert
from model.terms import MatchText, parse_term, passes
from storage import follows as follow_repo
from storage.models import AlertMatch, Delivery, Subscriber
from tests.conftest import TEST_TOKEN, Clock, RunningBot, make_settings, start_bot
from tests.feedserver import FeedServer
from tests.test_cli import clean_env, newsbot, newsbot_running

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
FILLER = " ".join(["The report gave further details about the events of the day."] * 12)  # no page fetch


@pytest.fixture
async def alert_bot(fake_api: FakeBotAPI, db_url: str, clock: Clock) -> AsyncIterator[RunningBot]:
    clock.set(T0)
    async with start_bot(fake_api, db_url, clock, page_fetches_per_poll=0) as running_bot:
        yield running_bot


def rss(*items: tuple[str, str]) -> str:
    """A feed of (guid, title) items, each with a long description (so no article page is fetched)."""
    entries = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><link>https://news.example/{guid}</link>"
        f"<description>{title}. {FILLER}</description></item>"
        for guid, title in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{entries}</channel></rss>'


async def check(bot: RunningBot) -> None:
    """What the bulletin job does, run now."""
    service = alert_service(make_settings(bot.api, "unused", alert_min_interval=600), bot.db, clock=bot.clock)
    await run_delivery_check(bot.bulletins, service)


def alerts_to(bot: RunningBot | FakeBotAPI, chat_id: int) -> list[str]:
    api = bot if isinstance(bot, FakeBotAPI) else bot.api
    return [m.visible_text for m in api.sent(chat_id) if m.visible_text.startswith("🔔 Alert")]


async def add_feed(bot: RunningBot, server: FeedServer, path: str, *items: tuple[str, str]) -> int:
    source, _ = await bot.services.feeds.add(server.serve(path, rss(*items)))
    return source.id


async def poll(bot: RunningBot, server: FeedServer, source_id: int, path: str, *items: tuple[str, str]) -> None:
    server.serve(path, rss(*items))
    [result] = (await bot.services.feeds.poll([source_id])).results
    assert result.ok, result.error


async def chat_row(bot: RunningBot, chat_id: int) -> Subscriber:
    async with bot.db.session() as session:
        row = await session.scalar(select(Subscriber).where(Subscriber.chat_id == chat_id))
        assert row is not None
        return row


# ---------------------------------------------------------------------------- /alert


async def test_set_list_and_remove_alerts_by_button_and_by_number(alert_bot: RunningBot) -> None:
    bot = alert_bot
    [reply] = await bot.ask(1, '/alert Sanction* "Central  Bank"')
    assert reply.visible_text.startswith('✅ Alert 1 set: sanction* "central bank"')
    [reply] = await bot.ask(1, "/alert oil -sport")
    assert reply.visible_text.startswith("✅ Alert 2 set: oil -sport")
    [reply] = await bot.ask(1, "/alert café")
    assert reply.visible_text.startswith("✅ Alert 3 set: cafe")

    [listing] = await bot.ask(1, "/alert")
    assert listing.visible_text.split("\n")[:5] == [
        "Your alerts (3 of 20)",
        "",
        '1. sanction* "central bank"',
        "2. oil -sport",
        "3. cafe",
    ]
    labels = [label for label, _ in listing.buttons]
    assert labels == ["✖ 1", "✖ 2", "✖ 3"]
    remove_first = listing.buttons[0][1] or ""
    [old_listing] = await bot.ask(1, "/alert")

    await bot.press(1, listing.message_id, remove_first, edit=True)
    edited = bot.api.message(1, listing.message_id)
    assert edited.visible_text.split("\n")[2:4] == ["1. oil -sport", "2. cafe"]
    assert [label for label, _ in edited.buttons] == ["✖ 1", "✖ 2"]
    # The same button under an older list: nothing more is removed, and that list is brought up to date.
    await bot.press(1, old_listing.message_id, remove_first, edit=True)
    assert bot.api.message(1, old_listing.message_id).visible_text == edited.visible_text
    [reply] = await bot.ask(1, "/alert off 2")
    assert reply.visible_text == "Alert 2 removed: cafe"
    [reply] = await bot.ask(1, "/alert off 2")
    assert reply.visible_text == "There is no alert 2. /alert lists yours."
    [listing] = await bot.ask(1, "/alert")
    assert listing.visible_text.split("\n")[2:3] == ["1. oil -sport"] and "2." not in listing.visible_text
    # Another chat's alerts are its own.
    [other] = await bot.ask(2, "/alert")
    assert other.visible_text.startswith("You have no alerts.") and other.buttons == []


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        (
            "/alert " + "x" * 101,
            "Can't use “" + "x" * 39 + "…”: a term is at most 100 characters. Nothing was changed.",
        ),
        ("/alert oil ...", "Can't use “...”: a term needs letters or digits. Nothing was changed."),
        ('/alert "central bank', "Can't use “\"central bank”: unbalanced quote. Nothing was changed."),
        ("/alert oil*gas", "Can't use “oil*gas”: * only at the end of a word or phrase. Nothing was changed."),
        ("/alert -sport -football", "An alert needs a term to look for, not only -terms to leave out"),
        ("/alert a b c d e f g h i j k", "An alert has at most 10 terms. Nothing was changed."),
        ("/alert off", "Usage: /alert off <n>, where n is the alert's number in /alert."),
        ("/alert off one", "Usage: /alert off <n>, where n is the alert's number in /alert."),
        ("/alert off ３", "Usage: /alert off <n>, where n is the alert's number in /alert."),
    ],
)
async def test_bad_input_gets_a_short_answer_and_changes_nothing(
    alert_bot: RunningBot, command: str, answer: str
) -> None:
    await alert_bot.ask(1, "/alert oil")
    [reply] = await alert_bot.ask(1, command)
    assert reply.visible_text.startswith(answer)
    [listing] = await alert_bot.ask(1, "/alert")
    assert listing.visible_text.split("\n")[0] == "Your alerts (1 of 20)"


async def test_a_duplicate_and_a_21st_alert_are_refused(alert_bot: RunningBot) -> None:
    bot = alert_bot
    await bot.ask(1, '/alert "central bank" rates')
    [reply] = await bot.ask(1, '/alert RATES "Central Bank"')
    assert reply.visible_text == 'You already have that alert: 1. "central bank" rates'
    for number in range(2, 21):
        [reply] = await bot.ask(1, f"/alert topic{number}")
        assert reply.visible_text.startswith(f"✅ Alert {number} set: topic{number}")
    [reply] = await bot.ask(1, "/alert topic21")
    assert reply.visible_text == "You have 20 alerts, the most a chat can have. Remove one first: /alert off <n>."
    [listing] = await bot.ask(1, "/alert")
    assert listing.visible_text.startswith("Your alerts (20 of 20)") and "topic21" not in listing.visible_text
    assert len(listing.buttons) == 20


# ---------------------------------------------------------------------------- alert messages


async def test_a_polled_article_that_matches_is_sent_on_the_next_run(alert_bot: RunningBot, server: FeedServer) -> None:
    bot = alert_bot
    await bot.ask(1, "/alert sanction* -sport")
    await bot.ask(2, '/alert "central bank"')
    source_id = await add_feed(bot, server, "/wire.xml", ("a", "Weather: sunny"))
    await check(bot)
    assert alerts_to(bot, 1) == [] and alerts_to(bot, 2) == []

    await poll(
        bot,
        server,
        source_id,
        "/wire.xml",
        ("a", "Weather: sunny"),
        ("b", "New SANCTIONS on oil <exports>"),
        ("c", "Sanctions hit sport clubs"),
        ("d", "The Central-Bank raises rates"),
    )
    assert alerts_to(bot, 1) == []  # matched when stored, told on the next run
    await check(bot)
    async with bot.db.session() as session:
        ids = dict((await session.execute(select(AlertMatch.article_id, AlertMatch.subscriber_id))).all())
    [to_one] = alerts_to(bot, 1)
    [article_b] = [article for article, chat in ids.items() if chat == (await chat_row(bot, 1)).id]
    assert to_one == f"🔔 Alert: sanction* -sport\n\n1. New SANCTIONS on oil <exports>\nWire · /read_{article_b}"
    [to_two] = alerts_to(bot, 2)
    assert to_two.startswith('🔔 Alert: "central bank"\n\n1. The Central-Bank raises rates\nWire · /read_')
    async with bot.db.session() as session:
        kinds = [(d.kind, d.status, d.slot_at) for d in await session.scalars(select(Delivery))]
    assert kinds == [("alert", "sent", None)] * 2
    await check(bot)  # nothing twice
    assert len(alerts_to(bot, 1)) == 1 and len(alerts_to(bot, 2)) == 1


async def test_matches_within_the_interval_are_bundled_into_one_message(
    alert_bot: RunningBot, server: FeedServer
) -> None:
    bot = alert_bot
    await bot.ask(1, "/alert volcano*")
    await bot.ask(1, "/alert tsunami")
    source_id = await add_feed(bot, server, "/geo.xml", ("1", "Volcano erupts"))
    await check(bot)
    assert [text.split("\n")[0] for text in alerts_to(bot, 1)] == ["🔔 Alert: volcano*"]

    bot.clock.set(T0 + timedelta(seconds=60))
    await poll(bot, server, source_id, "/geo.xml", ("1", "Volcano erupts"), ("2", "Volcanoes cool down"))
    await check(bot)
    bot.clock.set(T0 + timedelta(seconds=300))
    await poll(bot, server, source_id, "/geo.xml", ("2", "Volcanoes cool down"), ("3", "Tsunami warning lifted"))
    await check(bot)
    assert len(alerts_to(bot, 1)) == 1  # less than ALERT_MIN_INTERVAL after the first: they wait

    bot.clock.set(T0 + timedelta(seconds=600))
    await check(bot)
    first, bundle = alerts_to(bot, 1)
    lines = bundle.split("\n")
    assert lines[0] == "🔔 Alert: volcano*" and lines[2] == "1. Volcanoes cool down"
    assert lines[5] == "🔔 Alert: tsunami" and lines[7] == "2. Tsunami warning lifted"
    assert (await chat_row(bot, 1)).last_alert_at == T0 + timedelta(seconds=600)
    bot.clock.set(T0 + timedelta(seconds=1300))
    await check(bot)
    assert len(alerts_to(bot, 1)) == 2


async def test_alerts_reach_chats_without_bulletins_but_not_chats_that_blocked_the_bot(
    alert_bot: RunningBot, server: FeedServer
) -> None:
    bot = alert_bot
    await bot.ask(1, "/alert election")  # never subscribed to bulletins
    await bot.ask(2, "/subscribe")
    await bot.ask(2, "/alert election")
    await bot.ask(3, "/alert election")
    bot.api.fail_chat(3, "403")
    source_id = await add_feed(bot, server, "/politics.xml", ("1", "Election day"))
    await check(bot)
    assert len(alerts_to(bot, 1)) == 1 and len(alerts_to(bot, 2)) == 1
    assert (await chat_row(bot, 3)).blocked_at is not None  # told by Telegram when its alert was sent

    bot.clock.set(T0 + timedelta(hours=1))
    await poll(bot, server, source_id, "/politics.xml", ("1", "Election day"), ("2", "Election results"))
    await check(bot)
    assert len(alerts_to(bot, 1)) == 2 and len(alerts_to(bot, 2)) == 2
    async with bot.db.session() as session:
        chat3 = (await chat_row(bot, 3)).id
        assert list(await session.scalars(select(AlertMatch.article_id).where(AlertMatch.subscriber_id == chat3))) == [
            1
        ]


async def test_alerts_follow_the_chats_sources_but_not_its_keyword_filter(
    alert_bot: RunningBot, server: FeedServer
) -> None:
    bot = alert_bot
    await bot.ask(1, "/alert football")
    await bot.ask(2, "/alert football")
    await bot.ask(2, "/filter -football")  # its bulletins leave football out; its alerts do not
    kept = await add_feed(bot, server, "/kept.xml", ("k0", "Cooking tips"))
    dropped = await add_feed(bot, server, "/dropped.xml", ("d0", "Gardening tips"))
    await bot.ask(1, f"/unfollow {dropped}")
    async with bot.db.session() as session:
        chat1 = await chat_row(bot, 1)
        assert (await follow_repo.followed_sources(session, [chat1.id]))[chat1.id] == {kept}
    await poll(bot, server, dropped, "/dropped.xml", ("d1", "Football: cup final tonight"))
    await poll(bot, server, kept, "/kept.xml", ("k1", "Football transfer news"))
    await check(bot)
    [to_one] = alerts_to(bot, 1)
    assert "Football transfer news" in to_one and "cup final" not in to_one
    [to_two] = alerts_to(bot, 2)  # chat 2 reads every source, and its filter does not apply
    assert "Football transfer news" in to_two and "cup final" in to_two


async def test_the_running_bot_matches_alerts_as_they_are_now(alert_bot: RunningBot, server: FeedServer) -> None:
    """The poller's index of alerts follows every change, also when SQLite gives a new alert the id of the one
    just removed and the clock has not moved."""
    bot = alert_bot
    await bot.ask(1, "/alert comet")
    source_id = await add_feed(bot, server, "/sky.xml", ("1", "Comet seen"))
    await bot.ask(1, "/alert off 1")
    await bot.ask(1, "/alert meteor")  # the same id on SQLite, the same clock
    await poll(bot, server, source_id, "/sky.xml", ("2", "Comet fades"), ("3", "Meteor shower tonight"))
    await bot.ask(1, "/alert eclipse")
    await poll(bot, server, source_id, "/sky.xml", ("4", "Eclipse in March"), ("5", "Comet returns"))
    await check(bot)
    [told] = alerts_to(bot, 1)
    assert [line for line in told.split("\n") if line[:1].isdigit() or line.startswith("🔔")] == [
        "🔔 Alert: meteor",
        "1. Meteor shower tonight",
        "🔔 Alert: eclipse",
        "2. Eclipse in March",
    ]  # "Comet seen" matched the removed alert: its waiting match went with it


async def _ingest(tmp_path: Path, env: dict[str, str], title: str) -> None:
    story = tmp_path / f"{title.split()[0].lower()}.txt"
    story.write_text(f"{title}\n\n{FILLER}\n", encoding="utf-8")
    code, out, err = await newsbot("ingest", str(story), cwd=tmp_path, env=env)
    assert code == 0 and "stored" in out, out + err


async def test_an_ingested_article_alerts_every_chat_and_arrives_exactly_once_after_a_kill_9_of_the_sender(
    fake_api: FakeBotAPI, db_url: str, clock: Clock, tmp_path: Path
) -> None:
    """An article without a source (newsbot ingest) counts as followed by everyone. The sender (`newsbot run`)
    is killed with SIGKILL while its alert request is held at the Bot API, unanswered; after the lease the next
    sender sends it once: not lost, not twice, and not prepared again."""
    async with start_bot(fake_api, db_url, clock) as first:
        await first.ask(5, "/alert earthquake")
        async with first.db.session() as session:
            chat = await session.scalar(select(Subscriber).where(Subscriber.chat_id == 5))
            assert chat is not None
            chat.follows_all = False  # follows no source at all
    env = clean_env(DATABASE_URL=db_url, BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=fake_api.url)
    await _ingest(tmp_path, env, "Earthquake shakes the coast")

    fake_api.hold_sends(5)
    async with newsbot_running(fake_api, cwd=tmp_path, env={**env, "BULLETIN_CHECK_INTERVAL": "1"}) as process:
        await fake_api.wait_until_held(5, timeout=30)
        process.kill()
        await process.wait()
    fake_api.release_sends(5)
    assert alerts_to(fake_api, 5) == []  # the request died with its sender
    async with start_bot(fake_api, db_url, clock) as second:
        async with second.db.session() as session:  # the dead sender's lease runs out (moved back, not waited)
            await session.execute(
                update(Delivery)
                .where(Delivery.status == "sending")
                .values(claimed_at=datetime.now(UTC) - timedelta(minutes=5))
            )
        await check(second)
        await check(second)
        [alert] = alerts_to(fake_api, 5)
        assert alert.startswith("🔔 Alert: earthquake\n\n1. Earthquake shakes the coast\n")
        async with second.db.session() as session:
            rows = [(d.kind, d.status, d.attempts) for d in await session.scalars(select(Delivery))]
        assert rows == [("alert", "sent", 2)]


async def test_cron_mode_writes_and_sends_the_alerts_due(
    fake_api: FakeBotAPI, db_url: str, clock: Clock, tmp_path: Path
) -> None:
    """`newsbot bulletin send` (no running bot, BULLETIN_CHECK_INTERVAL=0) writes the waiting alert messages too."""
    async with start_bot(fake_api, db_url, clock) as running:
        await running.ask(6, "/alert volcano")
    env = clean_env(DATABASE_URL=db_url, BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=fake_api.url)
    await _ingest(tmp_path, env, "Volcano erupts near the capital")
    code, out, err = await newsbot("bulletin", "send", cwd=tmp_path, env=env)
    assert code == 0, err
    assert "sent=1" in out
    [alert] = alerts_to(fake_api, 6)
    assert alert.startswith("🔔 Alert: volcano\n\n1. Volcano erupts near the capital\n")


# ---------------------------------------------------------------------------- the index against brute force


def test_the_index_finds_exactly_the_alerts_that_pass() -> None:
    """Every alert tested against every text with model.terms.passes, and the index, agree."""
    rng = random.Random(7)
    words = ["bank", "banks", "central", "rate", "rates", "oil", "sport", "café", "東", "京", "a", "of"]
    written: list[str] = []
    for _ in range(400):
        kind = rng.random()
        if kind < 0.4:
            written.append(rng.choice(words))
        elif kind < 0.6:
            written.append(rng.choice(words)[: rng.randint(1, 4)] + "*")
        else:
            phrase = " ".join(rng.choice(words) for _ in range(rng.randint(2, 4)))
            written.append(f'"{phrase}{"*" if rng.random() < 0.3 else ""}"')
    alerts = []
    for alert_id in range(1, 301):
        terms = [parse_term(rng.choice(written)) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            terms.append(parse_term("-" + rng.choice(written)))
        alerts.append(IndexedAlert(alert_id, alert_id % 17, tuple(terms)))
    index = AlertIndex(alerts[:150])
    index.add(alerts[150:])
    found = 0
    for _ in range(200):
        text = MatchText.of(
            " ".join(rng.choice(words) for _ in range(rng.randint(0, 12))),
            " ".join(rng.choice(words) + rng.choice(["", ",", "."]) for _ in range(rng.randint(0, 30))),
        )
        expected = [alert for alert in alerts if any(not t.exclude for t in alert.terms) and passes(alert.terms, text)]
        assert index.match(text) == expected
        found += len(expected)
    assert 1000 < found < 200 * 300 * 0.9  # neither nothing nor everything: the cases are mixed


# ---------------------------------------------------------------------------- the alert message


def test_an_alert_message_of_many_long_headlines_and_terms_fits_one_telegram_message() -> None:
    from types import SimpleNamespace

    from compose.alerts import render_alert
    from compose.html import MESSAGE_LIMIT
    from fakebot.html import parse_html, utf16_len

    def article(n: int) -> SimpleNamespace:
        return SimpleNamespace(id=2_000_000_000 + n, title=f"<b>Headline {n} & " + "ü𝔘 " * 300, source="S" * 200)

    sections = [(['"' + "word " * 18 + 'end"'] * 10, [article(2 * n), article(2 * n + 1)]) for n in range(10)]
    text = render_alert(sections)  # type: ignore[arg-type]
    parsed = parse_html(text)  # Telegram would take it
    assert utf16_len(parsed.text) <= MESSAGE_LIMIT
    assert parsed.text.count("🔔 Alert: ") == 10 and "<b>Headline 19 &" in parsed.text
    assert "/read_2000000019" in parsed.text
