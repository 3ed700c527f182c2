"""A careless operator's config: values that parse as TOML but mean nothing are refused in one line by every
command, before anything runs, and the stored database is left as it was."""

from __future__ import annotations

import pytest

from tests import forkcli
from tests.conftest import source_toml

SOURCE = source_toml("nhc", "http://127.0.0.1:9/list.html")
CASES = [
    ("[crawl]\ntimeout = nan\n" + SOURCE, "crawl.timeout: must be a finite number, not nan"),
    ("[crawl]\ndownload_delay = -2.5\n" + SOURCE, "crawl.download_delay: must be 0 or more"),
    ("[crawl]\nrecheck_days = -inf\n" + SOURCE, "crawl.recheck_days: must be a finite number, not -inf"),
    (SOURCE.replace('name = "nhc"', 'name = "nhc"\nschedule = "0 9 31 2 *"'),
     "sources[0].schedule: '0 9 31 2 *' never fires: no date matches it"),
]


@pytest.mark.parametrize(("text", "message"), CASES)
@pytest.mark.parametrize("command", [["serve"], ["crawl"], ["sources", "list"]])
def test_meaningless_values_stop_every_command_with_one_line(tmp_path, text: str, message: str,
                                                             command: list[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text(SOURCE, encoding="utf-8")
    forkcli.run(["--config", str(good), "--db", str(tmp_path / "state.db"), "init"], check=True)
    stored = (tmp_path / "state.db").read_bytes()
    bad = tmp_path / "config.toml"
    bad.write_text(text, encoding="utf-8")

    result = forkcli.run(["--config", str(bad), "--db", str(tmp_path / "state.db"), *command], timeout=60)

    assert (result.returncode, result.stderr) == (1, f"Error: config.toml: {message}\n")
    assert (tmp_path / "state.db").read_bytes() == stored
