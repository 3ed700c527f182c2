"""`policywatch web`: the subscription page and the archive site, served by uvicorn."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from policywatch.cliutil import common_options, err, load_config
from policywatch.core import config as config_module
from policywatch.core.store import Store


@click.command("web")
@common_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; behind a reverse proxy on this machine, keep 127.0.0.1.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--site", "site_dir", type=click.Path(file_okay=False), default=None,
              help="Archive site folder served at / (default: the config's `site`); built first if it has none.")
@click.pass_context
def web(ctx: click.Context, host: str, port: int, site_dir: str | None, config_path: str | None,
        db_path: str | None) -> None:
    """Serve the subscription page: subscribe (confirmed by mail), preferences, one-click unsubscribe; and the
    archive site at /. Needs [web], [smtp] and the signing secret; stop with SIGTERM or Ctrl-C.

    Example: policywatch web --port 8080
    """
    from policywatch.deliver.tokens import TokenError
    from policywatch.web.app import check, create_app
    from policywatch.web.server import listen, run
    from policywatch.web.signup import purge
    from policywatch.web.sitefiles import prepare_site

    config = load_config(ctx, config_path, db_path)
    try:
        check(config)
    except (config_module.ConfigError, TokenError) as e:
        raise click.ClickException(str(e)) from None
    with Store(config.db) as store:  # checked and migrated once here; requests open it without the check
        purge(store, datetime.now(UTC))
    folder = Path(site_dir) if site_dir else config.site
    if folder is not None and prepare_site(config, folder):
        err.print(f"built the archive site in {folder}", markup=False, soft_wrap=True)
    try:
        sock = listen(host, port)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    shown = f"[{host}]" if ":" in host else host
    err.print(f"subscription page on http://{shown}:{port}/subscribe"
              + (f", archive site ({folder}) at /" if folder is not None else ""), markup=False, soft_wrap=True)
    run(create_app(config, folder), sock)
