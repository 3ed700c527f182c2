"""The folders are the layers, and the data flow is the architecture: core → crawler → detection → digest →
deliver / archive / web → scheduler → policywatch (the application). Each imports only the layers it is allowed;
the kernel (core/) imports none of the others.

Read from the source (every import statement, top-level or inside a function), so a lazy import that reaches up
a layer fails here as surely as a top-level one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = "policywatch"  # the application's folder: the CLI, the demo, `sources check`; it may import every layer
# Each layer's folder → the layers it may import besides itself (installed as policywatch.<folder>).
ALLOWED: dict[str, set[str]] = {
    "core": set(),  # the kernel: config, model, store, … which every stage imports
    "detection": {"core"},
    "crawler": {"core", "detection"},  # the crawl's write path detects changes and duplicates as it stores
    "digest": {"core", "detection"},
    "archive": {"core", "detection", "digest"},
    "deliver": {"core", "detection", "digest", "archive"},  # a chat post links the issue in the archive
    "web": {"core", "deliver", "archive"},  # the subscription page: the kernel, deliver and the archive site
    "scheduler": {"core", "crawler", "detection", "digest", "deliver", "archive", "web"},
}
FOLDERS = {*ALLOWED, "templates"}  # what is installed under policywatch.<folder>
SKIP = {".venv", ".git", "portal", "build", "__pycache__"}


def layers_imported(path: Path) -> set[str]:
    """The layer of every PolicyWatch module ``path`` imports: a folder name, or APP for the application."""
    layers: set[str] = set()
    for module in imported_modules(path):
        parts = module.split(".")
        if parts[0] == APP:
            layers.add(parts[1] if len(parts) > 1 and parts[1] in FOLDERS else APP)
    return layers


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, and for ``from a import b`` also ``a.b`` (b may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if not SKIP & set(p.relative_to(ROOT).parts))


def test_each_layer_imports_only_the_layers_below_it():
    crossings = []
    for layer, allowed in ALLOWED.items():
        for path in python_files(ROOT / layer):
            if bad := layers_imported(path) - allowed - {layer}:
                crossings.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert crossings == []


def test_the_kernel_imports_no_stage_and_not_the_application():
    kernel = python_files(ROOT / "core")
    assert len(kernel) > 10
    assert {str(p.relative_to(ROOT)): layers_imported(p) - {"core"} for p in kernel} == {
        str(p.relative_to(ROOT)): set() for p in kernel}


def test_every_module_is_spelled_under_policywatch():
    """`import crawler` works from the source tree's root (it is on sys.path there) but not when installed, where
    only policywatch is a top-level package; a second spelling would also load a module twice."""
    old = []
    for path in python_files(ROOT):
        if bad := {m for m in imported_modules(path) if m.split(".")[0] in FOLDERS}:
            old.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert old == []


def test_the_crawl_write_path_uses_detection_not_digest():
    assert {"detection"} <= layers_imported(ROOT / "crawler" / "pipelines.py")
    assert "digest" not in layers_imported(ROOT / "crawler" / "pipelines.py")


def test_the_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from policywatch.digest.build import build\n    import policywatch.archive.pages\n"
                      "    from policywatch import cli, core\n    from policywatch.core import config\n",
                      encoding="utf-8")
    assert layers_imported(module) == {"digest", "archive", APP, "core"}
    module.write_text("import crawler.run\n", encoding="utf-8")  # rename:keep (the old spelling, on purpose)
    assert imported_modules(module) == {"crawler.run"}  # rename:keep
    assert layers_imported(module) == set()
