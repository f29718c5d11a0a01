"""The serving logic, free of any web framework: serve each kind's model, follow the registry, answer requests.

The BentoML service (``serving/service.py``) is a thin shell around :class:`SuggestionEngine`; the benchmark
calls the engine in-process for the latency floor.

**Live model changes.** What is served is one immutable :class:`ServingState` (per kind the served model, or why
there is none). :meth:`SuggestionEngine.reload` reads the registry (one call per kind), and for a kind whose
champion alias names another version it resolves the alias once, loads that version *by number*, builds the new
:class:`ServedKind` completely off to the side and then replaces the state in one assignment: a request takes the
state once when it starts, so requests in flight finish on the old version and the next ones get the new one.
Every process of the service runs its own :class:`RegistryWatcher` (every ``LOOPBAAN_RELOAD_SECONDS``, and at once
when an admin reload touched the reload marker in the home). A kind without champion answers 503: with the
reason the fairness gate recorded when it withdrew the kind (never the challenger then), else as before (the
challenger only with ``LOOPBAAN_ALLOW_CHALLENGER``).

**Audit.** Every method fills in the request's :class:`serving.audit.AuditEntry` as it learns what the request is
about; the service's middleware writes it, with the status, once per request.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from http import HTTPStatus
from pathlib import Path
from types import MappingProxyType

import numpy as np

from features.career_data import CareerRecords
from features.citizens import QueryContext, cold_start_context, contexts_from_store
from features.consent import Consent
from features.errors import LoopbaanError
from features.esco import load_esco
from features.feature_registry import sentence
from features.keys import signing_key
from features.population.store import PopulationStore
from features.settings import Settings
from models import tracking
from models.baselines import outcome_popularity
from models.rerank import TIE
from models.resources import KindResources, load_resources
from models.suggest import Suggester, Suggestion, moved_reason
from serving import schemas
from serving.audit import AuditEntry
from serving.auth import TokenError, bearer_token, is_admin_token, verify_admin_token, verify_token

logger = logging.getLogger(__name__)
KINDS = ("jobs", "trainings", "careers")
FAIRNESS_TAGS = ("fairness.assessment_id", "fairness.passed", "fairness.assessed_at", "fairness.policy_version",
                 "fairness.failed_checks")
RELOAD_MARKER = Path("service") / "reload.request"  # under the home: touched by an admin reload
MARKER_CHECK_S = 0.5

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
_COMPARE = {
    "score": {
        "nl": "{upper} staat hoger dan {lower} vooral door: {reason}",
        "en": "{upper} ranks above {lower} mainly because of: {reason}",
    },
    "guarantee": {
        "nl": ("{upper} staat boven {lower} door de eerlijkheidsgarantie ({moved}); op score alleen zou {lower} hoger "
               "staan, vooral door: {reason}"),
        "en": ("{upper} ranks above {lower} because of the fairness guarantee ({moved}); by score alone {lower} "
               "would rank higher, mainly because of: {reason}"),
    },
    "list": {
        "nl": "{upper} staat in je lijst van {k} suggesties en {lower} niet, al heeft {lower} een hogere score, "
              "vooral door: {reason}",
        "en": "{upper} is in your list of {k} suggestions and {lower} is not, although {lower} scores higher, mainly "
              "because of: {reason}",
    },
    "neither": {
        "nl": "{upper} en {lower} staan geen van beide in je lijst van {k} suggesties; op score staat {upper} hoger, "
              "vooral door: {reason}",
        "en": "Neither {upper} nor {lower} is in your list of {k} suggestions; by score {upper} ranks higher, mainly "
              "because of: {reason}",
    },
}
ERR_NO_CHAMPION = ("no champion for {kind}: promote a version through the fairness gate, or set "
                   "LOOPBAAN_ALLOW_CHALLENGER=true to serve the challenger meanwhile")
ERR_WITHDRAWN = "{kind} is withdrawn by the fairness gate (since {at}): {reason}"
ERR_LOAD_FAILED = "version {version} of {name} could not be loaded ({reason}); the service keeps what it served"
ERR_UNREACHABLE = "the MLflow registry at {uri} is unreachable ({reason}); check LOOPBAAN_TRACKING_URI"
ERR_NOTHING_TO_SERVE = "no kind has a model to serve: {reasons}"
ERR_CITIZEN_TOKEN = "this token may read only its own citizen's suggestions"
ERR_NOT_ADMIN = "a citizen's token cannot reload the models: send an admin token (`loopbaan token --admin`)"
ERR_OPTED_OUT_COMPARE = "this citizen opted out of AI suggestions, so there is no personal ranking to explain"
ERR_UNKNOWN_ITEM = "item {item!r} is not in the {kind} catalogue"
ERR_NOT_IN_POPULATION = "citizen {citizen} is not in the population"


class RequestError(Exception):
    """A request the service refuses: an HTTP status and a message that says what is wrong."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ServedKind:
    """One kind's served model version with everything its requests need, built before it serves."""

    resources: KindResources
    suggester: Suggester
    info: schemas.ModelInfo
    run_id: str
    popularity: np.ndarray

    @property
    def label(self) -> str:
        return f"{self.info.name}/{self.info.version}@{self.info.alias}"


