"""Telegram's HTML as the broadcast form checks it: what Telegram takes passes, what it refuses is
explained, and what passes is what the fake Bot API (which parses like Telegram) accepts."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcasts.telegram_html import (
    CAPTION_MAX,
    MESSAGE_MAX,
    TAGS,
    TelegramHtmlError,
    check_telegram_html,
    preview_html,
    telegram_length,
)
from integrations.telegram import client, reset_client

ACCEPTED = [
    "Plain text, no markup",
    "<b>bold</b> <strong>bold</strong> <i>it</i> <em>it</em> <u>u</u> <ins>u</ins>",
    "<s>s</s> <strike>s</strike> <del>d</del>",
    '<tg-spoiler>secret</tg-spoiler> and <span class="tg-spoiler">secret</span>',
    '<a href="https://example.com/offer?a=1&amp;b=2">offer</a> <a href="tg://user?id=42">you</a>',
    '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
    "<code>x &lt; y &amp;&amp; y &gt; z</code>",
    '<pre><code class="language-python">print("hi")</code></pre>',
    "<blockquote>quoted\nover two lines</blockquote>",
    "<blockquote expandable>a long quote</blockquote>",
    "<b>bold <i>italic bold <u>underlined</u></i></b>",
    "&#128512; &#x1F600; &quot;quoted&quot; 2 > 1",
    "<B>upper-case tags</B>",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_what_telegram_takes_passes(text):
    assert check_telegram_html(text)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("<p>paragraph</p>", "not a tag Telegram supports"),
        ("line<br>break", "does not know <br>"),
        ("1 < 2", "does not start a tag"),
        ("Tom & Jerry", "does not start an entity"),
        ("&nbsp;", "does not start an entity"),
        ("&#0;", "does not start an entity"),
        ("<b>never closed", "never closed"),
        ("<b>crossed <i>tags</b></i>", "does not match the open <i>"),
        ("closed </b>", "never opened"),
        ("<b/>", "self-closing"),
        ('<b class="x">bold</b>', "takes no attribute"),
        ("<a>no link</a>", "needs href"),
        ('<a href="javascript:alert(1)">x</a>', "needs href"),
        ('<a href="java&#115;cript:alert(1)">x</a>', "needs href"),
        ('<a href="https://x" onclick="steal()">x</a>', "takes no attribute"),
        ("<span>plain span</span>", "only for spoilers"),
        ('<tg-emoji emoji-id="abc">👍</tg-emoji>', "emoji-id"),
        ('<code class="language-python">x</code>', "only directly inside <pre>"),
        ("<code><b>bold code</b></code>", "cannot be inside <code>"),
        ('<a href="https://a"><a href="https://b">x</a></a>', "cannot be inside <a>"),
        ("<blockquote><blockquote>x</blockquote></blockquote>", "cannot be inside <blockquote>"),
        ('<blockquote expandable="yes">x</blockquote>', "without a value"),
    ],
)
def test_what_telegram_refuses_is_explained(text, says):
    with translation.override("en"), pytest.raises(TelegramHtmlError) as refused:
        check_telegram_html(text)

    assert says in refused.value.message


def test_the_error_names_the_line():
    with translation.override("en"), pytest.raises(TelegramHtmlError, match="line 3"):
        check_telegram_html("first\nsecond\nthird <p>")


def test_errors_are_in_russian_for_a_russian_admin():
    with translation.override("ru"), pytest.raises(TelegramHtmlError) as refused:
        check_telegram_html("Tom & Jerry")

    assert "&amp;" in refused.value.message and "строке 1" in refused.value.message


def test_the_limit_counts_what_the_buyer_reads_in_utf16_units():
    markup_heavy = "<b>" + "x" * MESSAGE_MAX + "</b>"  # 4096 visible characters: allowed
    emoji = "😀" * (CAPTION_MAX // 2 + 1)  # each counts twice in UTF-16

    assert telegram_length(check_telegram_html(markup_heavy)) == MESSAGE_MAX
    with translation.override("en"), pytest.raises(TelegramHtmlError, match="Telegram allows 1024"):
        check_telegram_html(emoji, limit=CAPTION_MAX)
    with pytest.raises(TelegramHtmlError):
        check_telegram_html("x" * (MESSAGE_MAX + 1))


@pytest.mark.parametrize("text", ACCEPTED)
def test_the_fake_bot_api_accepts_what_passes(fake_telegram, text):
    # the fake parses parse_mode=HTML like Telegram does (tests/fakes/telegram_server.check_html)
    reset_client()
    try:
        client().send_message(chat_id=42, text=text)
    finally:
        reset_client()

    assert fake_telegram.sent_texts(42) == [text]


# --- The admin's preview: what is checked is what is shown --------------------------------------

PREVIEW_ATTRIBUTES = {"href", "class", "emoji-id", "expandable"}


class _Markup(HTMLParser):
    """Every start tag of an HTML text as a browser-like parser reads it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def start_tags(markup: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Markup()
    parser.feed(markup)
    parser.close()
    return parser.tags


@pytest.mark.parametrize(
    "text",
    [
        '<a href="javascript:alert(1)" href="https://ok.example">x</a>',
        '<a href="https://ok.example" HREF="javascript:alert(1)">x</a>',
        "<a href='javascript:alert(1)' href=https://ok.example>x</a>",
        '<span class="tg-spoiler" class="tg-spoiler">x</span>',
        "<blockquote expandable expandable>x</blockquote>",
    ],
)
def test_an_attribute_written_twice_is_refused(text):
    with translation.override("en"), pytest.raises(TelegramHtmlError, match="twice"):
        check_telegram_html(text)


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "\tjavascript:alert(1)",
        "java\nscript:alert(1)",
        "&#106;avascript:alert(1)",
        "&#x6A;avascript:alert(1)",
        "&#X4a;AVASCRIPT:alert(1)",
        "jav&#x09;ascript:alert(1)",
        "javascript&colon;alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "DATA:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "VbScRiPt:msgbox(1)",
        "//evil.example/",
        "https:/evil.example",
    ],
)
def test_a_link_to_anything_but_http_https_or_tg_is_refused(href):
    with translation.override("en"), pytest.raises(TelegramHtmlError, match="needs href"):
        check_telegram_html(f'<a href="{href}">x</a>')


