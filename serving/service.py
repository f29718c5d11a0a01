"""The BentoML service: ``POST /suggestions``, ``POST /compare``, ``GET /metadata``, the citizen's own ``GET /me`` and
``PUT /me/opt-out``, the operators' ``POST /admin/reload``, the site "Mijn loopbaan" at ``/site/``, the OpenAPI
document at ``/docs.json`` (browsable at ``/``), and BentoML's own ``/healthz``, ``/readyz``, ``/livez``, ``/metrics``.

Start it with ``loopbaan serve`` or ``bentoml serve serving.service:SuggestionService``. Settings come from the
environment (``LOOPBAAN_*``). BentoML runs the worker processes; the routes are FastAPI's, so that every refusal
has the one documented error body and the OpenAPI document says what the service really answers
(:mod:`serving.openapi`). Each worker follows the registry by itself (:class:`serving.engine.RegistryWatcher`).
"""

from __future__ import annotations

import functools
import gc
from http import HTTPStatus
from pathlib import Path

import anyio
import bentoml
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from features.settings import Settings
from serving import schemas
from serving.audit import AuditEntry
from serving.engine import RequestError, SuggestionEngine
from serving.middleware import MAX_BODY_BYTES, AuditTrail, BodyLimit
from serving.openapi import BEARER, OPTIONAL_TOKEN, openapi_document, refusals

WORKERS = Settings().service_workers  # read when the service is defined: BentoML needs it then
SITE = Path(__file__).resolve().parent / "site"
ERR_SCHEMA = "the request does not match the API's schema (/docs.json): {problems}"
ERR_NOT_JSON = "the request body is not valid JSON ({reason}); send a JSON object as /docs.json describes"
ERR_LANGUAGE = "language must be one of nl, en"

api = FastAPI(title="loopbaan", openapi_url=None, docs_url=None, redoc_url=None)
api.mount("/site", StaticFiles(directory=SITE, html=True), name="site")
_LANGUAGE = TypeAdapter(schemas.Language)
_LANGUAGE_PARAMETER = {"parameters": [{
    "name": "language", "in": "query", "required": False, "description": "Language of the labels.",
    "schema": {"type": "string", "enum": ["nl", "en"], "default": "nl"}}]}
_OPT_OUT_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": schemas.OptOutRequest.model_json_schema()}}}}


def _problem(error: dict) -> schemas.ErrorDetail:
    message = str(error.get("msg", "invalid"))
    return schemas.ErrorDetail(location=[part for part in error.get("loc", ()) if isinstance(part, str | int)],
                               message=message.removeprefix("Value error, "))