@dataclass(frozen=True)
class ServingState:
    """What the service serves now: per kind the served model, or why there is none."""

    kinds: MappingProxyType
    unavailable: MappingProxyType
    withdrawn: MappingProxyType  # kind → tracking.Withdrawal


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SuggestionEngine:
    """The taxonomy, population and consent are loaded once; the served models follow the registry."""

    def __init__(self, *, settings: Settings | None = None, store: PopulationStore | None = None,
                 watch: bool = False) -> None:
        self.settings = settings or Settings()
        self.store = store or PopulationStore(self.settings.population_dir)
        self.as_of = date.fromisoformat(self.store.manifest["config"]["as_of"])
        self.key = signing_key(self.settings)
        self.taxonomy = load_esco()
        self.consent = Consent.of(self.settings, self.store)
        self.consent.store.check()  # choices that this pseudonym key cannot read stop the start, loudly
        self.careers = CareerRecords.of(store=self.store, taxonomy=self.taxonomy)
        self._resources: dict[str, tuple[KindResources, np.ndarray]] = {}
        self._reload_lock = threading.Lock()
        self._state = ServingState(kinds=MappingProxyType({}), unavailable=MappingProxyType({}),
                                   withdrawn=MappingProxyType({}))
        self.registry_reachable = True
        self.checked_at: str | None = None
        self.reload(initial=True)
        if not self._state.kinds:
            raise LoopbaanError(ERR_NOTHING_TO_SERVE.format(reasons="; ".join(self._state.unavailable.values())))
        self.watcher = RegistryWatcher(self, interval_s=self.settings.reload_seconds) if watch else None
        if self.watcher is not None:
            self.watcher.start()

    # -- following the registry -------------------------------------------------------------------------------

    @property
    def kinds(self) -> MappingProxyType:
        return self._state.kinds

    @property
    def unavailable(self) -> MappingProxyType:
        return self._state.unavailable

    @property
    def reload_marker(self) -> Path:
        return self.settings.home / RELOAD_MARKER

    def registry_signature(self) -> tuple | None:
        """For the local sqlite registry, the state of its files: unchanged, nothing in the registry moved (None for
        a tracking server, which is always asked)."""
        if self.settings.tracking_uri is not None:
            return None
        database = self.settings.home / "mlflow.db"
        return tuple(_stat(path) for path in (database, database.with_name(f"{database.name}-wal")))

    def reload(self, *, initial: bool = False) -> dict[str, str]:
        """Follow the registry now: load and swap in each kind whose served version changed (see the module
        docstring). Returns what changed, per kind, in words. An unreachable registry stops the start-up; later it
        keeps what is served."""
        from mlflow.exceptions import MlflowException

        with self._reload_lock:
            try:
                client = tracking.configure(self.settings)
                states = {kind: tracking.kind_state(client, kind) for kind in KINDS}
            except (MlflowException, OSError, ConnectionError) as error:
                reason = getattr(error, "message", None) or str(error)
                if initial:
                    raise LoopbaanError(ERR_UNREACHABLE.format(uri=self.settings.mlflow_tracking_uri,
                                                               reason=reason)) from None
                if self.registry_reachable:
                    logger.warning("registry unreachable, the loaded models keep serving: %s", reason)
                self.registry_reachable = False
                return {}
            self.registry_reachable, self.checked_at = True, _now()
            state = self._state
            kinds, unavailable, withdrawn = dict(state.kinds), dict(state.unavailable), {}
            changes = {}
            for kind, registry in states.items():
                target = self._target(kind, registry)
                if isinstance(target, str):
                    if kind in kinds:
                        changes[kind] = f"stopped serving {kinds.pop(kind).label}: {target}"
                    unavailable[kind] = target
                    if registry.withdrawal is not None and tracking.CHAMPION not in registry.aliases:
                        withdrawn[kind] = registry.withdrawal
                    continue
                current = kinds.get(kind)
                if current is not None and (current.info.version, current.info.alias, current.info.fallback) == target:
                    continue
                try:
                    served = self._build(kind, *target)
                except (LoopbaanError, MlflowException, OSError) as error:
                    reason = ERR_LOAD_FAILED.format(version=target[0], name=tracking.registered_name(kind),
                                                    reason=getattr(error, "message", None) or str(error))
                    logger.warning("%s", reason)
                    if current is None:
                        unavailable[kind] = reason
                    continue
                kinds[kind] = served
                unavailable.pop(kind, None)
                changes[kind] = f"now serving {served.label}" + (f" (was {current.label})" if current else "")
            self._state = ServingState(kinds=MappingProxyType(kinds), unavailable=MappingProxyType(unavailable),
                                       withdrawn=MappingProxyType(withdrawn))
        for kind, change in changes.items():
            logger.info("%s: %s", kind, change)
        return changes

    def _target(self, kind: str, registry: tracking.KindState) -> tuple[str, str, bool] | str:
        """(version, alias, fallback) to serve, or the reason there is none."""
        if tracking.CHAMPION in registry.aliases:
            return registry.aliases[tracking.CHAMPION], tracking.CHAMPION, False
        if registry.withdrawal is not None:
            return ERR_WITHDRAWN.format(kind=kind, at=registry.withdrawal.at or "an unrecorded moment",
                                        reason=registry.withdrawal.reason)
        if self.settings.allow_challenger and tracking.CHALLENGER in registry.aliases:
            return registry.aliases[tracking.CHALLENGER], tracking.CHALLENGER, True
        return ERR_NO_CHAMPION.format(kind=kind)

    def _build(self, kind: str, version: str, alias: str, fallback: bool) -> ServedKind:
        loaded = tracking.load_version(kind, version=version, alias=alias, settings=self.settings)
        if kind not in self._resources:
            resources = load_resources(kind, store=self.store, settings=self.settings, taxonomy=self.taxonomy)
            self._resources[kind] = (resources, outcome_popularity(store=self.store, catalogue=resources.catalogue))
        resources, popularity = self._resources[kind]
        info = schemas.ModelInfo(name=loaded.name, version=loaded.version, alias=loaded.alias, fallback=fallback,
                                 reranked=loaded.reranker.describe() if loaded.reranker else None,
                                 guarantees=list(loaded.reranker.guarantees) if loaded.reranker else None,
                                 serving_since=_now())
        suggester = Suggester(resources=resources, model=loaded.model, model_info=info.model_dump(),
                              reranker=loaded.reranker)
        _ = suggester.labels  # built now, not by the first request
        return ServedKind(resources=resources, suggester=suggester, info=info, run_id=loaded.run_id,
                          popularity=popularity)

    def request_reload(self, *, authorization: str | None, audit: AuditEntry | None = None) -> schemas.ReloadResponse:
        """An operator's reload: this process follows the registry now, the others at their next marker check."""
        self.authorise_admin(authorization)
        self.reload_marker.parent.mkdir(parents=True, exist_ok=True)
        self.reload_marker.touch()
        changes = self.reload()
        state = self._state
        if audit is not None:
            audit.models = {kind: served.label for kind, served in state.kinds.items()}
        return schemas.ReloadResponse(changes=changes, models={kind: served.info for kind, served in state.kinds.items()},
                                      unavailable=dict(state.unavailable))

    def warm_up(self) -> None:
        """Build now what the first anonymous request would otherwise build (the job-title matcher, ~30 s)."""
        from features.title_matching import title_matcher

        title_matcher(self.taxonomy)

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()

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
        if self.token_holder(authorization) != request.citizen_id:
            raise RequestError(HTTPStatus.FORBIDDEN, ERR_CITIZEN_TOKEN)

    def authorise_admin(self, authorization: str | None) -> None:
        try:
            token = bearer_token(authorization)
            if is_admin_token(token):
                verify_admin_token(token, key=self.key)
                return
            verify_token(token, key=self.key)
        except TokenError as error:
            raise RequestError(HTTPStatus.UNAUTHORIZED, str(error)) from None
        raise RequestError(HTTPStatus.FORBIDDEN, ERR_NOT_ADMIN)

    # -- requests -------------------------------------------------------------------------------------------

    def _admitted(self, request: schemas.ProfileQuery, *, authorization: str | None,
                  audit: AuditEntry) -> ServedKind:
        """The served kind (taken once: the request finishes on it), once the caller may ask."""
        audit.kind, audit.citizen_id = request.kind, request.citizen_id
        state = self._state
        served = state.kinds.get(request.kind)
        if served is None:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, state.unavailable.get(
                request.kind, ERR_NO_CHAMPION.format(kind=request.kind)))
        audit.models = {request.kind: served.label}
        self.authorise(request, authorization)
        return served

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
        try:
            return self.consent.opted_out(citizen_id)
        except LoopbaanError as error:  # the consent store cannot be read with this key: serve nobody personally
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, str(error)) from None

    # -- the citizen's own page -------------------------------------------------------------------------------

    def career_data(self, *, authorization: str | None, language: str = "nl",
                    audit: AuditEntry | None = None) -> schemas.CareerDataResponse:
        """The token holder's career data ("loopbaandata"), their AI choice, and which models are served."""
        audit = audit or _entry("career_data")
        citizen_id = audit.citizen_id = self.token_holder(authorization)
        try:
            data = self.careers.citizen(citizen_id, as_of=self.as_of, language=language)
        except LoopbaanError as error:
            raise RequestError(HTTPStatus.NOT_FOUND, str(error)) from None
        audit.items, audit.personalised = len(data.competencies), True
        return schemas.CareerDataResponse(
            citizen_id=citizen_id, as_of=self.as_of.isoformat(), language=language,
            opted_out=self.opted_out(citizen_id), circumstances=data.circumstances, work=data.work,
            diplomas=data.diplomas, trainings=data.trainings, competencies=data.competencies)

    def set_opt_out(self, *, authorization: str | None, opted_out: bool,
                    audit: AuditEntry | None = None) -> schemas.OptOutResponse:
        """Record the token holder's choice: no AI suggestions (True) or personalised ones (False)."""
        audit = audit or _entry("opt_out")
        citizen_id = audit.citizen_id = self.token_holder(authorization)
        if not self.consent.known(citizen_id):
            raise RequestError(HTTPStatus.NOT_FOUND, ERR_NOT_IN_POPULATION.format(citizen=citizen_id))
        self.consent.store.record(citizen_id, opted_out=opted_out)
        return schemas.OptOutResponse(opted_out=self.opted_out(citizen_id))

    def suggestions(self, request: schemas.SuggestionRequest, *, authorization: str | None = None,
                    request_id: str | None = None, audit: AuditEntry | None = None) -> schemas.SuggestionResponse:
        audit = audit or _entry("suggestions", request_id)
        served = self._admitted(request, authorization=authorization, audit=audit)
        notices = [FALLBACK_NOTICE[request.language]] if served.info.fallback else []
        matched = batch = None
        if self.opted_out(request.citizen_id):
            if not self.consent.known(request.citizen_id):
                raise RequestError(HTTPStatus.NOT_FOUND, ERR_NOT_IN_POPULATION.format(citizen=request.citizen_id))
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
        audit.items, audit.personalised = len(items), personalised
        return schemas.SuggestionResponse(
            request_id=audit.request_id, kind=request.kind, language=request.language, personalised=personalised,
            notice=" ".join(notices) or None, matched_occupation=matched, model=served.info, batch=batch,
            suggestions=items)

    def _precomputed(self, request: schemas.SuggestionRequest,
                     served: ServedKind) -> tuple[schemas.BatchRef, list[Suggestion]] | None:
        """The citizen's list from the newest complete batch of the served model version (never another's)."""
        from models.batch_store import precomputed_suggestions

        try:
            found = precomputed_suggestions(self.settings, request.kind, request.citizen_id,
                                            language=request.language, model_version=served.info.version)
        except (LoopbaanError, OSError) as error:  # an unreadable batch: the live list is always there
            logger.warning("precomputed %s lists unreadable, computing live: %s", request.kind, error)
            return None
        if found is None:
            return None
        info, suggestions = found
        if (info.model_name, info.model_version, info.run_id) != (served.info.name, served.info.version,
                                                                  served.run_id) or request.k > info.k:
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
            missing_competencies=[], bridging_trainings=[], barriers=[], moved_by=[], moved_reason=None,
            explanation=schemas.Explanation(base_value=float(served.popularity[item]), contributions=[],
                                            summary=summary))
            for rank, item in enumerate(order, start=1)]

    def compare(self, request: schemas.CompareRequest, *, authorization: str | None = None,
                request_id: str | None = None, audit: AuditEntry | None = None) -> schemas.CompareResponse:
        """Why A and B stand in the order the citizen sees (their list of ``k``): the score difference with its
        per-feature contributions, and where the fairness guarantee set the order, that it did."""
        audit = audit or _entry("compare", request_id)
        served = self._admitted(request, authorization=authorization, audit=audit)
        if self.opted_out(request.citizen_id):
            raise RequestError(HTTPStatus.CONFLICT, ERR_OPTED_OUT_COMPARE)
        catalogue = served.resources.catalogue
        positions = catalogue.position_of([_typed_id(catalogue, request.item_a), _typed_id(catalogue, request.item_b)])
        for item, position in zip((request.item_a, request.item_b), positions, strict=True):
            if position < 0:
                raise RequestError(HTTPStatus.NOT_FOUND, ERR_UNKNOWN_ITEM.format(item=item, kind=request.kind))
        context, _ = self._context(request)
        suggester = served.suggester
        ranked = suggester.rank(context, k=request.k)  # the list the citizen sees, in its order
        listed = {int(item): index for index, item in enumerate(ranked.item_positions)}
        unlisted = [position for position in positions if int(position) not in listed]
        direct = None
        if unlisted:
            frame = served.resources.featurizer.transform(context, np.zeros(len(unlisted), dtype=np.int64),
                                                          np.asarray(unlisted))
            direct = (frame, suggester.model.contributions(frame), {int(p): i for i, p in enumerate(unlisted)})
        names = suggester.model.feature_names
        rows = []
        for position in positions:
            index = listed.get(int(position))
            if index is not None:
                rows.append((index + 1, ranked.features.iloc[index], ranked.contributions[index],
                             ranked.moved_at(index)))
            else:
                frame, contributions, at = direct
                rows.append((None, frame.iloc[at[int(position)]], contributions[at[int(position)]], ()))
        language = request.language
        (rank_a, values_a, parts_a, moved_a), (rank_b, values_b, parts_b, moved_b) = rows
        differences = sorted((schemas.FeatureDifference(
            feature=name, value_a=_finite(values_a[name]), value_b=_finite(values_b[name]),
            contribution_a=float(parts_a[index]), contribution_b=float(parts_b[index]),
            difference=float(parts_a[index] - parts_b[index]),
            sentence=_difference_sentence(name, values_a[name], values_b[name], language))
            for index, name in enumerate(names)), key=lambda part: -abs(part.difference))
        score_a, score_b = float(parts_a.sum()), float(parts_b.sum())
        titles = [str(catalogue.titles.iloc[position][f"title_{language}"]) for position in positions]
        if rank_a is not None and rank_b is not None:
            a_above = rank_a < rank_b
        elif rank_a is not None or rank_b is not None:
            a_above = rank_a is not None
        else:
            a_above = score_a > score_b
        upper_score, lower_score = (score_a, score_b) if a_above else (score_b, score_a)
        if rank_a is None and rank_b is None:
            set_by, template = "score", "neither"
        elif upper_score >= lower_score - TIE:
            set_by, template = "score", "score"
        elif rank_a is not None and rank_b is not None:
            set_by, template = "guarantee", "guarantee"
        else:
            set_by, template = "list", "list"
        favour_upper = 1 if a_above else -1
        reason_sign = -favour_upper if set_by in ("guarantee", "list") else favour_upper  # what lifts the better score
        reason = next((part for part in differences if part.difference * reason_sign > 0), differences[0]).sentence
        upper, lower = (titles[0], titles[1]) if a_above else (titles[1], titles[0])
        moved_upper = moved_a if a_above else moved_b
        summary = _COMPARE[template][language].format(upper=upper, lower=lower, reason=reason, k=request.k,
                                                      moved=moved_reason(moved_upper, language) or "")
        audit.items, audit.personalised = 2, request.citizen_id is not None
        return schemas.CompareResponse(
            request_id=audit.request_id, kind=request.kind, model=served.info, k=request.k,
            item_a=schemas.ItemScore(item_id=request.item_a, title=titles[0], score=score_a, rank=rank_a,
                                     moved_by=list(moved_a), moved_reason=moved_reason(moved_a, language)),
            item_b=schemas.ItemScore(item_id=request.item_b, title=titles[1], score=score_b, rank=rank_b,
                                     moved_by=list(moved_b), moved_reason=moved_reason(moved_b, language)),
            a_above_b=a_above, order_set_by=set_by, score_difference=score_a - score_b, differences=differences,
            summary=summary)

    def metadata(self, *, audit: AuditEntry | None = None) -> schemas.MetadataResponse:
        """Served models and versions (since when each serves), withdrawn kinds, and the last fairness assessment."""
        state = self._state
        fairness: dict[str, dict] = {}
        refreshed = True
        try:
            client = tracking.configure(self.settings)
            for kind, served in state.kinds.items():
                fairness[kind] = _fairness_tags(client, served.info.name, served.info.version)
        except Exception:  # noqa: BLE001 - the registry may be gone; the loaded models keep serving
            refreshed = False
        if audit is not None:
            audit.models = {kind: served.label for kind, served in state.kinds.items()}
        return schemas.MetadataResponse(
            population=schemas.PopulationInfo(as_of=self.as_of.isoformat(),
                                              citizens=int(self.store.manifest["config"]["citizens"]), synthetic=True),
            registry=schemas.RegistryInfo(uri=self.settings.mlflow_tracking_uri if self.settings.tracking_uri
                                          else "local", reachable=refreshed and self.registry_reachable,
                                          checked_at=self.checked_at, reload_seconds=self.settings.reload_seconds),
            models={kind: schemas.ServedModel(**served.info.model_dump(), features=served.suggester.model.feature_names,
                                              catalogue_size=len(served.resources.catalogue),
                                              assessment=_assessment(fairness.get(kind, {})))
                    for kind, served in state.kinds.items()},
            unavailable=dict(state.unavailable),
            withdrawn={kind: schemas.WithdrawalInfo(reason=found.reason, at=found.at)
                       for kind, found in state.withdrawn.items()})


