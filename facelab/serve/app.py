"""The classroom console: a Starlette application over one run directory.

Pages (server-rendered, with ``static/console.js``): ``/`` operator, ``/threshold``,
``/search``, ``/retention``. JSON API:

=========================================  ==================================================
``GET /api/alerts?min_percent=P``          ``facelab alerts RUN --min-percent P --format json``
``GET /api/queue?min_percent=P``           the same alerts with face box, frame and photo URLs
``POST /api/alerts/{id}/review``           ``facelab review`` (JSON: decision, reason, case,
                                           note, actor, expect)
``GET /api/threshold?percent=&mapping=``   one row of ``facelab sweep`` (``reveal=1``: truth)
``GET /api/curve?mapping=``               ``facelab sweep --thresholds 0:100:1`` (alerts; DET
                                           points with ``reveal=1``)
``GET /api/fpir-watchlist?percent=&mapping=``  FPIR against watchlist size, as the report's
                                           figure (the numbers only with ``reveal=1``)
``GET /api/review-agreement``             people's review decisions beside the reviewer
                                           model's on the same alerts (``reveal=1``)
``GET /api/groups?percent=&mapping=``      per-group rates and stops at a threshold, for runs
                                           with measured groups (``reveal=1``)
``GET /api/profiles``                      the system profiles (``facelab profiles``)
``GET /api/profile?name=&percent=``        what ``percent`` means on a profile's own scale
                                           and its predicted FPIR / TPIR at the run's
                                           watchlist size (``facelab profile predict``)
``GET /api/people``                        people of the world a search can start from
``POST /api/search``                       ``facelab search`` (form: reason, case,
                                           min_percent, and person or a photo file)
``GET /api/retention``                     the archive window and policy
``POST /api/retention/purge``              ``facelab purge`` (JSON: reason)
``GET /api/retention/verify``              ``facelab retention verify``
``GET /files/frames/…``, ``/files/watchlist/…``  the run's images only
=========================================  ==================================================

Guards (:mod:`facelab.serve.security`): loopback ``Host`` or the access token; a CSRF token on
every state-changing request; files only from the run's own folders. Errors come back as JSON
``{"error": "error: …", "exit_code": n}``, the CLI's line and code.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from facelab.config.validate import option_number
from facelab.errors import (
    AuditError,
    ConfigError,
    ConflictError,
    DataError,
    FacelabError,
    ImageError,
    RunError,
)
from facelab.governance import audit, retention
from facelab.lab import jsonview
from facelab.run import retrospective, review
from facelab.run.photo import write_person_photo
from facelab.run.store import RunStore, require_run
from facelab.run.watchlist import require_image_mode
from facelab.serve import humans, views
from facelab.serve.security import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    TOKEN_COOKIE,
    Guard,
    safe_file,
)

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
MAX_JSON_BYTES = 64 * 1024
"""Largest JSON request body (a review decision or a purge reason is a few hundred bytes)."""
PAGES = (("operator", "/", "Operator"), ("threshold", "/threshold", "Threshold"),
         ("search", "/search", "Search"), ("retention", "/retention", "Retention"))  # fmt: skip
_STATUS = {ConflictError: 409, RunError: 409, DataError: 404, AuditError: 400, ConfigError: 400,
           ImageError: 400}  # fmt: skip

_env = Environment(
    loader=PackageLoader("facelab.serve", "templates"), autoescape=select_autoescape()
)


def error_line(exc: FacelabError) -> str:
    """The one line the CLI prints for an error (``error: …``)."""
    return f"error: {' '.join(str(exc).split()) or type(exc).__name__}"


def _error(exc: FacelabError) -> JSONResponse:
    status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 500)
    return JSONResponse({"error": error_line(exc), "exit_code": exc.exit_code}, status_code=status)


class Console:
    """State shared by the requests of one console: the run, its guard, cached scores."""

    def __init__(self, run: Path, guard: Guard, device: str = "cpu"):
        from facelab.search.archive import ShardCache
        from facelab.vision.probe import FaceModels

        self.run = require_run(run)
        self.guard = guard
        with self.store() as s:
            self.shards = ShardCache(s.archive_options()["cache_shards"])
            scenario = s.scenario()
            self.no_frames = views.no_frames(s)
        self.alert_percent = float(scenario.thresholds.alert_percent)
        self.mapping = scenario.thresholds.mapping
        self.models = FaceModels(device)
        self.search_lock = threading.Lock()  # models and shard cache: one search at a time
        # One audited write at a time in this process: an operation's journal row must not be
        # settled as "interrupted" by a concurrent one (facelab.run.journal.recover).
        self.write_lock = threading.Lock()
        self._scores = None
        self._scores_lock = threading.Lock()
        self.profiles = views.profile_choices(self.mapping)

    def store(self) -> RunStore:
        return RunStore(self.run, shards=getattr(self, "shards", None))

    def scores(self):
        with self._scores_lock:
            if self._scores is None:
                with self.store() as s:
                    self._scores = views.load(s)
            return self._scores

    def forget_scores(self) -> None:
        with self._scores_lock:
            self._scores = None


# --------------------------------------------------------------------------- guard middleware


class GuardMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next):
        guard: Guard = request.app.state.console.guard
        host = request.headers.get("host", "")
        if not guard.host_allowed(host):
            return PlainTextResponse("forbidden host: the console answers on loopback only", 403)
        presented = request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE)
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("token "):
            presented = auth[6:].strip()
        if not guard.token_ok(presented):
            return PlainTextResponse(
                "token required: open the URL with ?token=… printed when the console started",
                403,
            )
        if request.method not in SAFE_METHODS:
            if not guard.origin_ok(request.headers.get("origin"), host):
                return JSONResponse({"error": "error: cross-site request refused"}, 403)
            session = request.cookies.get(SESSION_COOKIE)
            if not guard.csrf_ok(session, request.headers.get(CSRF_HEADER)):
                return JSONResponse(
                    {"error": "error: missing or wrong CSRF token (reload the page)"}, 403
                )
        response = await call_next(request)
        if guard.needs_token and request.query_params.get("token"):
            response.set_cookie(TOKEN_COOKIE, guard.token, httponly=True, samesite="strict")
        response.headers.update({
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
        })  # fmt: skip
        return response


# --------------------------------------------------------------------------- pages


def _page(view: str):
    async def page(request: Request) -> Response:
        console: Console = request.app.state.console
        session = request.cookies.get(SESSION_COOKIE) or console.guard.new_session()
        html = _env.get_template(f"{view}.html").render(
            view=view, pages=PAGES, run=console.run.name,
            csrf=console.guard.csrf_for(session), actor=audit.default_actor(),
            alert_percent=console.alert_percent, mappings=views.mappings(),
            mapping=console.mapping, profiles=console.profiles, no_frames=console.no_frames,
        )  # fmt: skip
        response = HTMLResponse(html)
        if SESSION_COOKIE not in request.cookies:
            response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict")
        return response

    return page


# --------------------------------------------------------------------------- API


def _float(request: Request, name: str) -> float | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {value!r}") from None


async def api_alerts(request: Request) -> Response:
    p = _float(request, "min_percent")

    def work() -> str:
        with request.app.state.console.store() as s:
            return jsonview.dumps(review.list_alerts(s, p))

    return Response(await run_in_threadpool(work), media_type="application/json")


async def api_queue(request: Request) -> Response:
    p = _float(request, "min_percent")

    def work() -> dict:
        with request.app.state.console.store() as s:
            return views.queue(s, p)

    return JSONResponse(await run_in_threadpool(work))


async def _json_body(request: Request) -> dict[str, Any]:
    import json

    raw = b""
    async for chunk in request.stream():  # read at most MAX_JSON_BYTES + 1 of it
        raw += chunk
        if len(raw) > MAX_JSON_BYTES:
            raise ConfigError(f"the request body is larger than {MAX_JSON_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ConfigError("the request body is not JSON") from None
    except RecursionError:
        raise ConfigError("the request body is JSON nested too deeply") from None
    if not isinstance(body, dict):
        raise ConfigError("the request body must be a JSON object")
    return body


def _text(body: dict, name: str) -> str | None:
    v = body.get(name)
    return str(v).strip() or None if v is not None else None


async def api_review(request: Request) -> Response:
    alert_id = request.path_params["alert_id"]
    body = await _json_body(request)
    actor = _text(body, "actor") or audit.default_actor()

    def work() -> dict:
        console: Console = request.app.state.console
        with console.store() as s, console.write_lock:
            a = review.review_alert(
                s, alert_id, str(body.get("decision", "")), actor=actor,
                reason=_text(body, "reason"), case=_text(body, "case"), note=_text(body, "note"),
                expect=_text(body, "expect"),
            )  # fmt: skip
            return jsonview.alert(a)

    return JSONResponse(await run_in_threadpool(work))


def _percent(request: Request) -> float:
    """The ``percent`` query parameter, in [0, 100]."""
    p = _float(request, "percent")
    if p is None or not 0.0 <= p <= 100.0:
        raise ConfigError(f"percent must lie in [0, 100], got {p!r}")
    return p


def _mapping_reveal(request: Request) -> tuple[str, bool]:
    """The ``mapping`` (default linear) and ``reveal`` (the truth switch) query parameters."""
    q = request.query_params
    return q.get("mapping") or "linear", q.get("reveal") in ("1", "true", "yes")


async def _percent_view(request: Request, view) -> Response:
    """``view(scores, percent, mapping, reveal=...)`` of the console's run, off the event loop."""
    console: Console = request.app.state.console
    p = _percent(request)
    mapping, reveal = _mapping_reveal(request)

    def work() -> dict:
        return view(console.scores(), p, mapping, reveal=reveal)

    return JSONResponse(await run_in_threadpool(work))