def test_the_preview_is_rebuilt_with_whitelisted_attributes_only():
    text = (
        '<B>bold</B> <a HREF = "https://shop.example/?a=1&amp;b=&quot;2&quot;">offer</a> '
        '<span class="tg-spoiler">s</span> <tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>\n'
        "<pre><code class='language-x\" onclick=\"alert(1)'>print(1 &lt; 2)</code></pre>"
        "<blockquote expandable>&#60;script&#62;alert(1)&#60;/script&#62;</blockquote>"
    )

    preview = preview_html(text)

    tags = start_tags(preview)
    assert [name for name, _attrs in tags] == ["b", "a", "span", "tg-emoji", "pre", "code", "blockquote"]
    assert {name for _tag, attrs in tags for name, _value in attrs} <= PREVIEW_ATTRIBUTES
    assert dict(tags[1][1]) == {"href": 'https://shop.example/?a=1&b="2"'}
    assert dict(tags[5][1]) == {"class": 'language-x" onclick="alert(1)'}  # one escaped value, no handler
    assert "<script" not in preview and "&lt;script&gt;alert(1)&lt;/script&gt;" in preview


def test_a_text_telegram_would_refuse_is_previewed_as_plain_text():
    text = '<a href="javascript:alert(1)" href="https://ok.example">x</a><img src=x onerror=alert(1)>'

    preview = preview_html(text)

    assert start_tags(preview) == [("pre", [])]
    assert preview.startswith("<pre>&lt;a href=&quot;javascript:alert(1)&quot;")


# Pieces of markup, attack and harmless, that the generated texts are glued from.
FRAGMENTS = st.sampled_from(
    [
        "<a href=",
        '<a href="https://ok.example">',
        '<a href="javascript:alert(1)">',
        "<a href='",
        "</a>",
        "<b>",
        "</b>",
        "<code>",
        "</code>",
        "<pre>",
        "</pre>",
        '<code class="language-',
        '<span class="tg-spoiler">',
        "</span>",
        "<blockquote expandable>",
        "</blockquote>",
        '<tg-emoji emoji-id="1">',
        "</tg-emoji>",
        "<script>",
        "</script>",
        "<img src=x onerror=alert(1)>",
        " href=",
        " HREF=",
        " onclick=",
        " onmouseover='alert(1)'",
        " class=",
        "javascript:",
        "JaVaScRiPt:",
        "&#106;avascript:",
        "data:",
        "https://",
        "tg://",
        '"',
        "'",
        ">",
        "<",
        "/",
        "=",
        " ",
        "\n",
        "&amp;",
        "&lt;",
        "&quot;",
        "&#60;",
        "&#x3C;",
        "&",
    ]
)