class RegistryWatcher(threading.Thread):
    """Follows the registry for one process: every ``interval_s``, and at once after an admin reload elsewhere."""

    def __init__(self, engine: SuggestionEngine, *, interval_s: float) -> None:
        super().__init__(name="loopbaan-registry-watcher", daemon=True)
        self.engine = engine
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._marker = _mtime(engine.reload_marker)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        last, seen = time.monotonic(), self.engine.registry_signature()
        while not self._stop.wait(min(self.interval_s, MARKER_CHECK_S)):
            marker = _mtime(self.engine.reload_marker)
            if marker == self._marker and time.monotonic() - last < self.interval_s:
                continue
            asked, self._marker, last = marker != self._marker, marker, time.monotonic()
            signature = self.engine.registry_signature()
            if not asked and signature is not None and signature == seen:
                self.engine.checked_at = _now()  # the registry's files did not change: nothing moved
                continue
            try:
                self.engine.reload()
                seen = signature
            except Exception:  # noqa: BLE001 - the watcher must outlive any one failed look at the registry
                logger.exception("following the registry failed; the served models stay")


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def _mtime(path: Path) -> int | None:
    found = _stat(path)
    return None if found is None else found[0]


def _entry(endpoint: str, request_id: str | None = None) -> AuditEntry:
    """An entry for a caller without the service's middleware (in-process use): nothing writes it."""
    return AuditEntry(request_id=request_id or uuid.uuid4().hex, endpoint=endpoint)


def _fairness_tags(client, name: str, version: str) -> dict[str, str]:
    tags = client.get_model_version(name, version).tags or {}
    return {key: tags[key] for key in FAIRNESS_TAGS if key in tags}


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


def _assessment(tags: dict[str, str]) -> schemas.AssessmentInfo | None:
    if "fairness.assessment_id" not in tags:
        return None
    failed = tags.get("fairness.failed_checks", "")
    return schemas.AssessmentInfo(assessment_id=tags["fairness.assessment_id"],
                                  passed=tags.get("fairness.passed") == "true",
                                  assessed_at=tags.get("fairness.assessed_at"),
                                  policy_version=tags.get("fairness.policy_version"),
                                  failed_checks=[check for check in failed.split(",") if check])


def _suggestion_out(suggestion: Suggestion) -> schemas.SuggestionOut:
    return schemas.SuggestionOut.model_validate(suggestion, from_attributes=True)
