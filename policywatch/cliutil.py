"""What every command shares: the two consoles, --config/--db, and loading the config with a one-line error."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from policywatch import config as config_module
from policywatch.config import Config

if TYPE_CHECKING:
    from digest.period import Period
    from policywatch.config import DigestSpec

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--config and --db, accepted on the group and on every command alike."""
    command = click.option(
        "--db", "db_path", type=click.Path(dir_okay=False), default=None,
        help="state.db to use (default: the config's db, else state.db beside the config).",
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
        return config_module.load(path or "config.toml", db)
    except config_module.ConfigError as e:
        raise click.ClickException(str(e)) from None


def digest_issue(config: Config, name: str, period: str | None) -> tuple[DigestSpec, Period]:
    """The digest and period a digest command names (default: the last complete period), with state.db there."""
    from digest.period import PeriodError, parse_period, period_of

    try:
        spec = config.digest(name)
        chosen = parse_period(period, spec.period) if period else period_of(spec.period, date.today()).previous()
    except (config_module.ConfigError, PeriodError) as e:
        raise click.ClickException(str(e)) from None
    require_db(config)
    return spec, chosen


def require_db(config: Config) -> None:
    """The one-line error of commands that read state.db, before one exists (opening it would create it)."""
    if not config.db.exists():
        raise click.ClickException(f"{config.db} does not exist yet: run `policywatch crawl` first")
