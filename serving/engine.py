"""The serving logic, free of any web framework: load the models once, answer requests, audit them.

The BentoML service (``serving/service.py``) is a thin shell around :class:`SuggestionEngine`; the
benchmark calls the engine in-process for the latency floor.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from http import HTTPStatus

import numpy as np
import pandas as pd

from features.career_data import CareerRecords
from features.citizens import QueryContext, cold_start_context, contexts_from_store
from features.errors import LoopbaanError
from features.esco import load_esco
from features.feature_registry import sentence
from features.population.store import PopulationStore
from features.settings import Settings
from models import tracking
from models.baselines import outcome_popularity
from models.resources import KindResources, load_resources
from models.suggest import Suggester, Suggestion
from serving import schemas
from serving.audit import AuditLog
from serving.auth import TokenError, bearer_token, verify_token
from serving.consent import ConsentStore
from serving.keys import service_key

logger = logging.getLogger(__name__)
KINDS = ("jobs", "trainings", "careers")
FAIRNESS_TAGS = ("fairness.assessment_id", "fairness.passed", "fairness.assessed_at", "fairness.policy_version",
                 "fairness.failed_checks")

OPT_OUT_NOTICE = {
    "nl": "Je koos voor geen AI-suggesties: dit is een algemene lijst van veelgekozen aanbod, niet op jou afgestemd.",
    "en": "You opted out of AI suggestions: this is a general list of often chosen offers, not tailored to you.",
}
BATCH_MISSING_NOTICE = {
    "nl": "Er is geen nachtelijke lijst voor jou van het huidige model; deze lijst is nu berekend.",
    "en": "There is no nightly list for you from the current model; this list was computed now.",
}
FALLBACK_NOTICE = {
    "nl": "Er is nog geen goedgekeurd model (champion); je ziet de suggesties van de kandidaat (challenger).",
    "en": "No approved model (champion) yet; these suggestions come from the candidate (challenger).",
}
_COMPARE_SUMMARY = {
    "nl": "{a} staat hoger dan {b} vooral door: {reason}",
    "en": "{a} ranks above {b} mainly because of: {reason}",
}
_COMPARE_SUMMARY_LOWER = {
    "nl": "{a} staat niet hoger dan {b}; het grootste verschil: {reason}",
    "en": "{a} does not rank above {b}; the largest difference: {reason}",
}


class RequestError(Exception):
    """A request the service refuses: an HTTP status and a message that says what is wrong."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ServedKind:
    resources: KindResources
    suggester: Suggester
    info: schemas.ModelInfo
    popularity: np.ndarray
    fairness: dict[str, str] = field(default_factory=dict)