# Attribute values, hostile and harmless, and the ways to quote them.
VALUES = st.one_of(
    st.sampled_from(
        [
            "https://ok.example/?a=1&amp;b=2",
            "tg://user?id=1",
            "javascript:alert(1)",
            " JaVaScRiPt:alert(1)",
            "&#106;avascript:alert(1)",
            "data:text/html,x",
            "vbscript:x",
            "tg-spoiler",
            "language-python",
            'language-x" onclick="alert(1)',
            "language-x' onclick='alert(1)",
            'https://x" onmouseover="alert(1)',
            "5368324170671202286",
        ]
    ),
    st.text(max_size=8),
)
ATTRIBUTE = st.builds(
    lambda name, value, quote: f" {name}" if quote is None else f" {name}={quote}{value}{quote}",
    st.sampled_from(["href", "HREF", "class", "emoji-id", "expandable", "onclick", "style", "src"]),
    VALUES,
    st.sampled_from(['"', "'", "", None]),
)


def _element(children):
    return st.builds(
        lambda tag, attributes, inner: f"<{tag}{''.join(attributes)}>{''.join(inner)}</{tag}>",
        st.sampled_from([*TAGS, "script", "img"]),
        st.lists(ATTRIBUTE, max_size=3),
        st.lists(children, max_size=3),
    )


# Text Telegram takes: anything but "<" and "&", and entities.
PLAIN = st.one_of(
    st.text(st.characters(blacklist_characters="<&", blacklist_categories=("Cs",)), max_size=6),
    st.sampled_from(["&lt;script&gt;", "&amp;", "&quot;", "&#60;", "&#x3C;img onerror=x&#62;", "javascript:"]),
)
# Links Telegram takes, some with a quote or markup inside the value.
LINKS = st.builds(
    lambda scheme, rest, quote: f"{quote}{scheme}{rest}{quote}",
    st.sampled_from(["https://", "HTTP://", "tg://", " https://"]),
    st.sampled_from(
        ["ok.example", 'x" onclick="alert(1)', "x' onclick='alert(1)", "x?a=&lt;script&gt;", "x/javascript:"]
    ),
    st.sampled_from(['"', "'"]),
).filter(lambda value: value[1:-1].count(value[0]) == 0)


def _accepted_element(children):
    """Markup that mostly passes the check, so that the rebuilt preview is what gets tested."""
    inner = st.lists(children, max_size=3).map("".join)
    return st.one_of(
        st.builds(
            lambda tag, inner: f"<{tag}>{inner}</{tag}>", st.sampled_from(["b", "i", "u", "s", "tg-spoiler"]), inner
        ),
        st.builds(lambda href, text: f"<a href={href}>{text}</a>", LINKS, PLAIN),
        st.builds(lambda inner: f'<span class="tg-spoiler">{inner}</span>', inner),
        st.builds(lambda inner: f"<blockquote expandable>{inner}</blockquote>", inner),
        st.builds(lambda value, text: f"<pre><code class='language-{value}'>{text}</code></pre>", VALUES, PLAIN),
        st.builds(lambda text: f'<tg-emoji emoji-id="42">{text}</tg-emoji>', PLAIN),
    )


TEXTS = st.one_of(
    st.recursive(PLAIN, _accepted_element, max_leaves=10),
    st.recursive(st.one_of(st.text(max_size=6), FRAGMENTS), _element, max_leaves=12),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=4)), max_size=30).map("".join),
)


@settings(max_examples=800, deadline=None)
@given(TEXTS)
def test_no_text_makes_the_preview_run_script(text):
    preview = preview_html(text)

    assert "<script" not in preview.lower()
    for tag, attrs in start_tags(preview):
        assert tag in TAGS or tag == "pre"
        for name, value in attrs:
            assert name in PREVIEW_ATTRIBUTES and not name.startswith("on")
            if name == "href":
                # the scheme a browser would follow: never javascript:, data: or vbscript:
                assert urlsplit(value or "").scheme.lower() in ("https", "http", "tg")