async def api_threshold(request: Request) -> Response:
    return await _percent_view(request, views.threshold)


async def api_curve(request: Request) -> Response:
    console: Console = request.app.state.console
    mapping, reveal = _mapping_reveal(request)

    def work() -> dict:
        return views.curve(console.scores(), mapping, reveal=reveal)

    return JSONResponse(await run_in_threadpool(work))


async def api_fpir_watchlist(request: Request) -> Response:
    return await _percent_view(request, views.fpir_watchlist)


async def api_review_agreement(request: Request) -> Response:
    console: Console = request.app.state.console
    _, reveal = _mapping_reveal(request)

    def work() -> dict:
        with console.store() as s:
            return humans.review_agreement(s, reveal=reveal)

    return JSONResponse(await run_in_threadpool(work))


async def api_groups(request: Request) -> Response:
    console: Console = request.app.state.console
    p = _percent(request)
    mapping, reveal = _mapping_reveal(request)

    def work() -> dict:
        with console.store() as s:
            return humans.group_figures(s, p, mapping, reveal=reveal)

    return JSONResponse(await run_in_threadpool(work))


async def api_profiles(request: Request) -> Response:
    return JSONResponse({"profiles": request.app.state.console.profiles,
                         "label": views.PROFILE_LABEL})  # fmt: skip


