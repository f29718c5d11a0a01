"""The service's OpenAPI document (``/docs.json``): every status an endpoint can send, with the body it sends.

Every refusal has the body :class:`serving.schemas.ErrorResponse`. The document is FastAPI's for the service's own
routes (OpenAPI 3.1, the JSON Schema dialect that pydantic writes) plus BentoML's health and metrics endpoints.
"""

from __future__ import annotations

from functools import lru_cache

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPBearer

from serving.schemas import ErrorResponse

TITLE = "loopbaan"
DESCRIPTION = ("Career suggestions (jobs, trainings, career steps) matched on competencies, each with its exact "
               "explanation, for one citizen (their token) or an anonymous profile. Every refusal has the body "
               "`ErrorResponse`: what is wrong and what to do.")
REFUSALS = {
    400: "The request is malformed (not JSON) or does not match this schema (a wrong type, a value out of range, an "
         "unknown field, a field sent as null, or not exactly one kind of profile): each problem is in `details`.",
    401: "No token, or a token that is malformed, forged or expired.",
    403: "The token is valid but may not do this (another citizen's data; an admin action with a citizen's token).",
    404: "The citizen (or the item) is not known.",
    409: "The citizen opted out of AI suggestions, so there is no personal ranking to explain.",
    413: "The request body is larger than 64 KiB.",
    422: "The request is well formed but names competency ids the taxonomy does not hold, or a job title that "
         "resembles no occupation.",
    503: "The kind has no model to serve (no approved version, or withdrawn by the fairness gate: the reason says "
         "which), or the citizens' choices cannot be read with the pseudonym key in force.",
}
BEARER = HTTPBearer(auto_error=False, scheme_name="bearerToken", description=(
    "A citizen's access token from the OpenID provider (the site's sign-in; without a provider, a test token of "
    "`loopbaan token --citizen ID`) for that citizen's own data; a partner's client-credentials token for "
    "/partner/profiles; an admin token (`loopbaan token --admin`) for /admin/reload."))
OPTIONAL_TOKEN = {"security": [{}]}  # added to the route's bearer requirement: a token, or none (anonymous)
_TEXT = {"text/plain": {"schema": {"type": "string"}}}
INFRA = {
    "/healthz": "The service process is alive (BentoML).",
    "/livez": "The service process is alive (BentoML).",
    "/readyz": "The service is ready to answer (BentoML).",
    "/metrics": "Prometheus metrics (BentoML).",
}


def refusals(*statuses: int, notes: dict[int, str] | None = None) -> dict:
    """The documented refusals of one route (FastAPI's ``responses``), each with the error body."""
    notes = notes or {}
    return {status: {"model": ErrorResponse, "description": notes.get(status, REFUSALS[status])}
            for status in statuses}


def json_refusals(*statuses: int, notes: dict[int, str] | None = None) -> dict:
    """:func:`refusals` of a route whose own answer is not JSON (a page): the error body is JSON all the same."""
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    return {status: {"description": response["description"], "content": {"application/json": {"schema": error}}}
            for status, response in refusals(*statuses, notes=notes).items()}


def _infra_paths() -> dict:
    paths = {}
    for path, what in INFRA.items():
        responses = {"200": {"description": what, "content": _TEXT}}
        if path == "/readyz":
            responses["503"] = {"description": "Not ready yet (starting).", "content": _TEXT}
        paths[path] = {"get": {"tags": ["Infrastructure"], "summary": what, "operationId": f"infra{path[1:]}",
                               "responses": responses}}
    return paths


@lru_cache(maxsize=4)
def openapi_document(app: FastAPI) -> dict:
    """The document for ``app``'s routes (built once per process)."""
    document = get_openapi(title=TITLE, version=app.version, description=DESCRIPTION, routes=app.routes)
    for operations in document["paths"].values():
        for operation in operations.values():  # FastAPI's own 422 for a route with parameters: the service sends 400
            if operation.get("responses", {}).get("422", {}).get("content", {}).get("application/json", {}).get(
                    "schema") == {"$ref": "#/components/schemas/HTTPValidationError"}:
                del operation["responses"]["422"]
    schemas = document.get("components", {}).get("schemas", {})
    if "HTTPValidationError" not in str(document["paths"]):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    document["paths"] = {**document["paths"], **_infra_paths()}
    return document
