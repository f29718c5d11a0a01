"""The service core, free of any web framework: answer the requests with the models served now.

The BentoML service (``serving/service.py``) is a thin shell around :class:`ServiceCore`; the benchmark calls the
core in-process for the latency floor. What is served, and how it follows the MLflow registry, is
:class:`serving.served_models.ServedModels` (``core.served_models``): a request takes its state once when it starts
(:meth:`ServiceCore.served_kind`) and finishes on it. Answered here: the lists (live, from the nightly batch, or the
general list of a citizen who opted out), what-if, the search, the diploma catalogue, the data register, the metadata
and the operator's reload; ``/compare`` and ``/why-not`` by :class:`serving.compare.OrderQuestions` (``core.orders``)
and the ``/me`` routes by :class:`serving.me.MyCareer` (``core.me``), both through the core.

**The vault.** Citizens' data is read and written through the vault (:mod:`serving.vault`): their query context
for every list, "Mijn loopbaandata", what they add (:mod:`serving.me`), their AI choice (the vault's consent store)
and the items they dismissed, which stay out of every list they see (:mod:`serving.lists`). The population snapshot
gives the catalogues, the outcomes behind the general list, and the nightly batch's lists.

**Audit.** Every method fills in the request's :class:`serving.audit.AuditEntry` as it learns what the request is
about; the service's middleware writes it, with the status, once per request (a write stores it with its change).

**Who asks.** Every request learns who asks from :class:`serving.signin.SignIn` only (the citizen through
:meth:`ServiceCore.token_holder`): the OpenID provider's tokens, or without one the test tokens of
``loopbaan token``. Sharing with partners is :class:`serving.shares.ShareDesk` (``core.shares``).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from http import HTTPStatus

import numpy as np

from features.citizens import QueryContext, anonymous_context
from features.consent import Consent, JsonlConsentStore, VaultConsentStore
from features.errors import LoopbaanError
from features.imported_labels import home_taxonomy
from features.keys import pseudonym_key, signing_key
from features.label_languages import LabelLanguages
from features.population.store import PopulationStore
from features.register_document import RegisterDocument, build_register
from features.settings import Settings
from features.vocabulary import OCCUPATION_KINDS
from models.recourse import what_if as learnt
from models.resources import KindResources
from models.suggestion import Explanation, Suggestion
from serving import changes, schemas
from serving.audit import AuditEntry, in_process
from serving.compare import OrderQuestions
from serving.errors import ERR_NOT_IN_POPULATION, ERR_OPTED_OUT_PERSONAL, RequestError, refusal
from serving.lists import CitizenList, dismissed_positions, positions_of, rank_list, render
from serving.search import Search, SearchRefused
from serving.served_models import ERR_NO_CHAMPION, ServedKind, ServedModels
from serving.shares import ShareDesk
from serving.signin import SignIn
from serving.vault import service_vault

__all__ = ["RequestError", "ServiceCore"]

logger = logging.getLogger(__name__)

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
ERR_CITIZEN_TOKEN = "this token may read only its own citizen's suggestions"
ERR_NO_TITLE_MATCH = ("the job title {title!r} resembles no occupation: type what you do, e.g. 'lasser' or 'welder', "
                      "or give a few competencies")


class ServiceCore:
    """The taxonomy, population and consent are loaded once; the served models follow the registry
    (:class:`serving.served_models.ServedModels`)."""

    def __init__(self, *, settings: Settings | None = None, store: PopulationStore | None = None,
                 watch: bool = False) -> None:
        from serving.me import MyCareer

        self.settings = settings or Settings()
        self.store = store or PopulationStore(self.settings.population_dir)
        self.as_of = date.fromisoformat(self.store.manifest["config"]["as_of"])
        self.key = signing_key(self.settings)
        self.taxonomy = home_taxonomy(self.settings)
        self.languages = LabelLanguages.of(self.taxonomy)
        self.taxonomy_info = schemas.TaxonomyInfo(
            source=self.taxonomy.source, **{name: count for name, count in self.taxonomy.summary().items()
                                            if name in schemas.TaxonomyInfo.model_fields})
        self.vault = service_vault(self.settings, store=self.store)  # raises with the command to run when not ready
        choices = VaultConsentStore(self.vault, legacy=JsonlConsentStore(self.settings.consent_log,
                                                                         key=pseudonym_key(self.settings)))
        choices.check()  # choices that this pseudonym key cannot read stop the start, loudly
        self.consent = Consent(store=choices, defaults=choices.defaults())
        self.sign_in = SignIn(vault=self.vault, key=self.key)
        self.shares = ShareDesk(vault=self.vault, sign_in=self.sign_in)
        self.search = Search(settings=self.settings, taxonomy=self.taxonomy, languages=self.languages)
        self.me = MyCareer(self)
        self.orders = OrderQuestions(self)
        self.served_models = ServedModels(settings=self.settings, store=self.store, taxonomy=self.taxonomy,
                                          watch=watch)

    # -- operators ------------------------------------------------------------------------------------------

    def request_reload(self, *, authorization: str | None, audit: AuditEntry | None = None) -> schemas.ReloadResponse:
        """An operator's reload: this process follows the registry now, the others at their next marker check."""
        self.sign_in.admin(authorization)
        changes = self.served_models.request_reload()
        state = self.served_models.state
        if audit is not None:
            audit.models = {kind: served.label for kind, served in state.kinds.items()}
        return schemas.ReloadResponse(changes=changes, models={kind: served.info for kind, served in state.kinds.items()},
                                      unavailable=dict(state.unavailable))

    def warm_up(self) -> None:
        """Build now what the first search or anonymous request would otherwise build (the searchers, from
        their on-disk caches after the first time)."""
        self.search.warm_up()

    def close(self) -> None:
        self.served_models.close()
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

    def admitted(self, request: schemas.ProfileQuery, *, authorization: str | None,
                 audit: AuditEntry) -> ServedKind:
        """The served kind (taken once: the request finishes on it), once the caller may ask."""
        audit.citizen_id = request.citizen_id
        served = self.served_kind(request.kind, audit=audit)
        self.authorise(request, authorization, audit=audit)
        return served

    def served_kind(self, kind: str, *, audit: AuditEntry) -> ServedKind:
        """The kind's served model (taken once: the request finishes on it), or 503 with the reason there is none."""
        audit.kind = kind
        state = self.served_models.state
        served = state.kinds.get(kind)
        if served is None:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, state.unavailable.get(
                kind, ERR_NO_CHAMPION.format(kind=kind)))
        audit.models = {kind: served.label}
        return served

    def query_context(self, request: schemas.ProfileQuery) -> tuple[QueryContext, str | None]:
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
        return [schemas.SuggestionOut(**dict(item), recourse=steps)
                for item, steps in zip(found, recourse, strict=True)]

    # -- lists ----------------------------------------------------------------------------------------------

    def suggestions(self, request: schemas.SuggestionRequest, *, authorization: str | None = None,
                    request_id: str | None = None, audit: AuditEntry | None = None) -> schemas.SuggestionResponse:
        audit = audit or in_process("suggestions", request_id)
        served = self.admitted(request, authorization=authorization, audit=audit)
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
                    context, matched = self.query_context(request)
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
        served = self.admitted(request, authorization=authorization, audit=audit)
        if self.opted_out(request.citizen_id):
            raise RequestError(HTTPStatus.CONFLICT, ERR_OPTED_OUT_PERSONAL)
        context, matched = self.query_context(request)
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
        return {kind: served.resources for kind, served in self.served_models.kinds.items()
                if kind in OCCUPATION_KINDS}

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

    def register(self, *, audit: AuditEntry | None = None) -> RegisterDocument:
        """The data register now: every declared processing, and the partners with active shares (the vault's)."""
        grants = self.vault.active_grants()
        if audit is not None:
            audit.items = len(grants)
        return build_register(grants=grants, partners=self.sign_in.partners, at=datetime.now(UTC))

    def metadata(self, *, audit: AuditEntry | None = None) -> schemas.MetadataResponse:
        """Served models and versions (since when each serves), withdrawn kinds, and the last fairness assessment."""
        served_models = self.served_models
        state = served_models.state
        assessments, refreshed = served_models.assessments(state)
        if audit is not None:
            audit.models = {kind: served.label for kind, served in state.kinds.items()}
        return schemas.MetadataResponse(
            population=schemas.PopulationInfo(as_of=self.as_of.isoformat(),
                                              citizens=int(self.store.manifest["config"]["citizens"]), synthetic=True),
            taxonomy=self.taxonomy_info,
            registry=schemas.RegistryInfo(uri=self.settings.mlflow_tracking_uri if self.settings.tracking_uri
                                          else "local", reachable=refreshed and served_models.registry_reachable,
                                          checked_at=served_models.checked_at,
                                          reload_seconds=self.settings.reload_seconds),
            models={kind: schemas.ServedModel(**served.info.model_dump(), features=served.suggester.model.feature_names,
                                              catalogue_size=len(served.resources.catalogue),
                                              assessment=assessments[kind])
                    for kind, served in state.kinds.items()},
            unavailable=dict(state.unavailable),
            withdrawn={kind: schemas.WithdrawalInfo(reason=found.reason, at=found.at)
                       for kind, found in state.withdrawn.items()})

