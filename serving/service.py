"""The BentoML service: ``POST /suggestions``, ``POST /compare``, ``GET /metadata``, the citizen's own
``GET /me`` and ``PUT /me/opt-out``, and the site "Mijn loopbaan" at ``/site/`` (plus BentoML's own
``/healthz``, ``/readyz``, ``/livez``, ``/metrics`` and the OpenAPI document at ``/docs.json``).

Start it with ``loopbaan serve`` or ``bentoml serve serving.service:SuggestionService``. Settings come from
the environment (``LOOPBAAN_*``); everything heavy is loaded once, in ``__init__``.
"""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from pathlib import Path

import bentoml
from bentoml.exceptions import BentoMLException
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from features.settings import Settings
from serving import schemas
from serving.engine import RequestError, SuggestionEngine

MAX_BODY_BYTES = 64 * 1024
WORKERS = Settings().service_workers  # read when the service is defined: BentoML needs it then

SITE = Path(__file__).resolve().parent / "site"

info_app = FastAPI(title="loopbaan service information")
info_app.mount("/site", StaticFiles(directory=SITE, html=True), name="site")


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 before anything parses it."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = json.dumps({"error": f"the request body is larger than {self.max_bytes:,} bytes"}).encode()
        await send({"type": "http.response.start", "status": HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def _request_id(ctx: bentoml.Context | Request) -> str:
    headers = ctx.headers if isinstance(ctx, Request) else ctx.request.headers
    given = headers.get("x-request-id", "")
    return given if given and len(given) <= 64 and given.replace("-", "").isalnum() else uuid.uuid4().hex


def _refusal(error: RequestError) -> BentoMLException:
    return BentoMLException(error.message, error_code=error.status)


@bentoml.asgi_app(info_app, path="/")
@bentoml.service(name="loopbaan", workers=WORKERS, traffic={"timeout": 60})
class SuggestionService:
    def __init__(self) -> None:
        from threadpoolctl import threadpool_limits

        # One request is small: BLAS threads would only contend with the other worker for the cores.
        threadpool_limits(limits=1)
        self.engine = SuggestionEngine()

    @bentoml.api(route="/suggestions", input_spec=schemas.SuggestionRequest)
    def suggestions(self, ctx: bentoml.Context, **fields) -> schemas.SuggestionResponse:
        """Ranked, explained suggestions of one kind for a citizen (their token) or an anonymous profile."""
        request = schemas.SuggestionRequest(**fields)
        try:
            return self.engine.suggestions(request, authorization=ctx.request.headers.get("authorization"),
                                           request_id=_request_id(ctx))
        except RequestError as error:
            raise _refusal(error) from None

    @bentoml.api(route="/compare", input_spec=schemas.CompareRequest)
    def compare(self, ctx: bentoml.Context, **fields) -> schemas.CompareResponse:
        """Why is item A above item B for this profile: the per-feature difference of their contributions."""
        request = schemas.CompareRequest(**fields)
        try:
            return self.engine.compare(request, authorization=ctx.request.headers.get("authorization"),
                                       request_id=_request_id(ctx))
        except RequestError as error:
            raise _refusal(error) from None

    @info_app.get("/metadata")
    def metadata(self) -> dict:
        """Served models, versions, aliases and the last fairness assessment of each version."""
        return self.engine.metadata()

    @info_app.get("/me", response_model=schemas.CareerDataResponse)
    def career_data(self, request: Request, language: schemas.Language = "nl"):
        """The token holder's own career data ("loopbaandata") with where each competency came from."""
        try:
            return self.engine.career_data(authorization=request.headers.get("authorization"), language=language,
                                           request_id=_request_id(request))
        except RequestError as error:
            return JSONResponse({"error": error.message}, status_code=error.status)

    @info_app.put("/me/opt-out", response_model=schemas.OptOutResponse)
    def opt_out(self, request: Request, choice: schemas.OptOutRequest):
        """Switch AI suggestions off (a general list instead) or back on, for the token holder only."""
        try:
            return self.engine.set_opt_out(authorization=request.headers.get("authorization"),
                                           opted_out=choice.opted_out, request_id=_request_id(request))
        except RequestError as error:
            return JSONResponse({"error": error.message}, status_code=error.status)


SuggestionService.add_asgi_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
