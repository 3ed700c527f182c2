"""Recognise anti-bot walls so their pages are reported, never stored as policy text."""

from __future__ import annotations

import re

# (name, patterns) pairs; a page matching any pattern is a wall. Patterns are specific to the challenge scripts
# themselves, not to words a policy could contain. Each starts with literal text, which the regex engine skips to
# quickly: every page fetched is searched for every pattern.
_SIGNATURES: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...] = tuple(
    (name, tuple(map(re.compile, patterns))) for name, patterns in (
        # Ruishu (瑞数): a meta tag with r="m" plus an obfuscated $_ts bootstrap, usually HTTP 412.
        ("Ruishu JS challenge", (r"""<meta[^>]+\br=["']m["']""", r"\$_ts(?:\s*=|\[)")),
        # Knownsec / 创宇盾 "浏览器安全检查" interstitial, __jsl_clearance cookie.
        ("Knownsec browser check", ("__jsl_clearance", "创宇盾", "知道创宇云防御")),
        # 360 Panyun "请稍后" challenge, assets under /__panyun/.
        ("360 Panyun challenge", ("/__panyun/", "360panyun")),
        # Generic Cloudflare-style checks.
        ("browser check", ("cdn-cgi/challenge-platform", "Checking your browser before")),
    )
)
WALL_STATUSES = {412: "HTTP 412 (JS cookie challenge)", 429: "HTTP 429 (rate limited)"}
# Sites behind these walls keep the bootstrap script on real pages too; only a page
# with almost no readable text besides it is the wall itself.
MAX_WALL_TEXT = 300
_INVISIBLE = re.compile(r"<(script|style|noscript)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def visible_text_length(html: str) -> int:
    """Rough count of readable characters: what is left without scripts, styles and tags."""
    return len(_SPACE.sub("", _TAG.sub(" ", _INVISIBLE.sub(" ", html))))


def detect_wall(status: int | None, text: str) -> str | None:
    """A one-line description of the anti-bot wall this response is, or None."""
    if status in WALL_STATUSES:
        return f"anti-bot wall: {WALL_STATUSES[status]}"
    head = text[:20000]
    for name, patterns in _SIGNATURES:
        if any(pattern.search(head) for pattern in patterns) and visible_text_length(text) <= MAX_WALL_TEXT:
            return f"anti-bot wall: {name}"
    return None
