import re

import pytest

from bridge.slack.text import escape, link, mentioned_users, to_plain, unescape

NAMES = {"U123": "Bob Smith", "W456": "Ann"}
INJECTIONS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<https://evil.example|click>",
    "<!subteam^S1|@oncall>",
    "<#C123|general>",
]
# Any of these in posted text would be a live token.
LIVE_TOKEN = re.compile(r"<[^<>]*>")


@pytest.mark.parametrize("attack", INJECTIONS)
def test_escape_makes_tokens_inert(attack: str) -> None:
    escaped = escape(f"hi {attack} there")
    assert LIVE_TOKEN.search(escaped) is None
    assert "<" not in escaped and ">" not in escaped


def test_escape_escapes_ampersand_first() -> None:
    assert escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert escape("&lt;") == "&amp;lt;"


@pytest.mark.parametrize("attack", INJECTIONS)
def test_escape_round_trips_through_to_plain(attack: str) -> None:
    assert to_plain(escape(attack), NAMES) == attack


def test_link_plain() -> None:
    assert link("https://example.com/a", "Example") == "<https://example.com/a|Example>"
    assert link("https://example.com/a", None) == "<https://example.com/a>"
    assert link("https://example.com/a", "") == "<https://example.com/a>"


def test_link_label_cannot_break_out() -> None:
    out = link("https://ok.example", "x> <!channel> | <https://evil|y")
    assert out.startswith("<https://ok.example|")
    assert out.endswith(">")
    inner = out[1:-1]
    assert "<" not in inner and ">" not in inner
    assert inner.count("|") == 1
    assert "&lt;!channel&gt;" in inner


def test_link_url_is_encoded() -> None:
    out = link("https://ok.example/a b|c<d>e", "label")
    assert out == "<https://ok.example/a%20b%7Cc%3Cd%3Ee|label>"
    assert link("https://x.example/?a=1&b=2", None) == "<https://x.example/?a=1&amp;b=2>"
    assert "\n" not in link("https://x.example/\nnext", None)


def test_link_reads_back_as_plain() -> None:
    assert to_plain(link("https://x.example/?a=1&b=2", "A & B"), {}) == (
        "A & B (https://x.example/?a=1&b=2)"
    )


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("hello <@U123>", "hello @Bob Smith"),
        ("<@U123|bob>", "@Bob Smith"),
        ("<@U999|carol>", "@carol"),
        ("<@U999>", "@U999"),
        ("<@W456> ok", "@Ann ok"),
        ("see <#C123|general>", "see #general"),
        ("see <#C123>", "see #C123"),
        ("<!here> <!channel> <!everyone>", "@here @channel @everyone"),
        ("<!here|here>", "@here"),
        ("<!subteam^S123|@team> help", "@team help"),
        ("<!subteam^S123>", "@S123"),
        (
            "<!date^1392734382^{date_num} {time_secs}|2014-02-18 6:39:42 AM>",
            "2014-02-18 6:39:42 AM",
        ),
        ("<https://example.com|Example>", "Example (https://example.com)"),
        ("<https://example.com|https://example.com>", "https://example.com"),
        ("<https://example.com>", "https://example.com"),
        ("<mailto:a@b.c|a@b.c>", "a@b.c"),
        ("<mailto:a@b.c>", "a@b.c"),
        ("<mailto:a@b.c|write us>", "write us (mailto:a@b.c)"),
        ("<https://x.io/?a=1&amp;b=2|A &amp; B>", "A & B (https://x.io/?a=1&b=2)"),
        ("a &lt; b &gt; c &amp; d", "a < b > c & d"),
        ("&amp;lt;", "&lt;"),
        ("&lt;@U123&gt;", "<@U123>"),
        ("&lt;!channel&gt;", "<!channel>"),
        ("plain text", "plain text"),
        ("", ""),
    ],
)
def test_to_plain(text: str, plain: str) -> None:
    assert to_plain(text, NAMES) == plain


def test_to_plain_does_not_decode_names() -> None:
    assert to_plain("<@U1>", {"U1": "A &amp; B"}) == "@A &amp; B"


def test_to_plain_empty_name_falls_back() -> None:
    assert to_plain("<@U1|al>", {"U1": ""}) == "@al"


def test_unescape_single_pass() -> None:
    assert unescape("&amp;amp; &amp;gt; &lt;") == "&amp; &gt; <"


def test_mentioned_users() -> None:
    text = "hi <@U123> and <@W456|ann>, not &lt;@U777&gt; nor <#C1> nor <!here>; <@U123> again"
    assert mentioned_users(text) == {"U123", "W456"}
    assert mentioned_users("nobody") == set()
