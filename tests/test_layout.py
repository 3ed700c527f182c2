"""The data flow is the architecture: each stage imports only the stages below it.

Read from the source (every import statement, top-level or inside a function), so a lazy import that reaches up
a layer fails here as surely as a top-level one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A stage's folder → the top-level packages of this project it must never import.
FORBIDDEN = {
    "detection": {"crawler", "digest", "deliver", "archive", "scheduler"},
    "crawler": {"digest", "deliver", "archive", "scheduler"},
    "web": {"crawler", "detection", "digest", "scheduler"},  # the subscription page: the kernel, deliver and archive
}


def imported_packages(path: Path) -> set[str]:
    """The top-level package of every module ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_stages_import_only_downwards():
    crossings = []
    for stage, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / stage).rglob("*.py")):
            if bad := imported_packages(path) & forbidden:
                crossings.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert crossings == []


def test_the_crawl_write_path_uses_detection_not_digest():
    assert {"detection"} <= imported_packages(ROOT / "crawler" / "pipelines.py")
    assert "digest" not in imported_packages(ROOT / "crawler" / "pipelines.py")


def test_the_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from policywatch.digest.build import build\n    import policywatch.archive.pages\n", encoding="utf-8")
    assert imported_packages(module) == {"digest", "archive"}