async def api_profile(request: Request) -> Response:
    console: Console = request.app.state.console
    p = _percent(request)
    name = request.query_params.get("name") or ""

    def work() -> dict:
        return views.profile_prediction(name, p, console.scores().watchlist_size)

    return JSONResponse(await run_in_threadpool(work))


async def api_people(request: Request) -> Response:
    def work() -> dict:
        with request.app.state.console.store() as s:
            return {"people": views.people(s), "mappings": views.mappings()}

    return JSONResponse(await run_in_threadpool(work))


async def api_search(request: Request) -> Response:
    console: Console = request.app.state.console
    async with request.form(max_files=1, max_fields=16, max_part_size=MAX_UPLOAD_BYTES) as form:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        upload = form.get("photo")
        source: Path | bytes | None = None
        name = None
        if upload is not None and not isinstance(upload, str) and upload.filename:
            source = await upload.read(MAX_UPLOAD_BYTES + 1)
            if len(source) > MAX_UPLOAD_BYTES:
                raise ImageError(f"{upload.filename}: larger than {MAX_UPLOAD_BYTES} bytes")
            name = Path(upload.filename).name
    actor = (fields.get("actor") or "").strip() or audit.default_actor()
    min_percent = fields.get("min_percent") or None
    if min_percent is not None:  # as `facelab search --min-percent`
        min_percent = option_number("--min-percent", min_percent, 0, 100)

    def work() -> dict:
        with console.store() as s, tempfile.TemporaryDirectory() as tmp:
            require_image_mode(s, "search by photo")  # before a photo is drawn for nothing
            src = source
            if src is None:  # a fresh photo of a person of the world, as `facelab photo`
                person = (fields.get("person") or "").strip()
                if not person:
                    raise ConfigError("pick a person or upload a photo")
                src = Path(tmp) / f"person-{person}.png"
                write_person_photo(s.scenario(), person, src, device=console.models.device)
            with console.search_lock:
                try:
                    result = retrospective.search_photo(
                        s, src, reason=fields.get("reason"), case=fields.get("case") or None,
                        actor=actor, min_percent=min_percent,
                        models=console.models,
                    )  # fmt: skip
                except FacelabError as exc:
                    if name is not None:  # name the uploaded file as the CLI names a path
                        raise type(exc)(str(exc).replace("<image bytes>", name)) from None
                    raise
            return views.hits(s, result)

    return JSONResponse(await run_in_threadpool(work))


