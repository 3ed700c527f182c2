"""The app's pages, rendered from ``templates/web/`` (a config's ``templates`` folder is searched first, as for the
digests), and the choices its forms offer, taken from config.toml."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from policywatch.core.config import LANGUAGES, Config

BUILTIN = Path(str(resources.files("policywatch.templates")))  # package data, wherever PolicyWatch is installed
LANGUAGE_LABELS = {"zh-Hans": "简体中文", "zh-Hant": "繁體中文", "en": "English"}
PERIOD_LABELS = {"month": "每月", "week": "每周"}


@dataclass(frozen=True)
class Chosen:
    """What a form shows ticked: topics, regions and a language (None: the digest's)."""

    topics: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    language: str | None = None


@dataclass(frozen=True)
class Choices:
    """What the forms offer: the configured digests and topics, the regions of the configured sources and digests,
    and the languages digests are rendered in."""

    digests: tuple[Any, ...]
    topics: tuple[Any, ...]
    regions: tuple[str, ...]
    languages: tuple[tuple[str, str], ...] = field(
        default_factory=lambda: tuple((code, LANGUAGE_LABELS.get(code, code)) for code in LANGUAGES))

    @classmethod
    def of(cls, config: Config) -> Choices:
        regions = [s.region for s in config.sources if s.region]
        regions += [r for spec in config.digests for r in spec.regions]
        return cls(config.digests, config.topics, tuple(dict.fromkeys(regions)))

    def context(self, chosen: Chosen = Chosen()) -> dict[str, Any]:
        return {"digests": self.digests, "topics": self.topics, "regions": self.regions,
                "languages": self.languages, "periods": PERIOD_LABELS, "chosen": chosen}


@lru_cache(maxsize=8)
def environment(templates: Path | None = None) -> jinja2.Environment:
    """Jinja2 over the user's templates (if any), then the built-in ones; HTML autoescaped, undefined names errors."""
    search = [str(templates), str(BUILTIN)] if templates else [str(BUILTIN)]
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(search), undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True,
        autoescape=lambda name: bool(name) and name.endswith(".html.j2"))


def render(config: Config, name: str, **context: Any) -> str:
    """One template of ``templates/web/``, as text."""
    return environment(config.templates).get_template(f"web/{name}").render(context)


def page(config: Config, name: str, status: int = 200, headers: dict[str, str] | None = None,
         **context: Any) -> HTMLResponse:
    """A page of the app; never cached, since its forms carry tokens and its answers are about one person."""
    return HTMLResponse(render(config, name, **context), status_code=status,
                        headers={"Cache-Control": "no-store", **(headers or {})})


def message(config: Config, heading: str, *lines: str, status: int = 200, problem: str | None = None,
            links: tuple[tuple[str, str], ...] = (), headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page that only tells what happened (or, with ``problem``, why a request was refused)."""
    return page(config, "message.html.j2", status, headers, heading=heading, lines=lines, problem=problem,
                links=links)


def refused(config: Config, problem: str, status: int = 400) -> HTMLResponse:
    """The page for a request that was refused and changed nothing: one line says what was wrong."""
    return message(config, "请求无法处理", "没有保存任何内容。", status=status, problem=problem,
                   links=(("subscribe", "返回订阅页"),))
