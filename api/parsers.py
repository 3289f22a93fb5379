"""The API's JSON parser, and the bounds every JSON body is held to before it is
decoded (the Idempotency-Key fingerprint decodes the body too): a few kilobytes and a
few levels are all the API takes, and a body far past them is refused with 400 before
the decoder (which recurses once per level) or anything else works on it."""

from __future__ import annotations

import io
import re

from django.http.request import RawPostDataException
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from core.errors import ApplicationError

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 32

# A JSON string (escapes included): its brackets are text, not nesting.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


class BodyRefused(ApplicationError):
    """A body past the bounds: answered like any unparsable JSON (400 parse_error)."""

    code = "parse_error"
    status = 400


def body_check(raw: bytes) -> None:
    """Refuse a body larger than MAX_BODY_BYTES or nested deeper than MAX_DEPTH,
    without decoding it (the scan does not recurse)."""
    if len(raw) > MAX_BODY_BYTES:
        raise body_too_large()
    depth = deepest = 0
    for bracket in _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        if bracket in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    raise BodyRefused(
                        f"JSON parse error - nested deeper than {MAX_DEPTH} levels.", details={"max_depth": MAX_DEPTH}
                    )
        else:
            depth -= 1


def body_too_large() -> BodyRefused:
    return BodyRefused(
        f"The request body is larger than {MAX_BODY_BYTES} bytes.", details={"max_bytes": MAX_BODY_BYTES}
    )


def request_body(request) -> bytes | None:
    """The raw body within the bounds (BodyRefused otherwise), or None when it was
    already consumed as a form."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise body_too_large()  # before Django reads it
    try:
        raw = request.body
    except RawPostDataException:
        return None
    body_check(raw)
    return raw


class StrictJSONParser(JSONParser):
    """JSON within the bounds above, whose strings are valid Unicode: a lone surrogate
    (legal as a JSON escape) cannot be stored or rendered, so it is a parse error, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
        body_check(raw)
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:  # not reached within MAX_DEPTH; never a 500 if it were
            raise ParseError("JSON parse error - nested too deeply.")
        if _has_lone_surrogate(data):
            raise ParseError("JSON parse error - strings must be valid Unicode (no lone surrogates).")
        return data


def _has_lone_surrogate(value) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False
