"""`sweep serve`: a page on localhost that follows the studies of a results folder as they run.

The server is Starlette (an ASGI toolkit: routing, static files, test client) run by uvicorn;
the charts are uPlot, a 50 kB MIT-licensed file shipped in `static/` beside its licence, so
the page needs no network. The page polls the JSON below every second; an unchanged answer
costs a 304 (ETag). Every route is GET: nothing on the page can change or delete results.

    /                                   the page
    /static/<file>                      its script, style and chart library
    /api/studies                        every study under the root: state, progress, ETA, best
    /api/studies/<study>                one study: progress, running trials, the ranked table
    /api/studies/<study>/curves?metric=val_acc&trials=a,b   mean and band over seeds per configuration
                                        (the best, the running and the ones asked for)
    /files/<study>/<path>               a file of a study's folder (trials.csv, report/index.html)

Only what lies in the results root is served: a study is found among the folders listed
there, and a file path is resolved (links too) and must stay inside the study's folder; a
request for anything else is refused. By default the server listens on 127.0.0.1 only and
answers only requests addressed to this machine's own names (a page of another site cannot
read results by pointing a name of its own at 127.0.0.1).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sweeper.web.page import Refused, Root, inside

STATIC = Path(__file__).with_name("static")
LOCAL_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def create_app(root: Path, allowed_hosts: list[str] | None = None) -> Starlette:
    """The page's application for one results root; `allowed_hosts` are the Host names it
    answers (default: this machine's loopback names; ["*"] for any)."""
    results = Root(root)

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    def studies(request: Request) -> Response:
        return _json(request, {"root": str(root), "studies": results.overview()})

    def study(request: Request) -> Response:
        return _json(request, results.study(request.path_params["study"]).state())

    def curves(request: Request) -> Response:
        chosen = [t for t in request.query_params.get("trials", "").split(",") if t]
        metric = request.query_params.get("metric", "")
        page = results.study(request.path_params["study"])
        return _json(request, page.curves_of(metric or page.snapshot().get("metric", "val_acc"), chosen or None))

    def files(request: Request) -> Response:
        page = results.study(request.path_params["study"])
        path = page.folder / request.path_params["path"]
        if not inside(page.folder, path) or not path.is_file():
            raise Refused(f"{request.path_params['path']}: not a file of {page.folder.name}")
        return FileResponse(path, headers=SECURITY_HEADERS)

    async def refused(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=404, headers=SECURITY_HEADERS)

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/api/studies", studies, methods=["GET"]),
        Route("/api/studies/{study}", study, methods=["GET"]),
        Route("/api/studies/{study}/curves", curves, methods=["GET"]),
        Route("/files/{study}/{path:path}", files, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or LOCAL_NAMES)]
    return Starlette(routes=routes, middleware=middleware, exception_handlers={Refused: refused})


def _json(request: Request, data: dict[str, Any]) -> Response:
    """JSON with an ETag: an unchanged answer to a poll is a 304 without a body."""
    body = json.dumps(_clean(data), allow_nan=False, default=_plain).encode()
    tag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {**SECURITY_HEADERS, "ETag": tag}
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _clean(value: Any) -> Any:
    """NaN and infinities (JSON has none) as null, at any depth."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return _plain(value) if hasattr(value, "item") else value


def _plain(value: Any) -> Any:
    """numpy and pandas scalars as JSON values (NaN as null)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and (value != value or abs(value) == float("inf")):
        return None
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def serve(root: Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the page until Ctrl-C."""
    import uvicorn

    local = host in ("127.0.0.1", "localhost", "::1")
    app = create_app(root, None if local else ["*"])
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
