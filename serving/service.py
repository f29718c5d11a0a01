"""The BentoML service. Routes, by who calls them:

- lists and their explanations: ``POST /suggestions``, ``/compare``, ``/why-not``, ``/what-if`` (a citizen's token, or
  an anonymous profile);
- the citizen's own data in the vault (their token): ``GET /me``, ``PUT /me/opt-out``, ``POST /me/competencies``,
  ``POST /me/records``, ``DELETE /me/entries/{entry_id}``, ``POST /me/feedback``, ``DELETE /me/feedback``,
  ``GET /me/recourse``;
- the taxonomy and catalogues (no token): ``GET /search/competencies``, ``GET /search/occupations``,
  ``GET /catalogue/diplomas``; ``GET /metadata``;
- sign-in and sharing: ``GET /auth/config`` (the site's OpenID sign-in), ``GET /me/shares``, ``POST /me/shares``,
  ``DELETE /me/shares/{grant_id}`` (the citizen's token), ``GET /partner/profiles/{share}`` (a partner's own
  client-credentials token); the data register ``GET /register`` and ``/register.html`` (no token);
- operators: ``POST /admin/reload``;
- the site "Mijn loopbaan" at ``/site/``, the OpenAPI document at ``/docs.json`` (browsable at ``/``), and BentoML's
  own ``/healthz``, ``/readyz``, ``/livez``, ``/metrics``.

Each route is a thin call into :class:`serving.core.ServiceCore` (its ``me`` for the ``/me`` routes, its ``orders``
for ``/compare`` and ``/why-not``, its ``shares`` for sharing); every route learns whose request it is through
:class:`serving.signin.SignIn` only.

Start it with ``loopbaan serve`` or ``bentoml serve serving.service:SuggestionService``. Settings come from the
environment (``LOOPBAAN_*``). BentoML runs the worker processes; the routes are FastAPI's, so that every refusal
has the one documented error body and the OpenAPI document says what the service really answers
(:mod:`serving.openapi`). Each worker follows the registry by itself
(:class:`serving.served_models.RegistryWatcher`).
"""

from __future__ import annotations

import functools
import gc
import re
from http import HTTPStatus
from pathlib import Path

import anyio
import bentoml
from fastapi import Depends, FastAPI, Path as PathParam, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from features.register import SUGGESTIONS, processing
from features.register_document import RegisterDocument
from features.register_page import render_register_page
from features.settings import Settings
from serving import schemas
from serving.audit import AuditEntry
from serving.core import ServiceCore
from serving.errors import RequestError
from serving.search import MAX_QUERY_CHARS
from serving.middleware import MAX_BODY_BYTES, AuditTrail, BodyLimit
from serving.openapi import BEARER, OPTIONAL_TOKEN, json_refusals, openapi_document, refusals

WORKERS = Settings().service_workers  # read when the service is defined: BentoML needs it then
LANGUAGE = "Language of titles, labels and sentences."
QUERY = "What the citizen typed (at least one letter or digit)."
NOT_IN_VAULT = "The token's citizen is not in the vault."
SEARCH_NOTES = {422: "The query cannot be searched: it is blank or has no letters or digits."}
EDIT_NOTES = {
    404: NOT_IN_VAULT,
    409: "The career data changed since the citizen read it (another window saved first; `revision` says the "
         "revision it is at now: reload and edit again), or the same entry is already there. Nothing was saved.",
    413: "The body is larger than 64 KiB, or the citizen already added the most entries the vault keeps (500).",
    422: "Well formed, but not an entry the vault can hold: a competency id the taxonomy does not have, a training or "
         "diploma not in the catalogue, a date after today or before 1940.",
}
NO_PROVIDER = "The service has no OpenID provider (LOOPBAAN_OIDC_ISSUER is not set)."
SHARE_NOTES = {
    404: NOT_IN_VAULT,
    413: "The body is larger than 64 KiB, or the citizen has the most open shares the vault keeps.",
    422: "A share that cannot be made as asked (`code` says which rule): an unknown partner, a purpose not for this "
         "partner, an employer's share without a vacancy, a contact wish without its part, a name in a "
         "pseudonymised share, ...",
}
PARTNER_NOTES = {
    401: "No partner token, or one the provider did not issue, that expired or is not a client-credentials token.",
    403: "Not available: not this partner's share, revoked, not yet valid, expired, or a part not granted (one "
         "answer for all, recorded for the citizen), or a client that is no partner.",
    503: "The sign-in provider cannot be reached to check the token.",
}
SITE = Path(__file__).resolve().parent / "site"
ERR_SCHEMA = "the request does not match the API's schema (/docs.json): {problems}"
ERR_NOT_JSON = "the request body is not valid JSON ({reason}); send a JSON object as /docs.json describes"

