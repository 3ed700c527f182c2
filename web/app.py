"""The ASGI app: the routes of the subscription page, the archive site at /, and how each answer is made.

Handlers read and check the request (body limits and the form token in policywatch.web.forms, tokens and rules in
policywatch.web.signup), then do their store work in a worker thread with a Store of their own (a Store is not shared
across threads). Refusals are pages with one line saying what was wrong, and nothing is stored for them. ``POST
/subscribe`` answers the same bytes whether or not the address is known and whether or not a mail goes out; the
confirmation mail is sent after the answer, so the mail server's pace does not show in it either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from policywatch.core.config import ConfigError
from policywatch.core.localtime import local_time
from policywatch.core.store import Store
from policywatch.deliver.notice import compose_notice, send_notice
from policywatch.deliver.subscribers import SubscriberError, new_subscriber
from policywatch.deliver.tokens import TokenError, secret_from
from policywatch.web import forms, pages, signup
from policywatch.web.headers import SecurityHeaders
from policywatch.web.limits import WINDOW
from policywatch.web.sitefiles import ArchiveFiles

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp

    from policywatch.core.config import Config

log = logging.getLogger("policywatch.web")
PAGES = frozenset({"/subscribe", "/confirm", "/unsubscribe", "/preferences", "/web.css"})
ONE_CLICK = ("List-Unsubscribe", "One-Click")  # RFC 8058's body


def create_app(config: Config, site: Path | None = None,
               now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> ASGIApp:
    """The app for ``config`` (see :func:`check`), serving the archive site in ``site`` at / when given. ``now`` is
    its clock."""
    app = _App(config, check(config), now)
    routes: list[Any] = [
        Route("/subscribe", app.subscribe_form, methods=["GET"]),
        Route("/subscribe", app.subscribe, methods=["POST"]),
        Route("/confirm", app.confirm, methods=["GET"]),
        Route("/unsubscribe", app.unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe", app.unsubscribe, methods=["POST"]),
        Route("/preferences", app.preferences_form, methods=["GET"]),
        Route("/preferences", app.preferences, methods=["POST"]),
        Route("/web.css", app.stylesheet, methods=["GET"]),
    ]
    if site is not None:
        routes.append(Mount("/", app=ArchiveFiles(site)))
    else:
        routes.append(Route("/", lambda request: RedirectResponse("subscribe", 303), methods=["GET"]))
    handlers = {forms.FormError: app.form_error, TokenError: app.token_error, SubscriberError: app.input_error,
                signup.TooManyRequests: app.too_many, Exception: app.server_error}
    return SecurityHeaders(Starlette(routes=routes, exception_handlers=handlers), PAGES)


def check(config: Config) -> bytes:
    """What the app needs from the config: [web], [smtp], a digest to subscribe to, and the signing secret (which is
    returned). ConfigError or TokenError, one line, otherwise."""
    if config.web is None:
        raise ConfigError(config.path, "web", "no [web] table: the subscription page needs its public address (url)")
    config.require_smtp()
    if not config.digests:
        raise ConfigError(config.path, "digests", "no [[digests]] configured: there is nothing to subscribe to")
    return secret_from(config.delivery.secret_env)


class _App:
    """The handlers, sharing the config, the signing secret and the clock."""

    def __init__(self, config: Config, secret: bytes, now: Callable[[], datetime]) -> None:
        self.config, self.secret, self.now = config, secret, now
        self.choices = pages.Choices.of(config)

    async def _store(self, work: Callable[..., Any], *args: Any) -> Any:
        """Run ``work(store, *args)`` in a worker thread, on a Store opened for it (checked once at start-up)."""
        def run() -> Any:
            with Store(self.config.db, verify=False) as store:
                return work(store, *args)

        return await run_in_threadpool(run)

    def _form_page(self, request: Request, name: str, **context: Any) -> Response:
        """A page with a form: its token, made for this browser's cookie (set here when it has none)."""
        cookie, new = forms.form_cookie(request)
        response = pages.page(self.config, name, csrf=forms.form_token(self.secret, cookie, self.now().timestamp()),
                              **context)
        if new:
            forms.set_form_cookie(response, request, cookie)
        return response

    # -- subscribing ----------------------------------------------------------------

    async def subscribe_form(self, request: Request) -> Response:
        return self._form_page(request, "subscribe.html.j2", confirm_hours=f"{self.config.web.confirm_hours:g}",
                               **self.choices.context())

    async def subscribe(self, request: Request) -> Response:
        form = await forms.read_form(request)
        now = self.now()
        forms.check_form_token(self.secret, request, form, now.timestamp())
        record = new_subscriber(self.config, form.one("email"), form.many("digest"), form.one("name"),
                                form.many("topic"), form.many("region"), form.one("language") or None)
        client = request.client.host if request.client else None
        mail = await self._store(signup.request_subscription, self.config.web, self.secret, record, client, now)
        response = pages.message(
            self.config, "请查收确认邮件", "如果这个地址能收信，一封确认邮件已经发出：打开其中的链接，订阅才会开始。",
            f"链接 {self.config.web.confirm_hours:g} 小时内有效；没有收到，可以稍后重新提交。",
            links=(("./", "浏览政策档案"),))
        if mail is not None:
            response.background = BackgroundTask(self._send_confirmation, mail)
        return response

    def _send_confirmation(self, mail: signup.Confirmation) -> None:
        """Mail the confirmation link (after the answer has gone); a failure is logged, the requester may retry."""
        config = self.config
        text = pages.render(config, "confirm.txt.j2", link=mail.link, digests=mail.digests,
                            greeting=f"{mail.name}，你好：" if mail.name else "你好：",
                            expires=local_time(mail.expires.isoformat(), config.zone), timezone=config.timezone)
        try:
            message = compose_notice(config.require_smtp(), mail.email, mail.name, "请确认订阅 PolicyWatch 政策摘要",
                                     text, config.zone)
            send_notice(config.require_smtp(), message)
        except Exception as e:  # whatever the server or the address does, the app goes on
            log.warning("confirmation mail to %s not sent: %s: %s", mail.email, type(e).__name__, e)

    async def confirm(self, request: Request) -> Response:
        token = request.query_params.get("token", "")
        done = await self._store(signup.confirm, self.secret, token, self.now())
        heading = "这个订阅已经确认过" if done.before else "订阅已确认"
        links = tuple((f"preferences?token={token}", f"{digest}：修改主题、地区或语言")
                      for digest, token in done.tokens.items())
        return pages.message(self.config, heading, f"{done.email} 将收到：{'、'.join(done.tokens)}。",
                             "每封摘要的末尾都有退订链接。", links=links)

    # -- a subscription, by its token -----------------------------------------------------

    async def unsubscribe_page(self, request: Request) -> Response:
        token = request.query_params.get("token", "")
        subscriber, digest, running = await self._store(signup.subscription, self.secret, token)
        if running is None:
            return pages.message(self.config, "已经退订", f"{subscriber['email']} 已不再订阅 {digest}。",
                                 links=(("subscribe", "重新订阅"),))
        return pages.page(self.config, "unsubscribe.html.j2", email=subscriber["email"], digest=digest, token=token)

    async def unsubscribe(self, request: Request) -> Response:
        """RFC 8058's one-click unsubscribe, as a mail client posts it (and as the page's button does): the token in
        the address is the authority, so there is no form token; the body must be exactly the one-click field."""
        token = request.query_params.get("token", "")
        form = await forms.read_form(request)
        if form.fields != [ONE_CLICK]:
            raise forms.FormError("an unsubscribe request's body is List-Unsubscribe=One-Click (RFC 8058)")
        email, digest, _ = await self._store(signup.unsubscribe, self.secret, token)
        return pages.message(self.config, "已退订", f"{email} 不会再收到摘要 {digest}。",
                             links=(("subscribe", "重新订阅"),))

    async def preferences_form(self, request: Request, saved: bool = False) -> Response:
        token = request.query_params.get("token", "")
        subscriber, digest, running = await self._store(signup.subscription, self.secret, token)
        if running is None:
            return pages.message(self.config, "没有这个订阅", f"{subscriber['email']} 已退订 {digest}，没有偏好可改。",
                                 status=404, links=(("subscribe", "重新订阅"),))
        chosen = pages.Chosen(running["topics"] or (), running["regions"] or (), running["language"])
        return self._form_page(request, "preferences.html.j2", email=subscriber["email"], digest=digest, token=token,
                               saved=saved, **self.choices.context(chosen))

    async def preferences(self, request: Request) -> Response:
        token = request.query_params.get("token", "")
        form = await forms.read_form(request)
        forms.check_form_token(self.secret, request, form, self.now().timestamp())
        await self._store(signup.save_preferences, self.config, self.secret, token, form.many("topic"),
                          form.many("region"), form.one("language") or None)
        return await self.preferences_form(request, saved=True)

    async def stylesheet(self, request: Request) -> Response:
        env = pages.environment(self.config.templates)
        css, _, _ = env.loader.get_source(env, "web/web.css")
        return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    # -- refusals ------------------------------------------------------------------------

    async def form_error(self, request: Request, error: forms.FormError) -> Response:
        return pages.refused(self.config, str(error), error.status)

    async def token_error(self, request: Request, error: TokenError) -> Response:
        return pages.refused(self.config, str(error))

    async def input_error(self, request: Request, error: SubscriberError) -> Response:
        return pages.refused(self.config, str(error))

    async def too_many(self, request: Request, error: signup.TooManyRequests) -> Response:
        response = pages.refused(self.config, str(error), 429)
        response.headers["Retry-After"] = str(int(WINDOW.total_seconds()))
        return response

    async def server_error(self, request: Request, error: Exception) -> Response:
        log.error("%s %s failed: %s: %s", request.method, request.url.path, type(error).__name__, error)
        return pages.message(self.config, "服务器出错", "请稍后再试。", status=500)