async def api_retention(request: Request) -> Response:
    def work() -> dict:
        with request.app.state.console.store() as s:
            return views.retention_state(s)

    return JSONResponse(await run_in_threadpool(work))


async def api_purge(request: Request) -> Response:
    console: Console = request.app.state.console
    body = await _json_body(request)
    reason = audit.require_reason(_text(body, "reason"), True, "a purge from the console")
    actor = _text(body, "actor") or audit.default_actor()

    def work() -> dict:
        report = retention.purge(console.run, actor=actor, reason=reason, always_record=True)
        console.forget_scores()
        return views.purge_report(report)

    return JSONResponse(await run_in_threadpool(work))


async def api_verify(request: Request) -> Response:
    console: Console = request.app.state.console
    rep = await run_in_threadpool(retention.verify, console.run)
    return JSONResponse(views.verify_report(rep))


async def files(request: Request) -> Response:
    full = safe_file(request.app.state.console.run, request.path_params["path"])
    if full is None:
        return PlainTextResponse("not found", 404)
    return FileResponse(full)


def _api(handler):
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except FacelabError as exc:
            return _error(exc)

    return wrapped


def create_app(run: str | Path, *, host: str = "127.0.0.1", token: str | None = None,
               device: str = "cpu") -> Starlette:  # fmt: skip
    """The console application for one run directory.

    Parameters
    ----------
    run : str or Path
        A run directory (checked now).
    host : str
        The address the server will bind to; any non-loopback host makes a token required.
    token : str, optional
        The access token for a non-loopback host (default: a random one, ``app.state.console
        .guard.token``).
    device : str
        Where the detector and embedder of searches run.

    Raises
    ------
    RunError
        ``run`` is not a run directory.
    """
    console = Console(Path(run), Guard(host, token), device)
    routes = [Route(path, _page(view)) for view, path, _ in PAGES]
    routes += [
        Route("/api/alerts", _api(api_alerts)),
        Route("/api/queue", _api(api_queue)),
        Route("/api/alerts/{alert_id:int}/review", _api(api_review), methods=["POST"]),
        Route("/api/threshold", _api(api_threshold)),
        Route("/api/curve", _api(api_curve)),
        Route("/api/fpir-watchlist", _api(api_fpir_watchlist)),
        Route("/api/review-agreement", _api(api_review_agreement)),
        Route("/api/groups", _api(api_groups)),
        Route("/api/profiles", _api(api_profiles)),
        Route("/api/profile", _api(api_profile)),
        Route("/api/people", _api(api_people)),
        Route("/api/search", _api(api_search), methods=["POST"]),
        Route("/api/retention", _api(api_retention)),
        Route("/api/retention/purge", _api(api_purge), methods=["POST"]),
        Route("/api/retention/verify", _api(api_verify)),
        Route("/files/{path:path}", files),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(GuardMiddleware)])
    app.state.console = console
    return app
