"""The archive site, served read-only from the folder `policywatch site` writes: its files and nothing else.

Starlette's StaticFiles already keeps paths inside the folder (``..`` and symlinks out of it lead nowhere) and
answers GET and HEAD only. On top of that, no path with a part starting with "." is served: the site's own
bookkeeping (``.policywatch-site.json``, its lock) and any dotfile an operator leaves there stay private.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from policywatch.archive.build import build_site
from policywatch.core.store import Store

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import Scope

    from policywatch.core.config import Config


class ArchiveFiles(StaticFiles):
    """StaticFiles over the site folder (index.html for a folder), refusing hidden files."""

    def __init__(self, folder: Path) -> None:
        super().__init__(directory=folder, html=True)

    async def get_response(self, path: str, scope: Scope) -> Response:
        if any(part.startswith(".") for part in scope["path"].split("/")):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


def prepare_site(config: Config, folder: Path) -> bool:
    """Build the site into ``folder`` if it has none yet (True then); an existing one is served as it is, since
    `policywatch serve` brings it up to date after every crawl and `policywatch site` on demand."""
    if (folder / "index.html").is_file():
        return False
    with Store(config.db, read_only=True) as store:
        build_site(config, store, folder)
    return True
