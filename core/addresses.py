"""Email addresses and display names: validated and normalised once, at the door, and checked again before
they go into a message, so neither the send log nor a header ever meets a bad one.

Addresses are stored in their normalised Unicode form (``用户@例子.中国``). In a message the domain is
always written IDNA-encoded (``xn--fsqu00a.xn--fiqs8s``), in the envelope and in the headers alike, so an
address with an ASCII local part travels over any SMTP server; only a non-ASCII local part needs the
server's SMTPUTF8 extension (see :func:`needs_smtputf8`). A display name is one line of text: no control
characters (C0, C1, DEL), no line or paragraph separators, no bidirectional overrides, at most
:data:`NAME_MAX` characters.
"""

from __future__ import annotations

import unicodedata
from email.headerregistry import Address
from email.utils import parseaddr

from email_validator import EmailNotValidError, validate_email

NAME_MAX = 100
# Invisible characters that reorder the text around them: a name could make a header read as something else.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class AddressError(ValueError):
    """An address or display name that cannot go into a message; ``str()`` is one line naming it and why."""


def normalise_address(address: str) -> str:
    """The address in canonical form (domain lowercased, IDN-normalised); syntax only, no DNS lookups."""
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise AddressError(f"{address!r} is not a valid email address: {e}") from None


def check_name(name: str | None) -> str | None:
    """The display name, stripped (None when empty); refused when it is not one short line of text."""
    if name is None or not name.strip():
        return None
    name = name.strip()
    for char in name:
        category = unicodedata.category(char)
        if category in ("Cc", "Cs", "Zl", "Zp") or char in _BIDI_CONTROLS:
            what = "a line break" if char in "\r\n\v\f\x85\u2028\u2029" else "a control character"
            raise AddressError(f"name {name!r} contains {what} (U+{ord(char):04X}); a name is one line of text")
    if len(name) > NAME_MAX:
        raise AddressError(f"name {name[:20]!r}… is {len(name)} characters long (at most {NAME_MAX})")
    return name


def header_address(address: str, name: str | None = None) -> Address:
    """A checked mailbox for a header and the envelope: the domain IDNA-encoded, the name one line of text."""
    display_name = check_name(name) or ""
    try:
        valid = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as e:
        raise AddressError(f"{address!r} is not a valid email address: {e}") from None
    return Address(display_name=display_name, username=valid.local_part, domain=valid.ascii_domain)


def needs_smtputf8(*addresses: Address) -> bool:
    """True when a local part is not ASCII: such a message can only go to a server that offers SMTPUTF8."""
    return not all(a.username.isascii() for a in addresses)


def parse_mailbox(mailbox: str) -> Address:
    """``"Name <user@host>"`` or a bare address, as a header-ready Address."""
    name, address = parseaddr(mailbox)
    if not address or ("<" in mailbox and not mailbox.rstrip().endswith(">")):
        raise AddressError(f"{mailbox!r} is not a mailbox like 'PolicyWatch <digest@example.org>'")
    return header_address(address, name)
