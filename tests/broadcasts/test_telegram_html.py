"""Telegram's HTML as the broadcast form checks it: what Telegram takes passes, what it refuses is
explained, and what passes is what the fake Bot API (which parses like Telegram) accepts."""

from __future__ import annotations

import pytest
from django.utils import translation

from broadcasts.telegram_html import CAPTION_MAX, MESSAGE_MAX, TelegramHtmlError, check_telegram_html, telegram_length
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
