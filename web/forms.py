"""Request bodies and form tokens: every byte a browser or a mail client posts is read here, within limits.

A body is read only up to :data:`MAX_BODY` bytes (a larger declared or sent body is refused before it is parsed),
as ``application/x-www-form-urlencoded`` (what browsers send) or ``multipart/form-data`` (what RFC 8058 asks mail
clients to prefer for a one-click unsubscribe), in strict UTF-8, with at most :data:`MAX_FIELDS` fields. Anything
else is a :class:`FormError`: one line, answered with a 4xx page, and nothing is stored.

Forms carry a token signed over a random cookie of the browser's (policywatch.deliver.tokens); a page on another site
can neither read the cookie nor make the token, so it cannot post the form for someone.
"""

from __future__ import annotations

import re
import secrets
from email import policy
from email.parser import BytesParser
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from policywatch.deliver.tokens import TokenError, make_form_token, verify_form_token

MAX_BODY = 16 * 1024  # bytes: a subscribe form with every region ticked is about 2 KB
MAX_FIELDS = 200
COOKIE = "pw_form"
FORM_SECONDS = 4 * 3600  # a form left open longer must be reloaded
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_-]{32}$")


class FormError(ValueError):
    """A request body that cannot be read as a form; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Form:
    """The fields of a posted form, in order; names may repeat (checkboxes)."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self.fields = fields

    def many(self, name: str) -> tuple[str, ...]:
        """Every value of a repeated field (ticked checkboxes), without empty ones or repeats."""
        return tuple(dict.fromkeys(v.strip() for k, v in self.fields if k == name and v.strip()))

    def one(self, name: str) -> str:
        """The one value of a field ("" when absent); a field sent twice is refused, not guessed at."""
        values = [v for k, v in self.fields if k == name]
        if len(values) > 1:
            raise FormError(f"field {name!r} was sent {len(values)} times; a form sends it once")
        return values[0] if values else ""


async def read_form(request: Request) -> Form:
    """The posted form, read within the limits above; FormError for anything else."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise FormError(f"the request body is larger than {MAX_BODY} bytes", 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise FormError(f"the request body is larger than {MAX_BODY} bytes", 413)
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        fields = _urlencoded(bytes(body))
    elif kind == "multipart/form-data":
        fields = _multipart(bytes(body), request.headers["content-type"])
    else:
        raise FormError(f"a form is sent as application/x-www-form-urlencoded or multipart/form-data, not "
                        f"{kind[:60] or 'without a Content-Type'}", 415)
    if len(fields) > MAX_FIELDS:
        raise FormError(f"the form has more than {MAX_FIELDS} fields")
    return Form(fields)


def _urlencoded(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, encoding="utf-8",
                         errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise FormError("the form is not valid UTF-8") from None
    except ValueError:
        raise FormError(f"the form has more than {MAX_FIELDS} fields") from None


def _multipart(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """The text fields of a multipart/form-data body; a file in it is refused, no form here takes one."""
    try:
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
        if not message.is_multipart():
            raise FormError("the multipart/form-data body has no parts (is its boundary right?)")
        fields = []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str) or part.get_filename() is not None:
                raise FormError("a multipart/form-data part is not a named text field")
            fields.append((name, part.get_payload(decode=True).decode("utf-8")))
    except (UnicodeError, LookupError):
        raise FormError("the form is not valid UTF-8") from None
    if len(fields) > MAX_FIELDS:
        raise FormError(f"the form has more than {MAX_FIELDS} fields")
    return fields


def form_cookie(request: Request) -> tuple[str, bool]:
    """This browser's form cookie, or a new one: (value, whether it is new and must be set)."""
    value = request.cookies.get(COOKIE, "")
    return (value, False) if _COOKIE_VALUE.match(value) else (secrets.token_urlsafe(24), True)


def form_token(secret: bytes, cookie: str, now: float) -> str:
    """The token a form carries, valid for FORM_SECONDS with this cookie."""
    return make_form_token(secret, cookie, int(now) + FORM_SECONDS)


def set_form_cookie(response: Response, request: Request, cookie: str) -> None:
    """Give the browser its form cookie: not readable by scripts, not sent with other sites' posts, and sent over
    https only when the page is served over https (behind the reverse proxy)."""
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        path="/")


def check_form_token(secret: bytes, request: Request, form: Form, now: float) -> None:
    """FormError (403) unless the form's token was made for this browser's cookie and has not expired."""
    try:
        verify_form_token(secret, form.one("csrf"), request.cookies.get(COOKIE, ""), now)
    except TokenError as e:
        raise FormError(str(e), 403) from None