api = FastAPI(title="loopbaan", openapi_url=None, docs_url=None, redoc_url=None)
api.mount("/site", StaticFiles(directory=SITE, html=True), name="site")
_OPT_OUT_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": schemas.OptOutRequest.model_json_schema()}}}}


def _problem(error: dict) -> schemas.ErrorDetail:
    message = str(error.get("msg", "invalid"))
    return schemas.ErrorDetail(location=[part for part in error.get("loc", ()) if isinstance(part, str | int)],
                               message=message.removeprefix("Value error, "))


def _error(status: int, message: str, details: list[schemas.ErrorDetail] | None = None,
           headers: dict | None = None, revision: int | None = None, code: str | None = None) -> JSONResponse:
    body = schemas.ErrorResponse(error=message, details=details or [], revision=revision, code=code)
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers)


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


def _allowed(path: str) -> str:
    """Every documented method for ``path`` (Starlette's 405 names only those of the first route it matched)."""
    methods = {method.upper() for template, operations in openapi_document(api)["paths"].items()
               if re.fullmatch(re.sub(r"\{[^/}]+\}", "[^/]+", template), path) for method in operations}
    return ", ".join(sorted(methods))


@api.exception_handler(StarletteHTTPException)
async def _http_refused(request: Request, error: StarletteHTTPException) -> JSONResponse:
    headers = error.headers
    if error.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        headers = {**(headers or {}), "Allow": _allowed(request.url.path)}
    return _error(error.status_code, str(error.detail), headers=headers)


@api.exception_handler(RequestError)
async def _request_refused(request: Request, error: RequestError) -> JSONResponse:
    return _error(error.status, error.message, revision=error.revision, code=error.code)


@api.get("/docs.json", include_in_schema=False)
def openapi_json() -> JSONResponse:
    return JSONResponse(openapi_document(api))


@api.get("/docs", include_in_schema=False)
def docs() -> RedirectResponse:
    return RedirectResponse("/")


