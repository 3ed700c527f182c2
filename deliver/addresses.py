"""Email addresses: validated and normalised once, at the door, so the send log never meets a bad one."""

from __future__ import annotations

from email.headerregistry import Address
from email.utils import parseaddr

from email_validator import EmailNotValidError, validate_email


class AddressError(ValueError):
    """An address that cannot receive mail; ``str()`` names it and says why."""


def normalise_address(address: str) -> str:
    """The address in canonical form (domain lowercased, IDN-normalised); syntax only, no DNS lookups."""
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise AddressError(f"{address!r} is not a valid email address: {e}") from None


def parse_mailbox(mailbox: str) -> Address:
    """``"Name <user@host>"`` or a bare address, as a header-ready Address."""
    name, address = parseaddr(mailbox)
    if not address or ("<" in mailbox and not mailbox.rstrip().endswith(">")):
        raise AddressError(f"{mailbox!r} is not a mailbox like 'PolicyWatch <digest@example.org>'")
    username, domain = normalise_address(address).rsplit("@", 1)
    return Address(display_name=name, username=username, domain=domain)
