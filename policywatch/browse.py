"""``policywatch browse``: state.db in Datasette, with the project's table descriptions and canned queries.

Analysts get a query editor, faceting and CSV/JSON export over the whole change history without writing a
line of Python. The metadata (``datasette.yaml``) ships with PolicyWatch; Datasette itself is the optional
``browse`` extra, so a crawler host that never browses does not install it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

METADATA = Path(__file__).with_name("datasette.yaml")


class BrowseError(Exception):
    """Datasette or the database is missing; the message says which, in one line."""


def metadata(db: Path) -> dict[str, Any]:
    """The shipped metadata, its database keyed by the name Datasette gives ``db`` (the file name without .db)."""
    import yaml  # Datasette's own dependency: present whenever browsing is possible

    data = yaml.safe_load(METADATA.read_text(encoding="utf-8"))
    data["databases"] = {db.stem: data["databases"]["state"]}
    return data


def browse(db: Path, host: str = "127.0.0.1", port: int = 8001, open_browser: bool = False) -> int:
    """Serve ``db`` with Datasette until interrupted; returns Datasette's exit code."""
    if importlib.util.find_spec("datasette") is None:
        raise BrowseError("browsing needs Datasette: pip install 'policywatch[browse]'")
    if not db.is_file():
        raise BrowseError(f"no state.db at {db}: run `policywatch crawl` first")
    with tempfile.TemporaryDirectory(prefix="policywatch-browse-") as folder:
        path = Path(folder) / "metadata.json"
        path.write_text(json.dumps(metadata(db), ensure_ascii=False), encoding="utf-8")
        command = [sys.executable, "-m", "datasette", "serve", str(db), "--metadata", str(path),
                   "--host", host, "--port", str(port)]
        if open_browser:
            command.append("--open")
        try:
            return subprocess.run(command).returncode
        except KeyboardInterrupt:
            return 0
