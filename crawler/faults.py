"""Which exceptions are a page's fault and which are the code's.

Malformed pages and files make parsing libraries raise all kinds of errors: those are a property of the page,
recorded on its fetch, and the crawl goes on. A missing module, a misspelt name or a wrong call is not: recorded on
every page it would read as "extraction failed", it looks like hundreds of broken pages while the crawl reports
success. Such errors stop the crawl instead (policywatch.crawler.run), with one line saying what broke.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

# In PolicyWatch's own code these are bugs; inside a parsing library (lxml, pypdf, …) they are usually its
# reaction to malformed input, so they count as the page's: one hostile page must not stop every crawl.
_IN_OWN_CODE = (AttributeError, TypeError, NameError)
# The folder holding PolicyWatch's packages: the source tree, or site-packages/policywatch when installed.
_ROOT = Path(__file__).resolve().parent.parent
_OWN = tuple(f"{_ROOT / package}{os.sep}" for package in ("core", "crawler", "detection", "digest"))


class ReportedProgrammingError(Exception):
    """A programming error raised in another process (an attachment reader's worker), where its traceback cannot
    follow: known by what it was (``what``: the error and its message) and where in PolicyWatch it was raised."""

    def __init__(self, what: str, where: str | None = None) -> None:
        super().__init__(what)
        self.what, self.where = what, where


def is_programming_error(error: BaseException) -> bool:
    """Whether ``error`` is the code's fault (stop the crawl) rather than the page's (record it, go on).

    An import that fails is the installation's fault wherever it happens, and so is a module that does not compile
    (a SyntaxError naming a .py file: lxml's XMLSyntaxError, a malformed page, is a SyntaxError too).
    """
    if isinstance(error, ImportError | ReportedProgrammingError):
        return True
    if isinstance(error, SyntaxError):
        return str(error.filename or "").endswith(".py")
    if isinstance(error, _IN_OWN_CODE):
        frames = traceback.extract_tb(error.__traceback__)
        return bool(frames) and _own(frames[-1].filename)
    return False


def describe_programming_error(error: BaseException, url: str | None = None) -> str:
    """One line: the error, the first line of its message, where in PolicyWatch it was raised, and on which URL."""
    line, where = summarize_programming_error(error)
    context = [where] if where else []
    if url:
        context.append(f"reading {url}")
    return f"{line} ({', '.join(context)})" if context else line


def summarize_programming_error(error: BaseException) -> tuple[str, str | None]:
    """The error with the first line of its message, and where in PolicyWatch it was raised ("file line N"), if
    there; what a worker process sends its parent, which raises it again as a ReportedProgrammingError."""
    if isinstance(error, ReportedProgrammingError):
        return error.what, error.where
    message = next(iter(str(error).strip().splitlines()), "")
    line = f"{type(error).__name__}: {message}" if message else type(error).__name__
    own = [f for f in traceback.extract_tb(error.__traceback__) if _own(f.filename)]
    return line, f"{Path(own[-1].filename).resolve().relative_to(_ROOT)} line {own[-1].lineno}" if own else None


def _own(filename: str) -> bool:
    return str(Path(filename).resolve()).startswith(_OWN)