class SuggestionEngine:
    """Everything loaded once at start-up: taxonomy, catalogues, embeddings, and per kind the served model."""

    def __init__(self, *, settings: Settings | None = None, store: PopulationStore | None = None) -> None:
        self.settings = settings or Settings()
        self.store = store or PopulationStore(self.settings.population_dir)
        self.as_of = date.fromisoformat(self.store.manifest["config"]["as_of"])
        self.key = service_key(self.settings)
        self.audit = AuditLog(self.settings.audit_log, key=self.key)
        self.taxonomy = load_esco()
        citizens = self.store.table("citizens")
        self._opted_out = pd.Series(citizens["ai_opt_out"].to_numpy(), index=citizens["citizen_id"].to_numpy())
        self.consent = ConsentStore(self.settings.consent_log, key=self.key)
        self.careers = CareerRecords.of(store=self.store, taxonomy=self.taxonomy)
        self.kinds: dict[str, ServedKind] = {}
        self.unavailable: dict[str, str] = {}
        self._load_models()

    def _load_models(self) -> None:
        from mlflow.exceptions import MlflowException

        try:
            client = tracking.configure(self.settings)
            client.search_registered_models(max_results=1)
        except MlflowException as error:
            raise LoopbaanError(f"the MLflow registry at {self.settings.mlflow_tracking_uri} is unreachable "
                                f"({error.message}); check LOOPBAAN_TRACKING_URI") from None
        for kind in KINDS:
            try:
                loaded, fallback = self._load_model(kind)
            except LoopbaanError as error:
                self.unavailable[kind] = str(error)
                continue
            resources = load_resources(kind, store=self.store, settings=self.settings, taxonomy=self.taxonomy)
            info = schemas.ModelInfo(name=loaded.name, version=loaded.version, alias=loaded.alias, fallback=fallback,
                                     reranked=loaded.reranker.describe() if loaded.reranker else None,
                                     guarantees=list(loaded.reranker.guarantees) if loaded.reranker else None)
            self.kinds[kind] = ServedKind(
                resources=resources, suggester=Suggester(resources=resources, model=loaded.model,
                                                         model_info=info.model_dump(), reranker=loaded.reranker),
                info=info, popularity=outcome_popularity(store=self.store, catalogue=resources.catalogue),
                fairness=self._fairness_tags(client, loaded.name, loaded.version))
        if not self.kinds:
            raise LoopbaanError("no kind has a model to serve: " + "; ".join(self.unavailable.values()))

    def _load_model(self, kind: str) -> tuple[tracking.LoadedModel, bool]:
        try:
            return tracking.load_model(kind, alias=tracking.CHAMPION, settings=self.settings), False
        except LoopbaanError:
            if not self.settings.allow_challenger:
                raise LoopbaanError(f"no champion for {kind}: promote a version through the fairness gate, or set "
                                    "LOOPBAAN_ALLOW_CHALLENGER=true to serve the challenger meanwhile") from None
        return tracking.load_model(kind, alias=tracking.CHALLENGER, settings=self.settings), True

    @staticmethod
    def _fairness_tags(client, name: str, version: str) -> dict[str, str]:
        tags = client.get_model_version(name, version).tags or {}
        return {key: tags[key] for key in FAIRNESS_TAGS if key in tags}

    # -- access ---------------------------------------------------------------------------------------------

    def token_holder(self, authorization: str | None) -> int:
        """The citizen whose valid token this is."""
        try:
            return verify_token(bearer_token(authorization), key=self.key)
        except TokenError as error:
            raise RequestError(HTTPStatus.UNAUTHORIZED, str(error)) from None

    def authorise(self, request: schemas.ProfileQuery, authorization: str | None) -> None:
        """Citizen requests need that citizen's token; anonymous profiles need none."""
        if request.citizen_id is None:
            return
        holder = self.token_holder(authorization)
        if holder != request.citizen_id:
            raise RequestError(HTTPStatus.FORBIDDEN, "this token may read only its own citizen's suggestions")

    # -- requests -------------------------------------------------------------------------------------------

    def _admitted(self, request: schemas.ProfileQuery, endpoint: str, *, authorization: str | None,
                  request_id: str) -> ServedKind:
        """The served kind, once the caller may ask; a refusal is audited before it is raised."""
        served = self._served(request.kind)
        try:
            self.authorise(request, authorization)
        except RequestError as error:
            self._audit(request_id, endpoint, request, served, items=0, personalised=False, status=error.status)
            raise
        return served

    def _served(self, kind: str) -> ServedKind:
        if kind not in self.kinds:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, self.unavailable.get(kind, f"unknown kind {kind!r}"))
        return self.kinds[kind]

    def _context(self, request: schemas.ProfileQuery) -> tuple[QueryContext, str | None]:
        if request.citizen_id is not None:
            try:
                return contexts_from_store(store=self.store, taxonomy=self.taxonomy,
                                           citizen_ids=np.array([request.citizen_id]), as_of=self.as_of), None
            except LoopbaanError as error:
                raise RequestError(HTTPStatus.NOT_FOUND, str(error)) from None
        try:
            return cold_start_context(taxonomy=self.taxonomy, competency_uris=request.competencies,
                                      title=request.job_title, as_of=self.as_of)
        except LoopbaanError as error:
            raise RequestError(HTTPStatus.UNPROCESSABLE_ENTITY, str(error)) from None

    def opted_out(self, citizen_id: int | None) -> bool:
        """The citizen's own choice on the site, else the population's recorded default."""
        if citizen_id is None:
            return False
        chosen = self.consent.choice(citizen_id)
        return bool(self._opted_out.get(citizen_id, False)) if chosen is None else chosen

    # -- the citizen's own page -------------------------------------------------------------------------------

    def career_data(self, *, authorization: str | None, language: str = "nl",
                    request_id: str | None = None) -> schemas.CareerDataResponse:
        """The token holder's career data ("loopbaandata"), their AI choice, and which models are served."""
        citizen_id = self._own_citizen(authorization, "career_data", request_id)
        try:
            data = self.careers.citizen(citizen_id, as_of=self.as_of, language=language)
        except LoopbaanError as error:
            raise RequestError(HTTPStatus.NOT_FOUND, str(error)) from None
        self.audit.record(request_id=request_id or uuid.uuid4().hex, endpoint="career_data", kind=None,
                          citizen_id=citizen_id, models={}, items=len(data.competencies), personalised=True,
                          status=int(HTTPStatus.OK))
        return schemas.CareerDataResponse(
            citizen_id=citizen_id, as_of=self.as_of.isoformat(), language=language,
            opted_out=self.opted_out(citizen_id), circumstances=data.circumstances, work=data.work,
            diplomas=data.diplomas, trainings=data.trainings, competencies=data.competencies)

    def set_opt_out(self, *, authorization: str | None, opted_out: bool,
                    request_id: str | None = None) -> schemas.OptOutResponse:
        """Record the token holder's choice: no AI suggestions (True) or personalised ones (False)."""
        citizen_id = self._own_citizen(authorization, "opt_out", request_id)
        if citizen_id not in self._opted_out.index:
            raise RequestError(HTTPStatus.NOT_FOUND, f"citizen {citizen_id} is not in the population")
        self.consent.record(citizen_id, opted_out=opted_out)
        self.audit.record(request_id=request_id or uuid.uuid4().hex, endpoint="opt_out", kind=None,
                          citizen_id=citizen_id, models={}, items=0, personalised=False, status=int(HTTPStatus.OK))
        return schemas.OptOutResponse(opted_out=self.opted_out(citizen_id))

    def _own_citizen(self, authorization: str | None, endpoint: str, request_id: str | None) -> int:
        try:
            return self.token_holder(authorization)
        except RequestError as error:
            self.audit.record(request_id=request_id or uuid.uuid4().hex, endpoint=endpoint, kind=None,
                              citizen_id=None, models={}, items=0, personalised=False, status=int(error.status))
            raise

    def suggestions(self, request: schemas.SuggestionRequest, *, authorization: str | None = None,
                    request_id: str | None = None) -> schemas.SuggestionResponse:
        request_id = request_id or uuid.uuid4().hex
        served = self._admitted(request, "suggestions", authorization=authorization, request_id=request_id)
        notices = [FALLBACK_NOTICE[request.language]] if served.info.fallback else []
        matched = batch = None
        if self.opted_out(request.citizen_id):
            if request.citizen_id not in self._opted_out.index:
                raise RequestError(HTTPStatus.NOT_FOUND, f"citizen {request.citizen_id} is not in the population")
            items = self._popular(served, request.k, request.language)
            notices.insert(0, OPT_OUT_NOTICE[request.language])
            personalised = False
        else:
            batch = self._precomputed(request, served) if request.precomputed else None
            if batch is not None:
                batch, found = batch
            else:
                if request.precomputed:
                    notices.append(BATCH_MISSING_NOTICE[request.language])
                context, matched = self._context(request)
                [found] = served.suggester.suggest(context, k=request.k, language=request.language)
            items = [_suggestion_out(suggestion) for suggestion in found]
            personalised = True
        self._audit(request_id, "suggestions", request, served, items=len(items), personalised=personalised,
                    status=HTTPStatus.OK)
        return schemas.SuggestionResponse(
            request_id=request_id, kind=request.kind, language=request.language, personalised=personalised,
            notice=" ".join(notices) or None, matched_occupation=matched, model=served.info, batch=batch,
            suggestions=items)

    def _precomputed(self, request: schemas.SuggestionRequest,
                     served: ServedKind) -> tuple[schemas.BatchRef, list[Suggestion]] | None:
        """The citizen's list from the newest complete batch, if the served model version made it."""
        from models.batch_store import precomputed_suggestions

        try:
            found = precomputed_suggestions(self.settings, request.kind, request.citizen_id,
                                            language=request.language)
        except (LoopbaanError, OSError) as error:  # an unreadable batch: the live list is always there
            logger.warning("precomputed %s lists unreadable, computing live: %s", request.kind, error)
            return None
        if found is None:
            return None
        info, suggestions = found
        if (info.model_name, info.model_version) != (served.info.name, served.info.version) or request.k > info.k:
            return None
        model = served.info.model_dump()
        return (schemas.BatchRef(batch_id=info.batch_id, completed_at=info.completed_at, as_of=info.as_of),
                [replace(suggestion, model=model) for suggestion in suggestions[:request.k]])

    def _popular(self, served: ServedKind, k: int, language: str) -> list[schemas.SuggestionOut]:
        """A non-personalised list: the catalogue's most chosen items; no personal data is used."""
        catalogue = served.resources.catalogue
        order = np.argsort(-served.popularity, kind="stable")[:k]
        summary = {"nl": "Niet gepersonaliseerd: zo vaak werd dit gekozen.", "en": "Not personalised: how often "
                   "this was chosen."}[language]
        return [schemas.SuggestionOut(
            rank=rank, item_id=str(catalogue.ids[item]), title=str(catalogue.titles.iloc[item][f"title_{language}"]),
            kind=catalogue.kind, score=float(served.popularity[item]), readiness=None, matched_competencies=[],
            missing_competencies=[], bridging_trainings=[], barriers=[],
            explanation=schemas.Explanation(base_value=float(served.popularity[item]), contributions=[],
                                            summary=summary))
            for rank, item in enumerate(order, start=1)]

    def compare(self, request: schemas.CompareRequest, *, authorization: str | None = None,
                request_id: str | None = None) -> schemas.CompareResponse:
        """Why is A above B: the per-feature difference of the two items' contributions."""
        request_id = request_id or uuid.uuid4().hex
        served = self._admitted(request, "compare", authorization=authorization, request_id=request_id)
        if self.opted_out(request.citizen_id):
            raise RequestError(HTTPStatus.CONFLICT, "this citizen opted out of AI suggestions, so there is no "
                                                    "personal ranking to explain")
        catalogue = served.resources.catalogue
        positions = catalogue.position_of(pd.Index([_typed_id(catalogue, request.item_a),
                                                    _typed_id(catalogue, request.item_b)]))
        for item, position in zip((request.item_a, request.item_b), positions, strict=True):
            if position < 0:
                raise RequestError(HTTPStatus.NOT_FOUND, f"item {item!r} is not in the {request.kind} catalogue")
        context, _ = self._context(request)
        features = served.resources.featurizer.transform(context, np.zeros(2, dtype=np.int64), positions)
        contributions = served.suggester.model.contributions(features)
        names = served.suggester.model.feature_names
        language = request.language
        differences = []
        for index, name in enumerate(names):
            value_a, value_b = features[name].iloc[0], features[name].iloc[1]
            differences.append(schemas.FeatureDifference(
                feature=name, value_a=_finite(value_a), value_b=_finite(value_b),
                contribution_a=float(contributions[0, index]), contribution_b=float(contributions[1, index]),
                difference=float(contributions[0, index] - contributions[1, index]),
                sentence=_difference_sentence(name, value_a, value_b, language)))
        differences.sort(key=lambda part: -abs(part.difference))
        scores = contributions.sum(axis=1)
        titles = [str(catalogue.titles.iloc[position][f"title_{language}"]) for position in positions]
        top = differences[0]
        template = _COMPARE_SUMMARY if scores[0] > scores[1] else _COMPARE_SUMMARY_LOWER
        summary = template[language].format(a=titles[0], b=titles[1], reason=top.sentence)
        self._audit(request_id, "compare", request, served, items=2, personalised=True, status=HTTPStatus.OK)
        return schemas.CompareResponse(
            request_id=request_id, kind=request.kind, model=served.info,
            item_a=schemas.ItemScore(item_id=request.item_a, title=titles[0], score=float(scores[0])),
            item_b=schemas.ItemScore(item_id=request.item_b, title=titles[1], score=float(scores[1])),
            score_difference=float(scores[0] - scores[1]), differences=differences, summary=summary)

    def metadata(self) -> dict:
        """Models, versions, aliases and the last fairness assessment of each served version."""
        refreshed = True
        try:
            client = tracking.configure(self.settings)
            for served in self.kinds.values():
                served.fairness = self._fairness_tags(client, served.info.name, served.info.version)
        except Exception:  # noqa: BLE001 - the registry may be gone; the loaded models keep serving
            refreshed = False
        return {
            "population": {"as_of": self.as_of.isoformat(), "citizens": int(self.store.manifest["config"]["citizens"]),
                           "synthetic": True},
            "registry": {"uri": self.settings.mlflow_tracking_uri if self.settings.tracking_uri else "local",
                         "reachable": refreshed},
            "models": {kind: {**served.info.model_dump(), "features": served.suggester.model.feature_names,
                              "catalogue_size": len(served.resources.catalogue),
                              "assessment": _assessment(served.fairness)}
                       for kind, served in self.kinds.items()},
            "unavailable": self.unavailable,
        }

    def _audit(self, request_id: str, endpoint: str, request: schemas.ProfileQuery, served: ServedKind, *,
               items: int, personalised: bool, status: HTTPStatus) -> None:
        self.audit.record(request_id=request_id, endpoint=endpoint, kind=request.kind, citizen_id=request.citizen_id,
                          models={request.kind: f"{served.info.name}/{served.info.version}@{served.info.alias}"},
                          items=items, personalised=personalised, status=int(status))


def _typed_id(catalogue, item_id: str):
    if catalogue.kind == "careers":
        return item_id
    try:
        return int(item_id)
    except ValueError:
        return item_id  # unknown to the catalogue either way


def _finite(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _difference_sentence(name: str, value_a: float, value_b: float, language: str) -> str:
    return f"A: {sentence(name, value_a, language)} B: {sentence(name, value_b, language)}"


def _assessment(tags: dict[str, str]) -> dict | None:
    if "fairness.assessment_id" not in tags:
        return None
    failed = tags.get("fairness.failed_checks", "")
    return {"assessment_id": tags["fairness.assessment_id"], "passed": tags.get("fairness.passed") == "true",
            "assessed_at": tags.get("fairness.assessed_at"), "policy_version": tags.get("fairness.policy_version"),
            "failed_checks": [check for check in failed.split(",") if check]}


def _suggestion_out(suggestion: Suggestion) -> schemas.SuggestionOut:
    return schemas.SuggestionOut.model_validate(suggestion, from_attributes=True)

