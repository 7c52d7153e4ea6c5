"""Personal news end to end: each chat's sources (public and its own), topics and keyword filter, and the
bulletins and headlines that obey them. Real Application, fake Bot API, feeds over HTTP, both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

from sqlalchemy import func, select

from fakebot import FakeBotAPI
from storage import sources as source_repo
from storage.models import Article, Source, Subscriber
from tests.conftest import Clock, RunningBot, start_bot
from tests.feedserver import FeedServer

ADMIN = 999
ANN = 4242
BOB = 4343


def rss(title: str, items: list[tuple[str, str, list[str]]], *, link: str = "https://news.example") -> str:
    """An RSS 2.0 feed: items of (title, text, categories), the first item the newest."""
    now = datetime.now(UTC)
    entries = []
    for index, (item_title, text, categories) in enumerate(items):
        slug = "".join(ch if ch.isalnum() else "-" for ch in item_title.lower())
        cats = "".join(f"<category>{escape(c)}</category>" for c in categories)
        entries.append(
            f"<item><title>{escape(item_title)}</title><link>{link}/{slug}</link><guid>{link}/{slug}</guid>"
            f"<pubDate>{format_datetime(now - timedelta(minutes=index + 1))}</pubDate>{cats}"
            f"<description>{escape(text)}</description></item>"
        )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{escape(title)}</title><link>{link}</link>'
        f"<description>{escape(title)}</description>{''.join(entries)}</channel></rss>"
    )


WORLD = rss(
    "World Daily",
    [
        ("Oil prices climb as the central bank holds rates", "Markets watched the central bank all day.", ["Economy"]),
        ("Storm closes northern ports", "Ferries stayed in harbour for a third day.", ["Météo"]),
        ("Café owners protest new rules", "Small cafés say the rules cost them dearly.", ["Economy", " Météo "]),
    ],
    link="https://world.example",
)
SPORT = rss(
    "Sports Daily",
    [
        ("Harbour FC wins the cup", "A late goal settled the final.", ["Sport", "METEO"]),
        ("Sanctions hit the club's owner", "The sanctioned owner must sell.", ["Sport", "ECONOMY"]),
    ],
    link="https://sport.example",
)


async def add_public_sources(bot: RunningBot, server: FeedServer) -> None:
    for path, body in (("/world.xml", WORLD), ("/sport.xml", SPORT)):
        url = server.serve(path, body, content_type="application/rss+xml")
        [reply] = await bot.ask(ADMIN, f"/addsource {url}")
        assert reply.visible_text.startswith("✅ Added source"), reply.visible_text


def titles(text: str) -> list[str]:
    """The headline titles of a /headlines reply or a bulletin, in order."""
    lines = text.split("\n")
    return [line.split(". ", 1)[1] for line in lines if line[:1].isdigit() and ". " in line]


async def headlines(bot: RunningBot, chat_id: int, command: str = "/headlines 20") -> list[str]:
    [reply] = await bot.ask(chat_id, command)
    return titles(reply.visible_text)


async def test_a_chat_follows_every_public_source_until_it_picks_its_own(bot: RunningBot, server: FeedServer) -> None:
    await add_public_sources(bot, server)
    [listing] = await bot.ask(ANN, "/sources")
    assert listing.visible_text.startswith("Your sources (following 2 of 2)")
    assert "✅ #1 World Daily · 3 articles" in listing.visible_text
    assert "✅ #2 Sports Daily · 2 articles" in listing.visible_text
    assert [text for text, _ in listing.buttons] == ["✖ Unfollow World Daily", "✖ Unfollow Sports Daily"]
    assert len(await headlines(bot, ANN)) == 5

    # Unfollowing by button edits the list in place; the chat reads the one source it kept.
    [(_, unfollow_sport)] = [b for b in listing.buttons if "Sports" in b[0]]
    await bot.press(ANN, listing.message_id, unfollow_sport, edit=True)
    edited = bot.api.message(ANN, listing.message_id)
    assert "▫️ #2 Sports Daily" in edited.visible_text and "(following 1 of 2)" in edited.visible_text
    [reply] = await bot.ask(ANN, "/headlines 20")
    assert set(titles(reply.visible_text)) == {
        "Oil prices climb as the central bank holds rates",
        "Storm closes northern ports",
        "Café owners protest new rules",
    }
    assert reply.visible_text.endswith("🔎 Your selection: your sources · /headlines all shows everything")
    assert len(await headlines(bot, ANN, "/headlines all 20")) == 5

    # A public source added later reaches chats that never chose, not the one that did.
    late = server.serve("/late.xml", rss("Evening Post", [("Late news", "Text.", [])]), content_type="text/xml")
    await bot.ask(ADMIN, f"/addsource {late}")
    assert "Late news" not in await headlines(bot, ANN)
    assert "Late news" in await headlines(bot, BOB)
    [reply] = await bot.ask(BOB, "/headlines")
    assert "Your selection" not in reply.visible_text

    # By command: a part of the title, an ambiguous one, an unknown one, an id.
    [reply] = await bot.ask(ANN, "/follow daily")
    assert reply.visible_text.startswith("“daily” matches several sources; which one?\n• #1 World Daily\n• #2 Sports")
    [reply] = await bot.ask(ANN, "/follow sports")
    assert reply.visible_text == "✅ You follow #2 Sports Daily."
    [reply] = await bot.ask(ANN, "/follow SPORTS daily")
    assert reply.visible_text == "You already follow #2 Sports Daily."
    [reply] = await bot.ask(ANN, "/follow nothing-like-it")
    assert reply.visible_text == "No source matches “nothing-like-it”. /sources lists them."
    [reply] = await bot.ask(ANN, "/unfollow #1")
    assert reply.visible_text == "✖ You no longer follow #1 World Daily. /follow 1 brings it back."
    assert set(await headlines(bot, ANN)) == {"Harbour FC wins the cup", "Sanctions hit the club's owner"}
    for bad, usage in (
        ("/follow", "Usage: /follow"),
        ("/unfollow", "Usage: /unfollow"),
        ("/follow " + "x" * 101, "That name"),
    ):
        [reply] = await bot.ask(ANN, bad)
        assert reply.visible_text.startswith(usage)


async def test_a_users_own_feed_is_private_to_the_chats_that_follow_it(bot: RunningBot, server: FeedServer) -> None:
    await add_public_sources(bot, server)
    secret = server.serve(
        "/mine-token-s3cret.xml",
        rss(
            "Ann's Digest",
            [
                ("Harbour FC wins the cup", "A late goal settled the final.", []),
                ("Private memo leaks", "Only Ann reads this.", []),
            ],
        ),  # fmt: skip
        content_type="application/rss+xml",
    )
    [added] = await bot.ask(ANN, f"/add {secret}")
    assert added.visible_text.startswith("✅ Added source #3 Ann's Digest")
    assert added.visible_text.endswith("🔒 Only chats that follow it see it; /remove drops it.")
    assert "Private memo leaks" in await headlines(bot, ANN)
    [listing] = await bot.ask(ANN, "/sources")
    assert "✅ #3 Ann's Digest · 2 articles · 🔒 private" in listing.visible_text

    # Bob sees neither the source nor its articles, and cannot follow it by name or id.
    [listing] = await bot.ask(BOB, "/sources")
    assert "Digest" not in listing.visible_text and "(following 2 of 2)" in listing.visible_text
    assert "Private memo leaks" not in await headlines(bot, BOB, "/headlines all 20")
    for typed in ("digest", "3"):
        [reply] = await bot.ask(BOB, f"/follow {typed}")
        assert reply.visible_text.startswith("No source matches")
    # The story the private feed shares with a public one stays Bob's to read.
    assert "Harbour FC wins the cup" in await headlines(bot, BOB)
    # Nor do search and inline mode find the private feed's own articles for anyone but its followers.
    [found] = await bot.ask(ANN, "/search memo")
    assert "Private memo leaks" in found.visible_text
    [found] = await bot.ask(BOB, "/search memo")
    assert "Private memo leaks" not in found.visible_text and found.visible_text.startswith("Nothing matches memo.")
    [found] = await bot.ask(BOB, "/search harbour cup")
    assert "Harbour FC wins the cup" in found.visible_text
    for user, query in ((BOB, "memo"), (BOB, "")):
        answer = await bot.api.wait_for_inline_answer(bot.api.user_sends_inline_query(user, query))
        assert "Private memo leaks" not in [result.title for result in answer.results]
    answer = await bot.api.wait_for_inline_answer(bot.api.user_sends_inline_query(ANN, "memo"))
    assert [result.title for result in answer.results] == ["Private memo leaks"]
    # Admins see it, marked, and can make it public.
    [admin_view] = await bot.ask(ADMIN, "/sources")
    assert "#3 Ann's Digest" in admin_view.visible_text and "🔒 private" in admin_view.visible_text

    # Removed by the last chat that follows it: the source goes, with the articles only it carried.
    [reply] = await bot.ask(ANN, "/remove digest")
    assert reply.visible_text.startswith("🗑 Removed #3 Ann's Digest: nobody follows it any more")
    async with bot.db.session() as session:
        assert await source_repo.get_source(session, 3) is None
        remaining = set(await session.scalars(select(Article.title)))
    assert "Private memo leaks" not in remaining and "Harbour FC wins the cup" in remaining
    [reply] = await bot.ask(ANN, "/remove digest")
    assert reply.visible_text.startswith("No source matches")


async def test_a_private_feed_is_shared_by_url_and_published_by_an_admin(bot: RunningBot, server: FeedServer) -> None:
    url = server.serve("/club.xml", rss("Club News", [("Training resumes", "On Monday.", [])]), content_type="text/xml")
    await bot.ask(ANN, f"/add {url}")
    [reply] = await bot.ask(BOB, f"/add {url}")
    assert reply.visible_text == "You now follow #1 Club News: it was a source already."
    async with bot.db.session() as session:
        assert int(await session.scalar(select(func.count()).select_from(Source)) or 0) == 1  # one row, one poll
    await bot.ask(ANN, "/remove 1")
    async with bot.db.session() as session:
        assert await source_repo.get_source(session, 1) is not None  # Bob still follows it
    [reply] = await bot.ask(ADMIN, "/publish 1")
    assert reply.visible_text.startswith("🌐 #1 Club News is public now")
    assert "Training resumes" in await headlines(bot, 777)  # a chat that never followed it


async def test_adding_own_feeds_has_a_cap_a_switch_and_clear_refusals(
    fake_api: FakeBotAPI, db_url: str, clock: Clock, server: FeedServer
) -> None:
    first = server.serve("/a.xml", rss("A", [("A one", "Text.", [])]), content_type="text/xml")
    second = server.serve("/b.xml", rss("B", [("B one", "Text.", [])]), content_type="text/xml")
    async with start_bot(fake_api, db_url, clock, max_sources_per_chat=1) as bot:
        await bot.ask(ANN, f"/add {first}")
        [reply] = await bot.ask(ANN, f"/add {second}")
        assert reply.visible_text == "You have 1 feeds of your own, the most a chat can have. /remove one first."
        [reply] = await bot.ask(ANN, f"/add {server.url('/missing.xml')}")
        assert reply.visible_text.startswith("You have 1 feeds")  # the cap is checked before fetching
        [reply] = await bot.ask(BOB, f"/add {server.url('/missing.xml')}")
        assert reply.visible_text.endswith("as a source: HTTP 404 Not Found")
        for bad in ("/add", "/add a b"):
            [reply] = await bot.ask(BOB, bad)
            assert reply.visible_text.startswith("Usage: /add <feed or page URL>")
    async with start_bot(fake_api, db_url, clock, allow_user_sources=False) as bot:
        [reply] = await bot.ask(BOB, f"/add {second}")
        assert reply.visible_text.startswith("Adding your own feeds is switched off")
        async with bot.db.session() as session:
            assert [s.url for s in await source_repo.list_sources(session)] == [first]


async def test_topics_are_merged_listed_and_chosen(bot: RunningBot, server: FeedServer) -> None:
    await add_public_sources(bot, server)
    [listing] = await bot.ask(ANN, "/topics")
    assert listing.visible_text.startswith("Topics of the last 7 days\nYou read every topic.")
    # "Economy" and "ECONOMY" are one topic, so are "Météo", " Météo " and "METEO" (under the usual spelling).
    labels = [text for text, _ in listing.buttons]
    assert labels == ["Economy (3)", "Météo (3)", "Sport (2)"]

    [(_, economy)] = [b for b in listing.buttons if b[0].startswith("Economy")]
    await bot.press(ANN, listing.message_id, economy, edit=True)
    assert "✅ Economy (3)" in [t for t, _ in bot.api.message(ANN, listing.message_id).buttons]
    [reply] = await bot.ask(ANN, "/headlines")
    assert set(titles(reply.visible_text)) == {
        "Oil prices climb as the central bank holds rates",
        "Café owners protest new rules",
        "Sanctions hit the club's owner",
    }
    assert reply.visible_text.endswith("🔎 Your selection: 1 topic · /headlines all shows everything")

    [reply] = await bot.ask(ANN, "/topics meteo, SPORT")
    assert reply.visible_text == "✅ You now read only: Météo, Sport."
    assert len(await headlines(bot, ANN)) == 4
    [reply] = await bot.ask(ANN, "/topics knitting")
    assert reply.visible_text.startswith("No recent article carries “knitting”, so nothing changed.")
    [reply] = await bot.ask(ANN, "/topics " + "x" * 600)
    assert reply.visible_text == "That is too long for a list of topics."
    assert len(await headlines(bot, ANN)) == 4
    [reply] = await bot.ask(ANN, "/topics all")
    assert reply.visible_text == "✅ You read every topic again."
    assert len(await headlines(bot, ANN)) == 5


async def test_keyword_filters_match_words_phrases_prefixes_and_exclusions(bot: RunningBot, server: FeedServer) -> None:
    await add_public_sources(bot, server)
    [reply] = await bot.ask(ANN, "/filter")
    assert reply.visible_text.startswith("Keyword filter\nNone: you read every article")

    [reply] = await bot.ask(ANN, '/filter +"central bank" sanction*')
    assert "Articles with any of: central bank, sanction*" in reply.visible_text.replace('"', "")
    assert set(await headlines(bot, ANN)) == {
        "Oil prices climb as the central bank holds rates",
        "Sanctions hit the club's owner",
    }
    # A phrase is whole consecutive words: "bank holds" matches, "bank rates" does not.
    await bot.ask(ANN, "/filter clear")
    await bot.ask(ANN, "/filter +CAFE")  # case and accents do not matter
    assert await headlines(bot, ANN) == ["Café owners protest new rules"]
    await bot.ask(ANN, '/filter +"harbour fc" -cup')
    assert await headlines(bot, ANN) == ["Café owners protest new rules"]
    [reply] = await bot.ask(ANN, "/filter remove -cup")
    assert "Never articles with" not in reply.visible_text
    assert set(await headlines(bot, ANN)) == {"Café owners protest new rules", "Harbour FC wins the cup"}
    [reply] = await bot.ask(ANN, "/headlines")
    assert reply.visible_text.endswith("🔎 Your selection: keywords · /headlines all shows everything")

    for bad, reason in (
        ("/filter +!!!", "❌ a term needs letters or digits. Nothing changed."),
        ('/filter +"central bank', "❌ unbalanced quote. Nothing changed."),
        ("/filter +" + "a" * 101, "❌ a term is at most 100 characters. Nothing changed."),
        ("/filter remove nothing", "Your filter has no term “nothing”. /filter shows it."),
    ):
        [reply] = await bot.ask(ANN, bad)
        assert reply.visible_text.startswith(reason), reply.visible_text
    assert set(await headlines(bot, ANN)) == {"Café owners protest new rules", "Harbour FC wins the cup"}
    [reply] = await bot.ask(ANN, "/filter clear")
    assert reply.visible_text.startswith("✅ Keyword filter cleared")
    assert len(await headlines(bot, ANN)) == 5


async def test_filters_work_in_any_script(bot: RunningBot, server: FeedServer) -> None:
    url = server.serve(
        "/intl.xml",
        rss(
            "Intl",
            [
                ("Санкции против банков расширены", "Текст новости.", []),
                ("Αθήνα: νέα μέτρα", "Κείμενο.", []),
                ("東京で地震", "本文。", []),
            ],
        ),  # fmt: skip
        content_type="text/xml",
    )
    await bot.ask(ADMIN, f"/addsource {url}")
    await bot.ask(ANN, "/filter санкции")
    assert await headlines(bot, ANN) == ["Санкции против банков расширены"]
    await bot.ask(ANN, "/filter clear")
    await bot.ask(ANN, "/filter ΑΘΗΝΑ")
    assert await headlines(bot, ANN) == ["Αθήνα: νέα μέτρα"]
    await bot.ask(ANN, "/filter clear")
    await bot.ask(ANN, '/filter "東京"')
    assert await headlines(bot, ANN) == ["東京で地震"]


async def test_bulletins_obey_each_chats_selection(bot: RunningBot, server: FeedServer) -> None:
    bot.clock.set(datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0))
    for chat in (ANN, BOB):
        await bot.ask(chat, "/timezone UTC")
        await bot.ask(chat, "/subscribe 07:00")
    await add_public_sources(bot, server)
    await bot.ask(ANN, "/filter -club -cup")
    await bot.ask(ANN, "/topics economy")

    bot.clock.set(bot.clock().replace(hour=7, minute=0, second=30))
    summary = await bot.run_bulletins()
    assert summary.sent == 2
    ann = bot.api.sent(ANN)[-1].visible_text
    bob = bot.api.sent(BOB)[-1].visible_text
    assert ann.startswith("Morning bulletin") and bob.startswith("Morning bulletin")
    assert set(titles(ann)) == {"Oil prices climb as the central bank holds rates", "Café owners protest new rules"}
    assert ann.endswith("🔎 Your selection: 1 topic · keywords")
    assert len(titles(bob)) == 5 and "Your selection" not in bob
    async with bot.db.session() as session:
        marks = {s.chat_id: s.last_article_id for s in await session.scalars(select(Subscriber))}
    assert marks[ANN] == marks[BOB] == 5  # both looked at every new article


async def test_bulletin_now_obeys_the_selection_and_says_so(bot: RunningBot, server: FeedServer) -> None:
    await add_public_sources(bot, server)
    await bot.ask(ANN, "/filter storm")
    [bulletin] = await bot.ask(ANN, "/bulletin")
    assert titles(bulletin.visible_text) == ["Storm closes northern ports"]
    assert bulletin.visible_text.endswith("🔎 Your selection: keywords")
    [bulletin] = await bot.ask(BOB, "/bulletin")
    assert len(titles(bulletin.visible_text)) == 5 and "Your selection" not in bulletin.visible_text


async def test_a_long_source_list_pages_and_admins_see_their_own_list_too(bot: RunningBot) -> None:
    now = datetime.now(UTC)
    async with bot.db.session() as session:
        for n in range(1, 11):
            await source_repo.add_source(session, f"https://feeds.example/{n}.xml", interval_minutes=15, now=now,
                                         title=f"Feed number {n}")  # fmt: skip
        await source_repo.add_source(session, "https://feeds.example/own.xml", interval_minutes=15, now=now,
                                     title="Someone's own", public=False, added_by=ANN)  # fmt: skip
    [first] = await bot.ask(ANN, "/sources")
    assert first.visible_text.startswith("Your sources (following 10 of 10) · page 1 of 2")
    assert "Feed number 8" in first.visible_text and "Feed number 9" not in first.visible_text
    assert "Someone's own" not in first.visible_text  # private to the chats that follow it
    [(_, next_page)] = [b for b in first.buttons if b[0] == "Next ›"]
    await bot.press(ANN, first.message_id, next_page, edit=True)
    second = bot.api.message(ANN, first.message_id)
    assert second.visible_text.startswith("Your sources (following 10 of 10) · page 2 of 2")
    assert "Feed number 9" in second.visible_text and "Feed number 10" in second.visible_text
    assert [text for text, _ in second.buttons][-1] == "‹ Previous"

    # An admin gets the health view, and their own follow list with `mine`; /unpublish makes a feed private.
    [health] = await bot.ask(ADMIN, "/sources")
    assert health.visible_text.startswith("Sources (11)")
    [mine] = await bot.ask(ADMIN, "/sources mine")
    assert mine.visible_text.startswith("Your sources (following 10 of 10)")
    [reply] = await bot.ask(ADMIN, "/unpublish 1")
    assert reply.visible_text.startswith("🔒 #1 Feed number 1 is private now")
    [listing] = await bot.ask(BOB, "/sources")
    assert listing.visible_text.startswith("Your sources (following 9 of 9)")
    [reply] = await bot.ask(ADMIN, "/publish 99")
    assert reply.visible_text == "There is no source #99. /sources lists them."


async def test_all_topics_button_and_more_past_the_choice(bot: RunningBot, server: FeedServer) -> None:
    await add_public_sources(bot, server)
    await bot.ask(ANN, "/topics sport")
    [listing] = await bot.ask(ANN, "/topics")
    [(_, everything)] = [b for b in listing.buttons if b[0] == "All topics"]
    await bot.press(ANN, listing.message_id, everything, edit=True)
    assert bot.api.message(ANN, listing.message_id).visible_text.startswith(
        "Topics of the last 7 days\nYou read every topic."
    )
    await bot.ask(ANN, "/filter storm")
    [page] = await bot.ask(ANN, "/headlines all 2")
    [(_, more)] = [b for b in page.buttons if b[0].startswith("More")]
    [older] = await bot.press(ANN, page.message_id, more, count=1)
    assert len(titles(older.visible_text)) == 2  # past the filter, which would give only one article
    assert older.visible_text.startswith("Latest headlines\n\n3. ")
