"""The FastAPI application of the demo: one page and a small JSON API under it.

``/`` is a drawing page (``static/``: hand-written HTML, JS and CSS, no build step and nothing
from a CDN). ``/api/embed``, ``/api/classify``, ``/api/neighbours``, ``/api/complete`` and
``/api/heal`` take ``{"drawing": [[xs, ys], ...]}`` (QuickDraw's simplified ndjson strokes),
``/api/info`` says what is loaded; FastAPI documents them all in ``/openapi.json``. Its
``/docs`` and ``/redoc`` pages are switched off: they load their scripts from a CDN.

In front of the routes: a strict Content-Security-Policy, an optional Host check (DNS
rebinding), a per-client token-bucket rate limit on ``/api/`` and a request body size limit.
Malformed requests get a 4xx whose body says what is wrong, never the request echoed back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.middleware.trustedhost import TrustedHostMiddleware

from sketchssl import __version__
from sketchssl.errors import SketchFormatError, SketchSSLError
from sketchssl.serve.drawing import SimplifiedDrawing, simplify_drawing
from sketchssl.serve.limits import (
    COORDINATE_LIMIT,
    MAX_STROKE_POINTS,
    MAX_STROKES,
    MAX_TOTAL_POINTS,
    RateLimiter,
    ServerLimits,
)
from sketchssl.serve.middleware import BodySizeLimit, RateLimit, SecurityHeaders
from sketchssl.serve.schemas import (
    ClassifyResponse,
    CompleteRequest,
    CompleteResponse,
    DrawingRequest,
    EmbedResponse,
    HealRequest,
    HealResponse,
    InfoResponse,
    NeighboursRequest,
    NeighboursResponse,
)
from sketchssl.serve.service import ModelService

__all__ = ["ErrorResponse", "create_app", "STATIC_DIR"]

STATIC_DIR = resources.files("sketchssl.serve") / "static"
#: Validation errors listed in a 422 body at most (a huge array could yield thousands).
MAX_REPORTED_ERRORS = 10


class ErrorResponse(BaseModel):
    """A refused request: what is wrong and how to fix it."""

    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "The server has not loaded what this needs."},
    413: {"model": ErrorResponse, "description": "Request body too large."},
    422: {"description": "The drawing or an option is invalid (the body says which)."},
    429: {"model": ErrorResponse, "description": "Too many requests (see Retry-After)."},
}


def _location(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _validation_body(errors: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A 422 body without the offending input (it may be huge, or NaN, which JSON cannot hold)."""
    shown = [
        {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": error["type"]}
        for error in errors[:MAX_REPORTED_ERRORS]
    ]
    first = shown[0] if shown else {"loc": [], "msg": "invalid request"}
    message = f"{_location(first['loc'])}: {first['msg']}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return {"detail": shown, "message": message}


def create_app(
    service: ModelService,
    limits: ServerLimits | None = None,
    *,
    allowed_hosts: Sequence[str] | None = None,
    clock: Callable[[], float] | None = None,
) -> FastAPI:
    """The demo application around a loaded :class:`ModelService`.

    Args:
        service: the models.
        limits: body size and rate limits (:class:`ServerLimits` defaults).
        allowed_hosts: accepted ``Host`` headers (DNS-rebinding guard); None accepts any.
        clock: monotonic seconds for the rate limiter (tests).
    """
    limits = limits or ServerLimits()
    app = FastAPI(
        title="sketchssl demo",
        version=__version__,
        summary="Draw a sketch: recognised, its nearest gallery sketches, completed and healed.",
        description=(
            "Every endpoint takes a drawing as in QuickDraw's simplified ndjson, "
            '`{"drawing": [[xs, ys], ...]}`, one pair of integer lists per stroke '
            f"(at most {MAX_STROKES} strokes, {MAX_STROKE_POINTS} points per stroke, "
            f"{MAX_TOTAL_POINTS} points in all, integers within +-{COORDINATE_LIMIT}). "
            "The server simplifies it as QuickDraw's simplified files were made before the "
            f"model reads it. Requests: at most {limits.max_body_bytes} bytes, "
            f"{limits.rate:g} per second per client (bursts of {limits.burst})."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.service = service
    app.state.limits = limits

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content=_validation_body(error.errors()))

    @app.exception_handler(SketchSSLError)
    async def unusable_drawing(request: Request, error: SketchSSLError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(error)})

    def drawing_of(request: DrawingRequest) -> SimplifiedDrawing:
        try:
            return simplify_drawing(request.drawing)
        except SketchFormatError as error:
            raise HTTPException(422, f"drawing: {error}") from None

    def require(available: bool, what: str) -> None:
        if not available:
            raise HTTPException(404, what)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(STATIC_DIR / "index.html"), media_type="text/html")

    @app.get("/api/info", response_model=InfoResponse, responses=ERRORS)
    def info() -> dict[str, Any]:
        """What the server has loaded, which endpoints work, and the request limits."""
        return {
            **service.info(),
            "limits": {
                "max_strokes": MAX_STROKES,
                "max_stroke_points": MAX_STROKE_POINTS,
                "max_total_points": MAX_TOTAL_POINTS,
                "coordinate_limit": COORDINATE_LIMIT,
                "max_body_bytes": limits.max_body_bytes,
                "rate": limits.rate,
                "burst": limits.burst,
            },
        }

    @app.post("/api/embed", response_model=EmbedResponse, responses=ERRORS)
    def embed(request: DrawingRequest) -> dict[str, Any]:
        """The encoder's embedding of the drawing."""
        vector = service.embed(drawing_of(request))
        return {"method": service.encoder.name, "dim": len(vector), "embedding": vector.tolist()}

    @app.post("/api/classify", response_model=ClassifyResponse, responses=ERRORS)
    def classify(request: DrawingRequest) -> dict[str, Any]:
        """Top-5 classes: a classifier head, a shipped linear head, else kNN over the gallery."""
        source = service.classify_source
        require(
            source is not None,
            "no classifier: the checkpoint has no classifier head and no labelled gallery was "
            "given; start the server with --gallery STORE",
        )
        top = service.classify(drawing_of(request))
        if source == "classifier_head":
            note = f"softmax of the {service.encoder.name} classifier head"
        elif source == "linear_head":
            note = (
                f"softmax of the linear head shipped with {service.encoder.path} over its "
                f"features ({len(service.class_names)} QuickDraw classes)"
            )
        else:
            note = (
                f"no classifier head in {service.encoder.name}: weighted kNN (k = "
                f"{service.knn.k}, T = {service.knn.temperature:g}) over "
                f"{len(service.gallery.indices)} gallery embeddings; score = share of the votes"
            )
        return {
            "source": source,
            "note": note,
            "top": [{"index": i, "name": name, "score": round(s, 4)} for i, name, s in top],
        }

    @app.post("/api/neighbours", response_model=NeighboursResponse, responses=ERRORS)
    def neighbours(request: NeighboursRequest) -> dict[str, Any]:
        """The gallery sketches nearest to the drawing (cosine similarity of embeddings)."""
        require(service.gallery is not None, "no gallery: start the server with --gallery STORE")
        found = service.neighbours(drawing_of(request), request.k)
        return {"neighbours": found, "gallery_size": len(service.gallery.indices)}

    @app.post("/api/complete", response_model=CompleteResponse, responses=ERRORS)
    def complete(request: CompleteRequest) -> dict[str, Any]:
        """Sketch-BERT's gestalt completion: hidden points of the drawing filled in."""
        require(
            service.can_complete,
            f"completion needs a sketch_bert checkpoint; this server runs {service.encoder.name}",
        )
        return service.complete(
            drawing_of(request), request.keep_prob, request.extend, request.seed
        )

    @app.post("/api/heal", response_model=HealResponse, responses=ERRORS)
    def heal(request: HealRequest) -> dict[str, Any]:
        """Mask patches of the drawing and redraw it with the healing checkpoint."""
        require(
            service.healer is not None,
            "no healing checkpoint: start the server with --heal-checkpoint CKPT",
        )
        return service.heal(
            drawing_of(request),
            request.mask_prob,
            temperature=request.temperature,
            greedy=request.greedy,
            seed=request.seed,
        )

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    # Added innermost first: a request meets the headers, Host check, rate limit, body limit.
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)
    app.add_middleware(
        RateLimit, limiter=RateLimiter(limits, clock) if clock else RateLimiter(limits)
    )
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(SecurityHeaders)
    return app
