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

**The vault.** Citizens' data is read and written through the vault (:mod:`serving.vault`): their query context
for every list, "Mijn loopbaandata", what they add (:mod:`serving.me`), their AI choice (the vault's consent store)
and the items they dismissed, which stay out of every list they see (:mod:`serving.lists`). The population snapshot
gives the catalogues, the outcomes behind the general list, and the nightly batch's lists.

**Audit.** Every method fills in the request's :class:`serving.audit.AuditEntry` as it learns what the request is
about; the service's middleware writes it, with the status, once per request (a write stores it with its change).

**Who asks.** Every request learns who asks from :class:`serving.signin.SignIn` only (the citizen through
:meth:`SuggestionEngine.token_holder`): the OpenID provider's tokens, or without one the test tokens of
``loopbaan token``. Sharing with partners is :class:`serving.shares.ShareDesk` (``engine.shares``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from http import HTTPStatus
from pathlib import Path
from types import MappingProxyType

import numpy as np

from features.citizens import QueryContext, anonymous_context
from features.consent import Consent, JsonlConsentStore, VaultConsentStore
from features.errors import LoopbaanError
from features.register_document import RegisterDocument, build_register
from features.esco import load_esco
from features.keys import pseudonym_key, signing_key
from features.model_tags import FAIRNESS_TAGS, read_result
from features.population.store import PopulationStore
from features.settings import Settings
from features.vocabulary import KINDS, OCCUPATION_KINDS
from models import tracking
from models.baselines import outcome_popularity
from models.recourse import what_if as learnt
from models.resources import KindResources, load_resources
from models.suggest import Suggester
from models.suggestion import Explanation, Suggestion
from serving import changes, schemas
from serving import compare as pairs
from serving.audit import AuditEntry, in_process
from serving.errors import ERR_NOT_IN_POPULATION, RequestError, refusal
from features.label_languages import LabelLanguages
from serving.lists import CitizenList, dismissed_positions, positions_of, rank_list, render
from serving.recourse import RecourseWords
from serving.search import Search, SearchRefused
from serving.shares import ShareDesk
from serving.signin import SignIn
from serving.vault import service_vault

__all__ = ["RequestError", "ServedKind", "ServingState", "SuggestionEngine", "RegistryWatcher"]

logger = logging.getLogger(__name__)
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
BATCH_STALE_NOTICE = {
    "nl": "Je paste je loopbaandata zelf aan; daarom is deze lijst nu berekend.",
    "en": "You changed your career data yourself; so this list was computed now.",
}
FALLBACK_NOTICE = {
    "nl": "Er is nog geen goedgekeurd model (champion); je ziet de suggesties van de kandidaat (challenger).",
    "en": "No approved model (champion) yet; these suggestions come from the candidate (challenger).",
}
ERR_NO_CHAMPION = ("no champion for {kind}: promote a version through the fairness gate, or set "
                   "LOOPBAAN_ALLOW_CHALLENGER=true to serve the challenger meanwhile")
ERR_WITHDRAWN = "{kind} is withdrawn by the fairness gate (since {at}): {reason}"
ERR_LOAD_FAILED = "version {version} of {name} could not be loaded ({reason}); the service keeps what it served"
ERR_UNREACHABLE = "the MLflow registry at {uri} is unreachable ({reason}); check LOOPBAAN_TRACKING_URI"
ERR_NOTHING_TO_SERVE = "no kind has a model to serve: {reasons}"
ERR_CITIZEN_TOKEN = "this token may read only its own citizen's suggestions"
ERR_OPTED_OUT_COMPARE = "this citizen opted out of AI suggestions, so there is no personal ranking to explain"
ERR_OPTED_OUT_PERSONAL = ("this citizen opted out of AI suggestions, so nothing personal is computed for them; switch "
                          "AI suggestions back on (PUT /me/opt-out) first")
ERR_UNKNOWN_ITEM = "item {item!r} is not in the {kind} catalogue"
ERR_NO_TITLE_MATCH = ("the job title {title!r} resembles no occupation: type what you do, e.g. 'lasser' or 'welder', "
                      "or give a few competencies")
ERR_EMPTY_LIST = "there is no list for this citizen to compare with: nothing in the {kind} catalogue fits"
WHY_NOT_DEPTH = schemas.MAX_K  # the ranking an item's place is read from


@dataclass(frozen=True)
class ServedKind:
    """One kind's served model version with everything its requests need, built before it serves."""

    resources: KindResources
    suggester: Suggester
    info: schemas.ModelInfo
    run_id: str
    popularity: np.ndarray
    words: RecourseWords

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
        from serving.me import MyCareer

        self.settings = settings or Settings()
        self.store = store or PopulationStore(self.settings.population_dir)
        self.as_of = date.fromisoformat(self.store.manifest["config"]["as_of"])
        self.key = signing_key(self.settings)
        self.taxonomy = load_esco()
        self.languages = LabelLanguages.of(self.taxonomy)
        self.vault = service_vault(self.settings, store=self.store)  # raises with the command to run when not ready
        choices = VaultConsentStore(self.vault, legacy=JsonlConsentStore(self.settings.consent_log,
                                                                         key=pseudonym_key(self.settings)))
        choices.check()  # choices that this pseudonym key cannot read stop the start, loudly
        self.consent = Consent(store=choices, defaults=choices.defaults())
        self.sign_in = SignIn(vault=self.vault, key=self.key)
        self.shares = ShareDesk(vault=self.vault, sign_in=self.sign_in)
        self.search = Search(settings=self.settings, taxonomy=self.taxonomy, languages=self.languages)
        self.me = MyCareer(self)
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
        """(version, alias, fallback) to serve (:func:`models.tracking.served_version`), or the reason there is none."""
        served = tracking.served_version(registry, allow_challenger=self.settings.allow_challenger)
        if served is not None:
            return served
        if registry.withdrawal is not None:
            return ERR_WITHDRAWN.format(kind=kind, at=registry.withdrawal.at or "an unrecorded moment",
                                        reason=registry.withdrawal.reason)
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
        suggester = Suggester(resources=resources, model=loaded.model, reranker=loaded.reranker)
        _ = suggester.labels  # built now, not by the first request
        return ServedKind(resources=resources, suggester=suggester, info=info, run_id=loaded.run_id,
                          popularity=popularity, words=RecourseWords(suggester=suggester))

    def request_reload(self, *, authorization: str | None, audit: AuditEntry | None = None) -> schemas.ReloadResponse:
        """An operator's reload: this process follows the registry now, the others at their next marker check."""
        self.sign_in.admin(authorization)
        self.reload_marker.parent.mkdir(parents=True, exist_ok=True)
        self.reload_marker.touch()
        changes = self.reload()
        state = self._state
        if audit is not None:
            audit.models = {kind: served.label for kind, served in state.kinds.items()}
        return schemas.ReloadResponse(changes=changes, models={kind: served.info for kind, served in state.kinds.items()},
                                      unavailable=dict(state.unavailable))

    def warm_up(self) -> None:
        """Build now what the first search or anonymous request would otherwise build (the search engines, from
        their on-disk caches after the first time)."""
        self.search.warm_up()

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        self.sign_in.close()

    # -- access ---------------------------------------------------------------------------------------------

    def token_holder(self, authorization: str | None, *, audit: AuditEntry | None = None) -> int:
        """The citizen whose valid token this is (:class:`serving.signin.SignIn`); a refusal's reason goes into
        ``audit``."""
        return self.sign_in.citizen(authorization, audit=audit)

    def authorise(self, request: schemas.ProfileQuery, authorization: str | None, *,
                  audit: AuditEntry | None = None) -> None:
        """Citizen requests need that citizen's token; anonymous profiles need none."""
        if request.citizen_id is None:
            return
        if self.token_holder(authorization, audit=audit) != request.citizen_id:
            raise RequestError(HTTPStatus.FORBIDDEN, ERR_CITIZEN_TOKEN)

    # -- requests -------------------------------------------------------------------------------------------

    def _admitted(self, request: schemas.ProfileQuery, *, authorization: str | None,
                  audit: AuditEntry) -> ServedKind:
        """The served kind (taken once: the request finishes on it), once the caller may ask."""
        audit.citizen_id = request.citizen_id
        served = self.served_kind(request.kind, audit=audit)
        self.authorise(request, authorization, audit=audit)
        return served

    def served_kind(self, kind: str, *, audit: AuditEntry) -> ServedKind:
        """The kind's served model (taken once: the request finishes on it), or 503 with the reason there is none."""
        audit.kind = kind
        state = self._state
        served = state.kinds.get(kind)
        if served is None:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, state.unavailable.get(
                kind, ERR_NO_CHAMPION.format(kind=kind)))
        audit.models = {kind: served.label}
        return served

    def _context(self, request: schemas.ProfileQuery) -> tuple[QueryContext, str | None]:
        """The query context: the citizen's from the vault, or an anonymous profile's (a typed job title read by
        the search); with the occupation a typed title was read as."""
        if request.citizen_id is not None:
            return self.citizen_context(request.citizen_id), None
        occupation, uri = None, None
        if request.job_title is not None:
            try:
                uri = self.search.occupation_for(request.job_title)
            except SearchRefused as error:
                raise RequestError(HTTPStatus.UNPROCESSABLE_ENTITY, str(error)) from None
            if uri is None and not request.competencies:
                raise RequestError(HTTPStatus.UNPROCESSABLE_ENTITY, ERR_NO_TITLE_MATCH.format(title=request.job_title))
            occupation = None if uri is None else int(self.taxonomy.occupation_index.get_loc(uri))
        try:
            return anonymous_context(taxonomy=self.taxonomy, competency_uris=list(request.competencies or []),
                                     occupation=occupation, as_of=self.as_of), uri
        except LoopbaanError as error:
            raise RequestError(HTTPStatus.UNPROCESSABLE_ENTITY, str(error)) from None

    def citizen_context(self, citizen_id: int) -> QueryContext:
        try:
            return self.vault.context(citizen_id=citizen_id, as_of=self.as_of)
        except LoopbaanError as error:
            raise refusal(error, citizen_id=citizen_id) from None

    def opted_out(self, citizen_id: int | None) -> bool:
        """The citizen's own choice on the site, else the population's recorded default."""
        try:
            return self.consent.opted_out(citizen_id)
        except LoopbaanError as error:  # the consent store cannot be read with this key: serve nobody personally
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, str(error)) from None

    def dismissed(self, citizen_id: int | None, served: ServedKind) -> frozenset[int]:
        """Catalogue positions of the items the citizen said are not for them (none for an anonymous profile)."""
        if citizen_id is None:
            return frozenset()
        try:
            found = self.vault.dismissed(citizen_id=citizen_id, kind=served.resources.kind)
        except LoopbaanError as error:
            raise refusal(error, citizen_id=citizen_id) from None
        return dismissed_positions(served.resources.catalogue, found)

    def citizen_list(self, served: ServedKind, context: QueryContext, *, citizen_id: int | None,
                     k: int) -> CitizenList:
        return rank_list(served.suggester, context, k=k, dismissed=self.dismissed(citizen_id, served))

    def explained(self, served: ServedKind, context: QueryContext, listed: CitizenList, *,
                  language: str) -> list[schemas.SuggestionOut]:
        """The listed items as the service sends them: explained, with labels' languages and recourse."""
        found = render(served.suggester, context, listed, language=language)
        return self.with_recourse(served, context, found, listed.positions, language)

    def with_recourse(self, served: ServedKind, context: QueryContext, found: list[Suggestion],
                      positions: np.ndarray, language: str) -> list[schemas.SuggestionOut]:
        recourse = served.words.for_items(context, positions, [item.readiness for item in found], language)
        return [self._suggestion_out(item, recourse=steps) for item, steps in zip(found, recourse, strict=True)]

    # -- the citizen's own page -------------------------------------------------------------------------------

    def career_data(self, *, authorization: str | None, language: str = "nl",
                    audit: AuditEntry | None = None) -> schemas.CareerDataResponse:
        """The token holder's career data ("loopbaandata"), see :meth:`serving.me.MyCareer.career_data`."""
        return self.me.career_data(authorization=authorization, language=language, audit=audit)

    def set_opt_out(self, *, authorization: str | None, opted_out: bool,
                    audit: AuditEntry | None = None) -> schemas.OptOutResponse:
        """Record the token holder's choice: no AI suggestions (True) or personalised ones (False)."""
        return self.me.set_opt_out(authorization=authorization, opted_out=opted_out, audit=audit)

    # -- lists ----------------------------------------------------------------------------------------------

    def suggestions(self, request: schemas.SuggestionRequest, *, authorization: str | None = None,
                    request_id: str | None = None, audit: AuditEntry | None = None) -> schemas.SuggestionResponse:
        audit = audit or in_process("suggestions", request_id)
        served = self._admitted(request, authorization=authorization, audit=audit)
        return self.answer(request, served=served, audit=audit)

    def answer(self, request: schemas.SuggestionRequest, *, served: ServedKind, audit: AuditEntry,
               context: QueryContext | None = None) -> schemas.SuggestionResponse:
        """The list for an admitted request (``context``: the citizen's, when the caller already read it)."""
        notices = [FALLBACK_NOTICE[request.language]] if served.info.fallback else []
        matched = batch = None
        if self.opted_out(request.citizen_id):
            if not self.consent.known(request.citizen_id):
                raise RequestError(HTTPStatus.NOT_FOUND, ERR_NOT_IN_POPULATION.format(citizen=request.citizen_id))
            items = self._popular(served, request.k, request.language)
            notices.insert(0, OPT_OUT_NOTICE[request.language])
            personalised = False
        else:
            found = self._precomputed(request, served, notices) if request.precomputed else None
            if found is not None:
                batch, items = found
            else:
                if context is None:
                    context, matched = self._context(request)
                listed = self.citizen_list(served, context, citizen_id=request.citizen_id, k=request.k)
                items = self.explained(served, context, listed, language=request.language)
            personalised = True
        audit.items, audit.personalised = len(items), personalised
        return schemas.SuggestionResponse(
            request_id=audit.request_id, kind=request.kind, language=request.language, personalised=personalised,
            notice=" ".join(notices) or None, matched_occupation=matched, model=served.info, batch=batch,
            suggestions=items)

    def _precomputed(self, request: schemas.SuggestionRequest, served: ServedKind,
                     notices: list[str]) -> tuple[schemas.BatchRef, list[schemas.SuggestionOut]] | None:
        """The citizen's list from the newest complete batch of the served model version (never another's), without
        the items they dismissed; None (with the notice why) when there is none to serve: no batch of this
        version, too short a list, or career data the citizen changed on the site (added or removed an
        entry: its revision moved past the import's 0), which the snapshot the batch read may not hold. What the
        import brought in, their self-declared competencies too, is in that snapshot."""
        from models.batch_read import precomputed_suggestions

        try:
            changed = self.vault.revision(citizen_id=request.citizen_id) > 0
        except LoopbaanError as error:
            raise refusal(error, citizen_id=request.citizen_id) from None
        if changed:
            notices.append(BATCH_STALE_NOTICE[request.language])
            return None
        try:
            found = precomputed_suggestions(self.settings, request.kind, request.citizen_id,
                                            language=request.language, model_version=served.info.version)
        except (LoopbaanError, OSError) as error:  # an unreadable batch: the live list is always there
            logger.warning("precomputed %s lists unreadable, computing live: %s", request.kind, error)
            found = None
        usable = found is not None and (found[0].model_name, found[0].model_version, found[0].run_id) == (
            served.info.name, served.info.version, served.run_id)
        if usable:
            info, suggestions = found
            dismissed = {str(item) for item in self.vault.dismissed(citizen_id=request.citizen_id,
                                                                     kind=request.kind)}
            kept = [item for item in suggestions if item.item_id not in dismissed][:request.k]
            usable = len(kept) == request.k
        if not usable:
            notices.append(BATCH_MISSING_NOTICE[request.language])
            return None
        kept = [suggestion.model_copy(update={"rank": rank}) for rank, suggestion in enumerate(kept, start=1)]
        context = self.citizen_context(request.citizen_id)
        positions = positions_of(served.resources.catalogue, [item.item_id for item in kept])
        return (schemas.BatchRef(batch_id=info.batch_id, completed_at=info.completed_at, as_of=info.as_of),
                self.with_recourse(served, context, kept, positions, request.language))

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
            explanation=Explanation(base_value=float(served.popularity[item]), contributions=[],
                                    summary=summary))
            for rank, item in enumerate(order, start=1)]

    def what_if(self, request: schemas.WhatIfRequest, *, authorization: str | None = None,
                audit: AuditEntry | None = None) -> schemas.WhatIfResponse:
        """The list as it would be with the competencies ``request.learn`` held, and what that changes (nothing is
        stored)."""
        audit = audit or in_process("what_if")
        served = self._admitted(request, authorization=authorization, audit=audit)
        if self.opted_out(request.citizen_id):
            raise RequestError(HTTPStatus.CONFLICT, ERR_OPTED_OUT_PERSONAL)
        context, matched = self._context(request)
        try:
            after = learnt(context, taxonomy=self.taxonomy, learn=list(dict.fromkeys(request.learn)))
        except LoopbaanError as error:
            raise RequestError(HTTPStatus.UNPROCESSABLE_ENTITY, str(error)) from None
        labels = [self.taxonomy.competency_label(uri, request.language) for uri in dict.fromkeys(request.learn)]
        resources = self.recourse_resources()
        change = changes.summarise(before=changes.readiness(resources, context),
                                   after=changes.readiness(resources, after), about=changes.quoted(labels),
                                   language=request.language, mode=changes.WHAT_IF)
        listed = self.citizen_list(served, after, citizen_id=request.citizen_id, k=request.k)
        items = self.explained(served, after, listed, language=request.language)
        audit.items, audit.personalised = len(items), request.citizen_id is not None
        return schemas.WhatIfResponse(change=change, suggestions=schemas.SuggestionResponse(
            request_id=audit.request_id, kind=request.kind, language=request.language, personalised=True,
            notice=FALLBACK_NOTICE[request.language] if served.info.fallback else None, matched_occupation=matched,
            model=served.info, batch=None, suggestions=items))

    def recourse_resources(self) -> dict[str, KindResources]:
        """The resources of the served kinds whose readiness learning can change (jobs, careers)."""
        return {kind: served.resources for kind, served in self._state.kinds.items() if kind in OCCUPATION_KINDS}

    # -- explaining an order --------------------------------------------------------------------------------

    def _positions(self, served: ServedKind, kind: str, item_ids: list[str]) -> list[int]:
        positions = positions_of(served.resources.catalogue, item_ids)
        for item, position in zip(item_ids, positions, strict=True):
            if position < 0:
                raise RequestError(HTTPStatus.NOT_FOUND, ERR_UNKNOWN_ITEM.format(item=item, kind=kind))
        return [int(position) for position in positions]

    def _title(self, served: ServedKind, position: int, language: str) -> str:
        return str(served.resources.catalogue.titles.iloc[position][f"title_{language}"])

    def compare(self, request: schemas.CompareRequest, *, authorization: str | None = None,
                request_id: str | None = None, audit: AuditEntry | None = None) -> schemas.CompareResponse:
        """Why A and B stand in the order the citizen sees (their list of ``k``): the score difference with its
        per-feature contributions, and where the fairness guarantee set the order, that it did."""
        audit = audit or in_process("compare", request_id)
        served = self._admitted(request, authorization=authorization, audit=audit)
        if self.opted_out(request.citizen_id):
            raise RequestError(HTTPStatus.CONFLICT, ERR_OPTED_OUT_COMPARE)
        positions = self._positions(served, request.kind, [request.item_a, request.item_b])
        context, _ = self._context(request)
        listed = self.citizen_list(served, context, citizen_id=request.citizen_id, k=request.k)
        a, b = pairs.scored(served.suggester, context, listed, positions)
        parts = pairs.differences(served.suggester, a, b, request.language)
        titles = (self._title(served, positions[0], request.language), self._title(served, positions[1],
                                                                                    request.language))
        a_above, set_by, summary = pairs.compare_order(a, b, parts, titles=titles, k=request.k,
                                                         language=request.language)
        audit.items, audit.personalised = 2, request.citizen_id is not None
        return schemas.CompareResponse(
            request_id=audit.request_id, kind=request.kind, model=served.info, k=request.k,
            item_a=pairs.item_score(request.item_a, titles[0], a, request.language),
            item_b=pairs.item_score(request.item_b, titles[1], b, request.language),
            a_above_b=a_above, order_set_by=set_by, score_difference=a.score - b.score, differences=parts,
            summary=summary)

    def why_not(self, request: schemas.WhyNotRequest, *, authorization: str | None = None,
                audit: AuditEntry | None = None) -> schemas.WhyNotResponse:
        """"Waarom niet deze vacature?": the item's place in the citizen's ranking and the contributions that
        separate it from the last suggestion shown."""
        audit = audit or in_process("why_not")
        served = self._admitted(request, authorization=authorization, audit=audit)
        if self.opted_out(request.citizen_id):
            raise RequestError(HTTPStatus.CONFLICT, ERR_OPTED_OUT_COMPARE)
        [position] = self._positions(served, request.kind, [request.item_id])
        context, _ = self._context(request)
        dismissed = self.dismissed(request.citizen_id, served)
        deep = rank_list(served.suggester, context, k=max(WHY_NOT_DEPTH, request.k), dismissed=dismissed)
        shown = deep if served.suggester.reranker is None else rank_list(served.suggester, context, k=request.k,
                                                                         dismissed=dismissed)
        listed = shown.positions[:request.k]
        if not len(listed):
            raise RequestError(HTTPStatus.NOT_FOUND, ERR_EMPTY_LIST.format(kind=request.kind))
        last_position = int(listed[-1])
        [item] = pairs.scored(served.suggester, context, deep, [position])
        [last] = pairs.scored(served.suggester, context, shown, [last_position])
        in_list = shown.rank_of(position) is not None and shown.rank_of(position) <= request.k
        if in_list:
            item = replace(item, rank=shown.rank_of(position))
        parts = pairs.differences(served.suggester, item, last, request.language)
        titles = (self._title(served, position, request.language), self._title(served, last_position,
                                                                                request.language))
        summary = pairs.why_not_summary(item, last, parts, titles=titles, k=request.k,
                                          dismissed=position in dismissed, in_list=in_list, language=request.language)
        audit.items, audit.personalised = 2, request.citizen_id is not None
        return schemas.WhyNotResponse(
            request_id=audit.request_id, kind=request.kind, model=served.info, k=request.k,
            item=pairs.item_score(request.item_id, titles[0], item, request.language),
            last_shown=pairs.item_score(str(served.resources.catalogue.ids[last_position]), titles[1], last,
                                          request.language),
            in_list=in_list, dismissed=position in dismissed, score_difference=item.score - last.score,
            differences=parts, summary=summary)

    # -- the taxonomy and catalogues ----------------------------------------------------------------------------

    def find(self, kind: str, *, query: str, language: str, k: int,
             audit: AuditEntry | None = None) -> schemas.SearchResponse:
        """Competencies or occupations by what a citizen types (:mod:`serving.search`)."""
        try:
            found = self.search.find(kind, query, language=language, k=k)
        except SearchRefused as error:
            raise RequestError(HTTPStatus.UNPROCESSABLE_ENTITY, str(error)) from None
        if audit is not None:
            audit.items = len(found)
        return schemas.SearchResponse(kind=kind, query=query, language=language, hits=[
            schemas.SearchHit(rank=hit.rank, id=hit.uri, label=hit.label, label_lang=hit.label_lang,
                              matched_label=hit.matched_label, score=hit.score) for hit in found])

    def diplomas(self, *, language: str, audit: AuditEntry | None = None) -> schemas.DiplomaCatalogueResponse:
        """The diploma catalogue a citizen picks a diploma from."""
        table = self.store.table("diploma_catalogue").sort_values(f"title_{language}")
        if audit is not None:
            audit.items = len(table)
        return schemas.DiplomaCatalogueResponse(diplomas=[
            schemas.DiplomaOut(diploma_id=str(diploma), title=str(title), level=str(level))
            for diploma, title, level in zip(table["diploma_id"], table[f"title_{language}"], table["level"],
                                             strict=True)])

    @staticmethod
    def _suggestion_out(suggestion: Suggestion, *, recourse: schemas.RecourseOut | None) -> schemas.SuggestionOut:
        return schemas.SuggestionOut(**dict(suggestion), recourse=recourse)

    def register(self, *, audit: AuditEntry | None = None) -> RegisterDocument:
        """The data register now: every declared processing, and the partners with active shares (the vault's)."""
        grants = self.vault.active_grants()
        if audit is not None:
            audit.items = len(grants)
        return build_register(grants=grants, partners=self.sign_in.partners, at=datetime.now(UTC))

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


def _fairness_tags(client, name: str, version: str) -> dict[str, str]:
    tags = client.get_model_version(name, version).tags or {}
    return {key: tags[key] for key in FAIRNESS_TAGS if key in tags}


def _assessment(tags: dict[str, str]) -> schemas.AssessmentInfo | None:
    result = read_result(tags)
    if result is None:
        return None
    return schemas.AssessmentInfo(assessment_id=result.assessment_id, passed=result.passed,
                                  assessed_at=result.assessed_at, policy_version=result.policy_version,
                                  failed_checks=list(result.failed_checks))
