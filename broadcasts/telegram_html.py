"""Telegram's HTML (parse_mode=HTML), checked before a broadcast can be saved.

Telegram refuses a whole message whose markup it cannot parse ("can't parse entities"), so a
mistake would fail every recipient. This accepts what the Bot API documents and nothing else:
the tags b, strong, i, em, u, ins, s, strike, del, tg-spoiler, span class="tg-spoiler",
a href, tg-emoji emoji-id, code, pre (with code class="language-…" directly inside), blockquote
(optionally expandable); the entities &lt; &gt; &amp; &quot; and numeric ones; every other "<" and
"&" written as an entity. Nesting follows the documented rules: nothing inside code and pre but
pre's own code, no link in a link, no quote in a quote. An attribute written twice is refused:
a browser keeps the first, a parser may keep the last, and the check must judge what is shown.
The length limits count the text a buyer reads (markup removed, entities decoded) in UTF-16 code
units, as Telegram does.

`preview_html` shows a message in the admin: HTML rebuilt from the parsed tokens (whitelisted
tags and attributes, every text and value escaped), never the text as written.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

MESSAGE_MAX = 4096
CAPTION_MAX = 1024

TAGS = (
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "tg-spoiler",
    "span",
    "a",
    "tg-emoji",
    "code",
    "pre",
    "blockquote",
)
LINK_SCHEMES = ("https://", "http://", "tg://")
# The attributes each tag may have (code's class only directly inside pre: see _open).
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "a": ("href",),
    "span": ("class",),
    "tg-emoji": ("emoji-id",),
    "code": ("class",),
    "blockquote": ("expandable",),
}

_NAME = r"[A-Za-z][A-Za-z0-9-]*"
_VALUE = r"""(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+)"""
_TAG = re.compile(rf"<(/?)({_NAME})((?:\s+{_NAME}(?:\s*=\s*{_VALUE})?)*)\s*(/?)>")
_ATTRIBUTE = re.compile(rf"""\s+({_NAME})(?:\s*=\s*("([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#([0-9]{1,7})|#[xX]([0-9A-Fa-f]{1,6}));")
_EMOJI_ID = re.compile(r"^[0-9]{1,20}$")


class TelegramHtmlError(ValueError):
    """What Telegram would refuse, said so that the admin can fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class _Open:
    name: str
    line: int
    attributes: dict[str, str | None]


@dataclass(frozen=True)
class Tag:
    """A checked tag: its name (lower case) and, for an opening tag, its attributes with their
    values decoded (None for a bare attribute), each name once."""

    name: str
    closing: bool
    attributes: tuple[tuple[str, str | None], ...] = ()


# Decoded text, or a tag.
Token = str | Tag


def telegram_length(text: str) -> int:
    """Telegram's length of a text: UTF-16 code units (an emoji outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def check_telegram_html(text: str, *, limit: int = MESSAGE_MAX) -> str:
    """The visible text of `text`, or TelegramHtmlError for markup Telegram refuses or a text
    longer than `limit` (CAPTION_MAX under a picture)."""
    tokens = parse_telegram_html(text)
    visible = "".join(token for token in tokens if isinstance(token, str)).strip()
    length = telegram_length(visible)
    if length > limit:
        raise TelegramHtmlError(
            _("The text is %(length)s characters long (markup not counted); Telegram allows %(limit)s here.")
            % {"length": length, "limit": limit}
        )
    return visible


def parse_telegram_html(text: str) -> list[Token]:
    """`text` as decoded text and checked tags, or TelegramHtmlError for markup Telegram refuses
    (the length is not checked here)."""
    tokens: list[Token] = []
    opened: list[_Open] = []
    at = 0
    plain_from = 0  # where the text not yet added to the tokens starts
    while at < len(text):
        char = text[at]
        if char == "<":
            tag = _TAG.match(text, at)
            line = text.count("\n", 0, at) + 1
            if tag is None:
                raise TelegramHtmlError(
                    _("A “<” on line %(line)s does not start a tag: write &lt; to show it.") % {"line": line}
                )
            closing, name, attributes, self_closing = (
                tag.group(1) == "/",
                tag.group(2).lower(),
                tag.group(3),
                tag.group(4),
            )
            if name == "br":
                raise TelegramHtmlError(
                    _("Telegram does not know <br> (line %(line)s): start a new line instead.") % {"line": line}
                )
            if name not in TAGS:
                raise TelegramHtmlError(
                    _("<%(tag)s> on line %(line)s is not a tag Telegram supports. It knows: %(tags)s.")
                    % {"tag": name, "line": line, "tags": ", ".join(TAGS)}
                )
            if self_closing:
                raise TelegramHtmlError(
                    _("Telegram has no self-closing tags like <%(tag)s/> (line %(line)s).")
                    % {"tag": name, "line": line}
                )
            if at > plain_from:
                tokens.append(html.unescape(text[plain_from:at]))  # only entities checked below
            if closing:
                _close(opened, name=name, attributes=attributes, line=line)
                tokens.append(Tag(name=name, closing=True))
            else:
                parsed = _attributes(attributes, tag=name, line=line)
                opened.append(_open(opened, name=name, attributes=parsed, line=line))
                tokens.append(Tag(name=name, closing=False, attributes=tuple(parsed.items())))
            at = plain_from = tag.end()
        elif char == "&":
            entity = _ENTITY.match(text, at)
            if entity is None or not _valid_code_point(entity):
                line = text.count("\n", 0, at) + 1
                raise TelegramHtmlError(
                    _(
                        "An “&” on line %(line)s does not start an entity Telegram knows (&lt; &gt; &amp; &quot; "
                        "or a numeric one): write &amp; to show it."
                    )
                    % {"line": line}
                )
            at = entity.end()
        else:
            at += 1
    if opened:
        last = opened[-1]
        raise TelegramHtmlError(
            _("<%(tag)s> on line %(line)s is never closed: add </%(tag)s>.") % {"tag": last.name, "line": last.line}
        )
    if len(text) > plain_from:
        tokens.append(html.unescape(text[plain_from:]))
    return tokens


def link_allowed(href: str) -> bool:
    """A link the message may carry (and a browser may follow): https://, http:// or tg://."""
    return href.lower().startswith(LINK_SCHEMES)


def preview_html(text: str) -> SafeString:
    """The message as HTML for the admin's preview, rebuilt from its parsed tokens: only the
    whitelisted tags and attributes, every text and value escaped, links only to LINK_SCHEMES.
    A text Telegram would refuse is shown as it was written, as plain text."""
    try:
        tokens = parse_telegram_html(text)
    except TelegramHtmlError:
        return format_html("<pre>{}</pre>", text)
    parts: list[str] = []
    for token in tokens:
        if isinstance(token, str):
            parts.append(escape(token))
        elif token.closing:
            parts.append(f"</{token.name}>")
        else:
            parts.append(_start_tag(token))
    return mark_safe("".join(parts))  # noqa: S308 - built above from whitelisted names and escaped values


def _start_tag(tag: Tag) -> str:
    assert tag.name in TAGS  # noqa: S101 - parse_telegram_html refuses every other name
    attributes = []
    for name, value in tag.attributes:
        if name not in ATTRIBUTES.get(tag.name, ()):
            continue
        if value is None:
            attributes.append(f" {name}")
            continue
        if name == "href":
            value = value.strip()
            if not link_allowed(value):
                continue
        attributes.append(f' {name}="{escape(value)}"')
    return f"<{tag.name}{''.join(attributes)}>"


def _valid_code_point(entity: re.Match) -> bool:
    decimal, hexadecimal = entity.group(1), entity.group(2)
    if decimal is None and hexadecimal is None:
        return True
    value = int(decimal) if decimal is not None else int(hexadecimal, 16)
    return 0 < value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF


def _attributes(raw: str, *, tag: str, line: int) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for match in _ATTRIBUTE.finditer(raw):
        name = match.group(1).lower()
        if name in found:
            # A browser keeps the first, Telegram may keep the last: what is checked would not be what is shown.
            raise TelegramHtmlError(
                _("<%(tag)s> on line %(line)s has the attribute “%(attribute)s” twice: write it once.")
                % {"tag": tag, "line": line, "attribute": name}
            )
        if match.group(2) is None:
            found[name] = None  # a bare attribute: <blockquote expandable>
        else:
            value = next(v for v in (match.group(3), match.group(4), match.group(5)) if v is not None)
            found[name] = html.unescape(value)
    return found


def _close(opened: list[_Open], *, name: str, attributes: str, line: int) -> None:
    if attributes.strip():
        raise TelegramHtmlError(
            _("A closing tag has no attributes (</%(tag)s>, line %(line)s).") % {"tag": name, "line": line}
        )
    if not opened:
        raise TelegramHtmlError(
            _("</%(tag)s> on line %(line)s closes a tag that was never opened.") % {"tag": name, "line": line}
        )
    if opened[-1].name != name:
        raise TelegramHtmlError(
            _("</%(tag)s> on line %(line)s does not match the open <%(open)s> (line %(open_line)s): close that first.")
            % {"tag": name, "line": line, "open": opened[-1].name, "open_line": opened[-1].line}
        )
    opened.pop()


def _open(opened: list[_Open], *, name: str, attributes: dict[str, str | None], line: int) -> _Open:
    parent = opened[-1].name if opened else None
    names = {tag.name for tag in opened}
    pre_code = parent == "pre" and name == "code"
    inside_code = parent in ("code", "pre") and not pre_code
    if inside_code or (name in ("a", "blockquote") and name in names):
        raise TelegramHtmlError(
            _("<%(inner)s> cannot be inside <%(outer)s> (line %(line)s): Telegram does not allow it.")
            % {"inner": name, "outer": parent if parent in ("code", "pre") else name, "line": line}
        )
    allowed = () if name == "code" and not pre_code else ATTRIBUTES.get(name, ())
    for attribute in attributes:
        if attribute not in allowed:
            if name == "code" and attribute == "class":
                raise TelegramHtmlError(
                    _('A language (class="language-…") goes on <code> only directly inside <pre> (line %(line)s).')
                    % {"line": line}
                )
            raise TelegramHtmlError(
                _("<%(tag)s> on line %(line)s takes no attribute “%(attribute)s”.")
                % {"tag": name, "line": line, "attribute": attribute}
            )
    if name == "a":
        if not link_allowed((attributes.get("href") or "").strip()):
            raise TelegramHtmlError(
                _('The link on line %(line)s needs href="https://…" (https://, http:// or tg://).') % {"line": line}
            )
    elif name == "span" and attributes.get("class") != "tg-spoiler":
        raise TelegramHtmlError(
            _('<span> on line %(line)s is only for spoilers: <span class="tg-spoiler">.') % {"line": line}
        )
    elif name == "tg-emoji" and not _EMOJI_ID.match(attributes.get("emoji-id") or ""):
        raise TelegramHtmlError(_('<tg-emoji> on line %(line)s needs emoji-id="…" (digits).') % {"line": line})
    elif name == "code" and "class" in attributes and not (attributes["class"] or "").startswith("language-"):
        raise TelegramHtmlError(_('<code> on line %(line)s takes only class="language-…".') % {"line": line})
    elif name == "blockquote" and attributes.get("expandable", None) is not None:
        raise TelegramHtmlError(_("Write <blockquote expandable> without a value (line %(line)s).") % {"line": line})
    return _Open(name=name, line=line, attributes=attributes)
