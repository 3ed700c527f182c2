"""The wheel, built as a release is (``python -m build``: an sdist, then the wheel from it), installs one top-level
package, ``policywatch``, with its templates and demo, and runs from there: ``policywatch demo`` outside the source
tree, importing nothing from it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
# What a source checkout has that is not PolicyWatch (or is made by running it).
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                    ".ruff_cache", "policywatch-demo", "bench-out", "logs", "artifacts", "*.db",
                                    "*.db-wal", "*.db-shm", "locks")
# Every module of the installed package imported, each from where it is expected.
IMPORT_ALL = """
import importlib, pkgutil, sys
from pathlib import Path
import policywatch
target = Path(sys.argv[1]).resolve()
names = [m.name for m in pkgutil.walk_packages(policywatch.__path__, "policywatch.")
         if ".demo.portal" not in m.name]
for name in names:
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().is_relative_to(target), (name, module.__file__)
print(len(names))
"""


def test_every_package_folder_is_in_the_wheel_under_policywatch():
    """A subpackage left out of pyproject.toml's list would be missing from the wheel, though it imports fine from
    the source tree."""
    folders = SETUPTOOLS["package-dir"]
    found = set()
    for package, folder in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            inside = init.parent.relative_to(ROOT / folder).parts
            if "__pycache__" not in inside and "portal" not in inside:
                found.add(".".join([package, *inside]))
    assert found == set(SETUPTOOLS["packages"])
    assert all(package == "policywatch" or package.startswith("policywatch.") for package in folders)
    top = {init.parent.name for init in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert top == set(folders.values())  # every folder of the tree that is a package is installed


@pytest.mark.slow
def test_the_wheel_installs_policywatch_alone_and_its_demo_runs(tmp_path):
    source, dist, target = tmp_path / "source", tmp_path / "dist", tmp_path / "site-packages"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    built = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    [wheel] = dist.glob("policywatch-*.whl")
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                                "--target", str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr

    # One top-level package: no `crawler`, `digest`, `templates` … beside it.
    [info] = target.glob("policywatch-*.dist-info")
    assert {p.name for p in target.iterdir()} == {"policywatch", info.name, "bin"}
    if (info / "top_level.txt").exists():
        assert (info / "top_level.txt").read_text(encoding="utf-8").split() == ["policywatch"]
    package = target / "policywatch"
    for data in ("templates/digest.html.j2", "templates/site/site.css", "templates/web/subscribe.html.j2",
                 "core/hanzi_classes.json", "demo/config.toml", "demo/portal/EXPECTED.toml", "datasette.yaml"):
        assert (package / data).is_file(), data
    assert not (package / "tests").exists() and not (package / "bench").exists()

    # Run with the test's interpreter (it has the dependencies), the wheel's files first on the path, in a folder
    # that is not the source tree: what is not in the wheel cannot be imported.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    imported = subprocess.run([sys.executable, "-c", IMPORT_ALL, str(target)], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=300)
    assert imported.returncode == 0, imported.stderr
    assert int(imported.stdout) > 100  # every module, not a few

    out = tmp_path / "demo"
    demo = subprocess.run([str(target / "bin" / "policywatch"), "demo", "--dir", str(out)], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stderr
    assert "Archive site" in demo.stdout
    assert (out / "state.db").is_file() and (out / "site" / "index.html").is_file()
    assert list(out.glob("digest-monthly-*.html"))