def _error(status: int, message: str, details: list[schemas.ErrorDetail] | None = None,
           headers: dict | None = None) -> JSONResponse:
    body = schemas.ErrorResponse(error=message, details=details or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _invalid(errors) -> JSONResponse:
    errors = list(errors)
    details = [_problem(error) for error in errors]
    broken = next((error for error in errors if error.get("type") == "json_invalid"), None)
    if broken is not None:
        reason = (broken.get("ctx") or {}).get("error", "")
        return _error(HTTPStatus.BAD_REQUEST, ERR_NOT_JSON.format(reason=reason), details)
    problems = "; ".join(f"{'.'.join(str(part) for part in detail.location[1:]) or 'body'}: {detail.message}"
                         for detail in details[:5])
    return _error(HTTPStatus.BAD_REQUEST, ERR_SCHEMA.format(problems=problems), details)


@api.exception_handler(RequestValidationError)
async def _validation_refused(request: Request, error: RequestValidationError) -> JSONResponse:
    return _invalid(error.errors())


@api.exception_handler(StarletteHTTPException)
async def _http_refused(request: Request, error: StarletteHTTPException) -> JSONResponse:
    return _error(error.status_code, str(error.detail), headers=error.headers)


@api.exception_handler(RequestError)
async def _request_refused(request: Request, error: RequestError) -> JSONResponse:
    return _error(error.status, error.message)


@api.get("/docs.json", include_in_schema=False)
def openapi_json() -> JSONResponse:
    return JSONResponse(openapi_document(api))


@api.get("/docs", include_in_schema=False)
def docs() -> RedirectResponse:
    return RedirectResponse("/")


def _audit(request: Request) -> AuditEntry | None:
    """The request's audit entry, which :class:`serving.middleware.AuditTrail` writes."""
    entry = getattr(request.state, "audit", None)
    return entry if isinstance(entry, AuditEntry) else None


@bentoml.asgi_app(api, path="/")
@bentoml.service(name="loopbaan", workers=WORKERS, traffic={"timeout": 60})
class SuggestionService:
    def __init__(self) -> None:
        from threadpoolctl import threadpool_limits

        # One request is small: BLAS threads would only contend with the other worker for the cores.
        threadpool_limits(limits=1)
        self.engine = SuggestionEngine(watch=True)
        self.engine.warm_up()
        # What start-up built lives as long as the process: keep it out of every later full garbage collection.
        gc.freeze()
        self._computing: anyio.CapacityLimiter | None = None

    async def _compute(self, function, /, **kwargs):
        """Rank and explain in a worker thread, one request at a time per process (as BentoML runs its own APIs):
        a second thread would only contend for the interpreter and the cores."""
        if self._computing is None:
            self._computing = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(functools.partial(function, **kwargs), limiter=self._computing)

    @api.post("/suggestions", response_model=schemas.SuggestionResponse, openapi_extra=OPTIONAL_TOKEN,
              responses=refusals(400, 401, 403, 404, 413, 422, 503))
    async def suggestions(self, request: Request, body: schemas.SuggestionRequest, token=Depends(BEARER)):
        """Ranked, explained suggestions of one kind for a citizen (their token) or an anonymous profile (no token).

        In a list of a mitigated version, each suggestion that the fairness guarantee moved up says so
        (`moved_by`, `moved_reason`)."""
        return await self._compute(self.engine.suggestions, request=body,
                                   authorization=request.headers.get("authorization"), audit=_audit(request))

    @api.post("/compare", response_model=schemas.CompareResponse, openapi_extra=OPTIONAL_TOKEN,
              responses=refusals(400, 401, 403, 404, 409, 413, 422, 503))
    async def compare(self, request: Request, body: schemas.CompareRequest, token=Depends(BEARER)):
        """Why A and B stand in the order the citizen sees: the score difference with its per-feature contributions,
        and where the fairness guarantee set the order, that it did."""
        return await self._compute(self.engine.compare, request=body,
                                   authorization=request.headers.get("authorization"), audit=_audit(request))

    @api.get("/metadata", response_model=schemas.MetadataResponse)
    def metadata(self, request: Request):
        """Served models and versions (since when each serves), withdrawn kinds, and each version's last fairness
        assessment."""
        return self.engine.metadata(audit=_audit(request))

    @api.get("/me", response_model=schemas.CareerDataResponse, openapi_extra=_LANGUAGE_PARAMETER,
             responses=refusals(400, 401, 404, 503, notes={404: "The token's citizen is not in the population."}))
    def career_data(self, request: Request, token=Depends(BEARER)):
        """The token holder's own career data ("loopbaandata") with where each competency came from."""
        try:
            language = _LANGUAGE.validate_python(request.query_params.get("language", "nl"))
        except ValidationError:
            raise RequestError(HTTPStatus.BAD_REQUEST, ERR_LANGUAGE) from None
        return self.engine.career_data(authorization=request.headers.get("authorization"), language=language,
                                       audit=_audit(request))

    @api.put("/me/opt-out", response_model=schemas.OptOutResponse, openapi_extra=_OPT_OUT_BODY,
             responses=refusals(400, 401, 404, 413, 503,
                                notes={404: "The token's citizen is not in the population."}))
    async def opt_out(self, request: Request, token=Depends(BEARER)):
        """Switch AI suggestions off (a general list instead) or back on, for the token holder only."""
        try:
            choice = schemas.OptOutRequest.model_validate_json(await request.body())
        except ValidationError as error:
            return _invalid([{**problem, "loc": ("body", *problem["loc"])} for problem in error.errors()])
        return await run_in_threadpool(self.engine.set_opt_out, authorization=request.headers.get("authorization"),
                                       opted_out=choice.opted_out, audit=_audit(request))

    @api.post("/admin/reload", response_model=schemas.ReloadResponse, responses=refusals(401, 403))
    def reload(self, request: Request, token=Depends(BEARER)):
        """Follow the model registry now (an admin token): a moved champion alias serves at once in this process and
        within a second in the others (they also look every LOOPBAAN_RELOAD_SECONDS by themselves)."""
        return self.engine.request_reload(authorization=request.headers.get("authorization"),
                                          audit=_audit(request))


SuggestionService.add_asgi_middleware(AuditTrail)
SuggestionService.add_asgi_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