def _on_the_site(function, /, **kwargs):
    """Run a request of the citizen's site as the register's processing "suggestions": a table it does not declare
    is refused at the read (:func:`features.register.processing`)."""
    with processing(SUGGESTIONS):
        return function(**kwargs)


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
        self.core = ServiceCore(watch=True)
        self.core.warm_up()
        # What start-up built lives as long as the process: keep it out of every later full garbage collection.
        gc.freeze()
        self._computing: anyio.CapacityLimiter | None = None

    async def _compute(self, function, /, **kwargs):
        """Rank and explain in a worker thread, one request at a time per process (as BentoML runs its own APIs):
        a second thread would only contend for the interpreter and the cores. It runs as the site's processing."""
        if self._computing is None:
            self._computing = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(functools.partial(_on_the_site, function, **kwargs),
                                              limiter=self._computing)

    @api.post("/suggestions", response_model=schemas.SuggestionResponse, openapi_extra=OPTIONAL_TOKEN,
              responses=refusals(400, 401, 403, 404, 413, 422, 503))
    async def suggestions(self, request: Request, body: schemas.SuggestionRequest, token=Depends(BEARER)):
        """Ranked, explained suggestions of one kind for a citizen (their token) or an anonymous profile (no token).

        In a list of a mitigated version, each suggestion that the fairness guarantee moved up says so
        (`moved_by`, `moved_reason`)."""
        return await self._compute(self.core.suggestions, request=body,
                                   authorization=request.headers.get("authorization"), audit=_audit(request))

    @api.post("/compare", response_model=schemas.CompareResponse, openapi_extra=OPTIONAL_TOKEN,
              responses=refusals(400, 401, 403, 404, 409, 413, 422, 503))
    async def compare(self, request: Request, body: schemas.CompareRequest, token=Depends(BEARER)):
        """Why A and B stand in the order the citizen sees: the score difference with its per-feature contributions,
        and where the fairness guarantee set the order, that it did."""
        return await self._compute(self.core.orders.compare, request=body,
                                   authorization=request.headers.get("authorization"), audit=_audit(request))

    @api.post("/why-not", response_model=schemas.WhyNotResponse, openapi_extra=OPTIONAL_TOKEN,
              responses=refusals(400, 401, 403, 404, 409, 413, 422, 503))
    async def why_not(self, request: Request, body: schemas.WhyNotRequest, token=Depends(BEARER)):
        """"Waarom niet deze vacature?": an item's place in the citizen's ranking and the contributions that separate
        it from the last suggestion shown (or that the citizen dismissed it)."""
        return await self._compute(self.core.orders.why_not, request=body,
                                   authorization=request.headers.get("authorization"), audit=_audit(request))

    @api.post("/what-if", response_model=schemas.WhatIfResponse, openapi_extra=OPTIONAL_TOKEN,
              responses=refusals(400, 401, 403, 404, 409, 413, 422, 503, notes={
                  409: "The citizen opted out of AI suggestions, so nothing personal is computed.",
                  422: "A competency id the taxonomy does not hold, or an anonymous profile it cannot read."}))
    async def what_if(self, request: Request, body: schemas.WhatIfRequest, token=Depends(BEARER)):
        """"What if I learn X": the list as it would be with these competencies, with its explanations, and how many
        more vacancies and career steps would be ready. Nothing is stored."""
        return await self._compute(self.core.what_if, request=body,
                                   authorization=request.headers.get("authorization"), audit=_audit(request))

    @api.get("/metadata", response_model=schemas.MetadataResponse)
    def metadata(self, request: Request):
        """Served models and versions (since when each serves), withdrawn kinds, and each version's last fairness
        assessment."""
        return self.core.metadata(audit=_audit(request))

    # -- the citizen's own data (the vault) ------------------------------------------------------------------

    @api.get("/me", response_model=schemas.CareerDataResponse,
             responses=refusals(400, 401, 404, 503, notes={404: NOT_IN_VAULT}))
    async def career_data(self, request: Request, language: schemas.Language = Query("nl", description=LANGUAGE),
                          token=Depends(BEARER)):
        """The token holder's own career data ("loopbaandata") with where each competency came from, what they added
        themselves (removable), their feedback, and the revision to send with an edit."""
        return await self._compute(self.core.me.career_data, authorization=request.headers.get("authorization"),
                                   language=language, audit=_audit(request))

    @api.put("/me/opt-out", response_model=schemas.OptOutResponse, openapi_extra=_OPT_OUT_BODY,
             responses=refusals(400, 401, 404, 413, 503, notes={404: NOT_IN_VAULT}))
    async def opt_out(self, request: Request, token=Depends(BEARER)):
        """Switch AI suggestions off (a general list instead) or back on, for the token holder only."""
        try:
            choice = schemas.OptOutRequest.model_validate_json(await request.body())
        except ValidationError as error:
            return _invalid([{**problem, "loc": ("body", *problem["loc"])} for problem in error.errors()])
        return await run_in_threadpool(
            _on_the_site, self.core.me.set_opt_out, authorization=request.headers.get("authorization"),
            opted_out=choice.opted_out, audit=_audit(request))

    @api.post("/me/competencies", status_code=201, response_model=schemas.ChangeResponse,
              responses=refusals(400, 401, 404, 409, 413, 422, 503, notes=EDIT_NOTES))
    async def add_competency(self, request: Request, body: schemas.AddCompetencyRequest, token=Depends(BEARER)):
        """Add a competency the citizen holds (source "self-declared"); the list asked for comes back recomputed,
        with what changed ("3 vacatures nu pasklaar dankzij 'heftruck besturen'")."""
        return await self._compute(self.core.me.add_competency, request=body,
                                   authorization=request.headers.get("authorization"), audit=_audit(request))

    @api.post("/me/records", status_code=201, response_model=schemas.ChangeResponse,
              responses=refusals(400, 401, 404, 409, 413, 422, 503, notes=EDIT_NOTES))
    async def add_record(self, request: Request, body: schemas.AddRecordRequest, token=Depends(BEARER)):
        """Add an orientation-test result, a completed course or a diploma (source "self-declared"); the list asked
        for comes back recomputed, with what changed."""
        return await self._compute(self.core.me.add_record, request=body,
                                   authorization=request.headers.get("authorization"), audit=_audit(request))

    @api.delete("/me/entries/{entry_id}", response_model=schemas.ChangeResponse,
                responses=refusals(400, 401, 403, 404, 409, 422, 503, notes={
                    **EDIT_NOTES, 403: "The entry came from a source (an employer, a school, guidance), not from the "
                                       "citizen: only what they added themselves can be removed here.",
                    422: "The citizen has no such entry."}))
    async def remove_entry(self, request: Request,
                           entry_id: int = PathParam(ge=1, le=schemas.MAX_DB_INT,
                                                     description="The entry (GET /me `entries`)."),
                           revision: int = Query(ge=0, le=schemas.MAX_DB_INT,
                                                 description="The revision the removal was made on (GET /me)."),
                           kind: schemas.Kind = Query("jobs", description="The list to recompute."),
                           k: int = Query(10, ge=1, le=schemas.MAX_K, description="Its length (1-50)."),
                           language: schemas.Language = Query("nl", description=LANGUAGE), token=Depends(BEARER)):
        """Remove something the citizen added themselves, with the competencies it gave; the list asked for comes back
        recomputed, with what changed."""
        return await self._compute(self.core.me.remove_entry, authorization=request.headers.get("authorization"),
                                   entry_id=entry_id, revision=revision,
                                   listing=schemas.ListRequest(kind=kind, k=k, language=language),
                                   audit=_audit(request))

    @api.post("/me/feedback", status_code=201, response_model=schemas.FeedbackOut,
              responses=refusals(400, 401, 404, 409, 413, 503, notes={
                  404: "The citizen, or the item in that kind's catalogue, is not known.",
                  409: "The citizen already gave feedback on this item (remove it first to give another reason)."}))
    async def feedback(self, request: Request, body: schemas.FeedbackRequest, token=Depends(BEARER)):
        """"Niet voor mij, omdat…" (too far, not interested, tried before, cannot meet a requirement, other): the item
        stays out of the citizen's lists of that kind."""
        return await self._compute(self.core.me.add_feedback, request=body,
                                   authorization=request.headers.get("authorization"), audit=_audit(request))

    @api.delete("/me/feedback", response_model=schemas.FeedbackListResponse,
                responses=refusals(400, 401, 404, 422, 503, notes={
                    404: NOT_IN_VAULT, 422: "The citizen gave no feedback on this item."}))
    async def remove_feedback(self, request: Request, kind: schemas.Kind = Query(description="The item's kind."),
                              item_id: str = Query(min_length=1, max_length=schemas.MAX_ID_CHARS),
                              language: schemas.Language = Query("nl", description=LANGUAGE), token=Depends(BEARER)):
        """Take feedback back: the item may appear in the citizen's lists again. Answers the feedback left."""
        return await self._compute(self.core.me.remove_feedback, authorization=request.headers.get("authorization"),
                                   kind=kind, item_id=item_id, language=language, audit=_audit(request))

    @api.get("/me/recourse", response_model=schemas.RecoursePanelResponse,
             responses=refusals(400, 401, 404, 409, 503, notes={
                 404: NOT_IN_VAULT, 409: "The citizen opted out of AI suggestions, so nothing personal is computed."}))
    async def recourse(self, request: Request,
                       kind: schemas.OccupationKind = Query("jobs", description=(
                           "Vacancies (within the citizen's commute) or career steps; trainings have no recourse.")),
                       language: schemas.Language = Query("nl", description=LANGUAGE),
                       limit: int = Query(5, ge=1, le=20, description="How many competencies (1-20)."),
                       token=Depends(BEARER)):
        """What learning opens up: the competencies whose learning alone makes the most items ready ("met 'heftruck
        besturen' worden 14 vacatures pasklaar"), counted exactly over the whole catalogue, each with the training
        that teaches it."""
        return await self._compute(self.core.me.recourse, authorization=request.headers.get("authorization"),
                                   kind=kind, language=language, limit=limit, audit=_audit(request))

    # -- the taxonomy and catalogues (no token) ----------------------------------------------------------------

    @api.get("/search/competencies", response_model=schemas.SearchResponse, responses=refusals(400, 422, notes=SEARCH_NOTES))
    async def search_competencies(self, request: Request,
                                  query: str = Query(min_length=1, max_length=MAX_QUERY_CHARS, description=QUERY),
                                  language: schemas.Language = Query("nl", description=LANGUAGE),
                                  k: int = Query(10, ge=1, le=schemas.MAX_K, description="How many (1-50).")):
        """Competencies by what a citizen types, in Dutch or English ("heftruck besturen", "Java"): the site's
        search-as-you-type."""
        return await self._compute(self.core.find, kind="competencies", query=query, language=language, k=k,
                                   audit=_audit(request))

    @api.get("/search/occupations", response_model=schemas.SearchResponse, responses=refusals(400, 422, notes=SEARCH_NOTES))
    async def search_occupations(self, request: Request,
                                 query: str = Query(min_length=1, max_length=MAX_QUERY_CHARS, description=QUERY),
                                 language: schemas.Language = Query("nl", description=LANGUAGE),
                                 k: int = Query(10, ge=1, le=schemas.MAX_K, description="How many (1-50).")):
        """Occupations by a typed job title, in Dutch or English ("lasser", "poetsvrouw", "welder")."""
        return await self._compute(self.core.find, kind="occupations", query=query, language=language, k=k,
                                   audit=_audit(request))

    @api.get("/catalogue/diplomas", response_model=schemas.DiplomaCatalogueResponse, responses=refusals(400))
    def diplomas(self, request: Request, language: schemas.Language = Query("nl", description=LANGUAGE)):
        """The diplomas a citizen can add to their career data."""
        return self.core.diplomas(language=language, audit=_audit(request))

    # -- sign-in, sharing and the register ---------------------------------------------------------------------

    @api.get("/auth/config", response_model=schemas.SignInConfig, responses=refusals(404, notes={404: NO_PROVIDER}))
    def auth_config(self, request: Request):
        """What the site's OpenID Connect sign-in needs (issuer, client id, audience, scope); 404 when the service
        has no provider (then only test tokens of `loopbaan token` sign in)."""
        return self.core.sign_in.site_config()

    @api.get("/me/shares", response_model=schemas.SharesResponse,
             responses=refusals(400, 401, 404, 503, notes={404: NOT_IN_VAULT}))
    async def shares(self, request: Request, language: schemas.Language = Query("nl", description=LANGUAGE),
                     token=Depends(BEARER)):
        """The token holder's shares with partners (active and past), every partner call on them ("wie heeft mijn
        gegevens bekeken, wanneer, waarom"), and the partners and parts a new share can name."""
        return await run_in_threadpool(
            _on_the_site, self.core.shares.overview, authorization=request.headers.get("authorization"),
            language=language, audit=_audit(request))

    @api.post("/me/shares", status_code=201, response_model=schemas.GrantResponse,
              responses=refusals(400, 401, 404, 413, 422, 503, notes=SHARE_NOTES))
    async def share(self, request: Request, body: schemas.ShareRequest, token=Depends(BEARER)):
        """Share chosen parts of the profile with one partner, for a purpose and a period, named or pseudonymised
        (the citizen's decision; the partner then reads exactly these parts until the end or a revocation)."""
        return await run_in_threadpool(
            _on_the_site, self.core.shares.create, authorization=request.headers.get("authorization"),
            request=body, audit=_audit(request))

    @api.delete("/me/shares/{grant_id}", response_model=schemas.GrantResponse,
                responses=refusals(400, 401, 404, 503, notes={404: "No share of the token holder has this id."}))
    async def revoke_share(self, request: Request,
                           grant_id: str = PathParam(pattern=schemas.SHARE_ID_PATTERN, description="The share's id."),
                           language: schemas.Language = Query("nl", description=LANGUAGE), token=Depends(BEARER)):
        """Revoke a share now: the partner's next call is refused (revoking again keeps the first moment)."""
        return await run_in_threadpool(
            _on_the_site, self.core.shares.revoke, authorization=request.headers.get("authorization"),
            grant_id=grant_id, language=language, audit=_audit(request))

    @api.get("/partner/profiles/{share}", response_model=schemas.SharedProfileResponse,
             responses=refusals(400, 401, 403, 503, notes=PARTNER_NOTES))
    async def partner_profile(self, request: Request,
                              share: str = PathParam(pattern=schemas.SHARE_ID_PATTERN, description="The share's id."),
                              part: list[schemas.SharePartKey] | None = Query(None, max_length=4, description=(
                                  "The parts asked for (repeatable); none: every granted part.")),
                              language: schemas.Language = Query("nl", description=LANGUAGE),
                              token=Depends(BEARER)):
        """A partner (its own client-credentials token) reads the parts of a profile that the citizen shared with it;
        every call is recorded and shown to the citizen."""
        return await run_in_threadpool(self.core.shares.profile, authorization=request.headers.get("authorization"),
                                       share=share, parts=part, language=language, audit=_audit(request))

    @api.get("/register", response_model=RegisterDocument)
    def register(self, request: Request):
        """The data register: every processing of personal data (what, why, on which legal basis, how long, who is
        affected) and, for sharing, the partners with active shares and how many (small counts withheld)."""
        return self.core.register(audit=_audit(request))

    @api.get("/register.html", response_class=HTMLResponse, responses=json_refusals(400))
    def register_page(self, request: Request, lang: schemas.Language = Query("nl", description=LANGUAGE)):
        """The data register as a public page, in Dutch or English."""
        document = self.core.register(audit=_audit(request))
        return HTMLResponse(render_register_page(document, language=lang, switch_href="/register.html?lang={language}",
                                                 json_href="/register"))

    # -- operators ------------------------------------------------------------------------------------------

    @api.post("/admin/reload", response_model=schemas.ReloadResponse, responses=refusals(401, 403, 503, notes={
        503: "A token that is not an admin token could not be checked: the sign-in provider cannot be reached."}))
    def reload(self, request: Request, token=Depends(BEARER)):
        """Follow the model registry now (an admin token): a moved champion alias serves at once in this process and
        within a second in the others (they also look every LOOPBAAN_RELOAD_SECONDS by themselves)."""
        return self.core.request_reload(authorization=request.headers.get("authorization"),
                                          audit=_audit(request))


SuggestionService.add_asgi_middleware(AuditTrail)
SuggestionService.add_asgi_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
