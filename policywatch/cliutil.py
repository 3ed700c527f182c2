"""What every command shares: the two consoles, --config/--db, loading the config with a one-line error, and the
command group that turns any state.db error into one line."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape

from policywatch.core import config as config_module
from policywatch.core.config import Config
from policywatch.core.dburl import mask
from policywatch.core.localtime import today
from policywatch.core.normalize import clean_text
from policywatch.core.store import StoreError, missing_db_message

if TYPE_CHECKING:
    from policywatch.core.config import DigestSpec
    from policywatch.digest.draft import Draft
    from policywatch.digest.period import Period

# Exit codes (README, Exit codes): 0 done, 1 an error (one `Error:` line) or something left to retry, 2 a usage error
# (click's), and EXIT_BROKEN when `crawl` finished but a source it crawled is broken or could not be reached.
EXIT_BROKEN = 3

# No emoji codes: a scraped title with ":warning:" in it is printed as written.
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)


def printable(value: Any) -> Any:
    """A stored value as it may go to a terminal or a JSON dump: text stored before crawls cleaned it may still
    hold escape sequences, so every string (also inside lists and dicts) passes
    :func:`policywatch.core.normalize.clean_text` again. Other values are returned as they are."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [printable(item) for item in value]
    if isinstance(value, dict):
        return {key: printable(item) for key, item in value.items()}
    return value


def safe(value: Any) -> str:
    """Any stored or scraped value as it goes into a rich markup string or a Table cell: no control character
    (see :func:`printable`), and never read as markup (a title with "[/]" in it would stop the command, one with
    "[link=…]" make a hyperlink, one with "[red]" colour what follows). None is shown as "—"."""
    return "—" if value is None else escape(printable(str(value)))


DB_KEY = "policywatch.db"  # ctx.meta key: the state.db the running command uses, for its error messages


class Group(click.Group):
    """The command group: a state.db error from any command (damaged, read-only, full, locked …), or a file or
    folder beside it that cannot be written, is one line naming the file, and exit 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StoreError as e:
            raise click.ClickException(str(e)) from None
        except BrokenPipeError:
            raise  # output piped into `head`: click ends quietly
        except OSError as e:
            message = f"{e.filename}: {e.strerror}" if e.filename and e.strerror else " ".join(str(e).split())
            raise click.ClickException(message or type(e).__name__) from None
        except Exception as e:
            # sqlite3's and psycopg's own errors, and those of libraries over them (SQLAlchemy keeps them as .orig)
            error = e if isinstance(e, _database_errors()) else getattr(e, "orig", None)
            if not isinstance(error, _database_errors()):
                raise
            db = ctx.meta.get(DB_KEY, "state.db")
            message = " ".join(mask(str(error)).split()) or type(error).__name__
            raise click.ClickException(f"{db}: {message}") from None


def _database_errors() -> tuple[type[Exception], ...]:
    """sqlite3's error class, and psycopg's once a PostgreSQL store has loaded it (otherwise none can be raised)."""
    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error, psycopg.Error) if psycopg is not None else (sqlite3.Error,)


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--config and --db, accepted on the group and on every command alike."""
    command = click.option(
        "--db", "db_path", type=click.Path(dir_okay=False), default=None,
        help="state.db to use, or a postgresql:// URL (default: the config's db, else state.db beside the config).",
    )(command)
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False), default=None,
        help="Config file (default: $POLICYWATCH_CONFIG or ./config.toml).",
    )(command)


def load_config(ctx: click.Context, config_path: str | None, db_path: str | None) -> Config:
    root = ctx.find_root().params
    path = config_path or root.get("config_path") or os.environ.get("POLICYWATCH_CONFIG")
    db = db_path or root.get("db_path")
    try:
        config = config_module.load(path or "config.toml", db)
    except config_module.ConfigError as e:
        raise click.ClickException(str(e)) from None
    ctx.meta[DB_KEY] = config.db_label
    return config


def digest_issue(config: Config, name: str, period: str | None) -> tuple[DigestSpec, Period]:
    """The digest and period a digest command names (default: the last period complete in the config's timezone),
    with state.db there. A period named that has not ended yet is taken, with a note on stderr that its issue is
    still in progress (the data on stdout stays the issue alone)."""
    from policywatch.digest.period import PeriodError, parse_period, period_of

    day = today(config.zone)
    try:
        spec = config.digest(name)
        chosen = parse_period(period, spec.period) if period else period_of(spec.period, day).previous()
    except (config_module.ConfigError, PeriodError) as e:
        raise click.ClickException(str(e)) from None
    require_db(config)
    if not chosen.ended(day):
        err.print(f"note: {chosen.key} is still in progress in {config.timezone} (it ends {chosen.end.isoformat()}): "
                  "this issue is not complete yet", markup=False)
    return spec, chosen


def require_db(config: Config) -> None:
    """The one-line error of commands that read state.db, before one exists (opening it would create it)."""
    if not config.db_exists():
        raise click.ClickException(missing_db_message(config.db_label))


def draft_issue(
    config: Config, path: str, name: str | None, period: str | None,
) -> tuple[DigestSpec, Period, Draft, str]:
    """The digest, period, draft and its text that ``--draft FILE`` names: --digest and --period default to the
    draft's own; the file's problems are one line (see policywatch.digest.draft)."""
    from policywatch.digest.draft import DraftError, parse_draft

    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{path}: not UTF-8 text") from None
    try:
        draft = parse_draft(text, path)
    except DraftError as e:
        raise click.ClickException(str(e)) from None
    spec, chosen = digest_issue(config, name or draft.digest, period or draft.period)
    return spec, chosen, draft, text


def new_items_line(items: list[Any]) -> str:
    """The one line on items that arrived after a draft was written: how many, and their titles."""
    titles = "; ".join(f"“{printable(item.title)}”" for item in items)
    return f"{len(items)} new item(s) since the draft was written: {titles}"
