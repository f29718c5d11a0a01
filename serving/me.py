"""The token holder's own data in the vault: "Mijn loopbaandata", what they add to it and remove from it, their AI
choice, their feedback ("niet voor mij, omdat…"), and the recourse panel.

Every edit carries the revision the citizen read (``GET /me``): of two windows editing at once one saves and the
other gets 409 with the revision the data is at now, and nothing of its edit is written (the vault's rule). Every
write stores the request's audit line in its own transaction. After an addition or a removal the requested list is
recomputed at once from the vault, and the answer says what changed over the whole catalogue ("3 vacatures nu
pasklaar dankzij 'heftruck besturen'", :mod:`serving.changes`); for a citizen who switched AI suggestions off nothing
personal is computed, and the answer says only that the edit was saved.

Whose data it is comes from the service core's :meth:`~serving.core.ServiceCore.token_holder` only.
"""

from __future__ import annotations

from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING

from features.errors import LoopbaanError
from features.vault import AssessmentResult, CompletedCourse, DiplomaObtained, Entry
from serving import changes, schemas
from serving.audit import AuditEntry, in_process
from serving.errors import ERR_OPTED_OUT_PERSONAL, RequestError, refusal
from serving.lists import positions_of

if TYPE_CHECKING:
    from serving.core import ServiceCore

ENTRY_TYPES = {"competency": "competency", "assessment": "test", "training": "course", "diploma": "diploma"}
_ABOUT = {
    "nl": {"competency": "'{label}'", "test": "je test '{label}'", "course": "de opleiding '{label}'",
           "diploma": "het diploma '{label}'"},
    "en": {"competency": "'{label}'", "test": "your test '{label}'", "course": "the course '{label}'",
           "diploma": "the diploma '{label}'"},
}
_SAVED_OPTED_OUT = {
    "nl": "Opgeslagen. Je koos voor geen AI-suggesties, dus er wordt niets persoonlijks voor je berekend.",
    "en": "Saved. You opted out of AI suggestions, so nothing personal is computed for you.",
}


class MyCareer:
    """The citizen endpoints under ``/me`` (see the module docstring)."""

    def __init__(self, core: ServiceCore) -> None:
        self.core = core
        self.vault = core.vault

    @cached_property
    def _titles(self) -> dict[str, dict[int, tuple[str, str]]]:
        """Course and diploma titles (nl, en) by id, from the snapshot's catalogues."""
        store = self.core.store
        return {name: {int(key): (str(nl), str(en)) for key, nl, en in zip(
                    table[column], table["title_nl"], table["title_en"], strict=True)}
                for name, table, column in (("course", store.table("trainings"), "training_id"),
                                            ("diploma", store.table("diploma_catalogue"), "diploma_id"))}

    def _holder(self, authorization: str | None, audit: AuditEntry) -> int:
        citizen_id = audit.citizen_id = self.core.token_holder(authorization, audit=audit)
        return citizen_id

    # -- reading ----------------------------------------------------------------------------------------------

    def career_data(self, *, authorization: str | None, language: str = "nl",
                    audit: AuditEntry | None = None) -> schemas.CareerDataResponse:
        """The token holder's career data, their own entries (removable), their feedback and their AI choice."""
        audit = audit or in_process("career_data")
        citizen_id = self._holder(authorization, audit)
        try:
            found = self.vault.career_data(citizen_id=citizen_id, language=language, as_of=self.core.as_of)
            feedback = self.vault.feedback(citizen_id=citizen_id)
        except LoopbaanError as error:
            raise refusal(error, citizen_id=citizen_id) from None
        data = found.career
        languages = self.core.languages
        audit.items, audit.personalised = len(data.competencies), True
        return schemas.CareerDataResponse(
            citizen_id=citizen_id, as_of=self.core.as_of.isoformat(), language=language, revision=found.revision,
            opted_out=self.core.opted_out(citizen_id), circumstances=data.circumstances, work=data.work,
            diplomas=data.diplomas, trainings=data.trainings,
            competencies=[{**item, "label_lang": languages.competency(item["id"], language)}
                          for item in data.competencies],
            entries=[self._entry_out(entry, language) for entry in found.entries],
            feedback=[self._feedback_out(item, language) for item in feedback])

    def _entry_out(self, entry: Entry, language: str) -> schemas.OwnEntry:
        kind = ENTRY_TYPES[entry.record_type]
        label, label_lang = self._label(entry, language)
        return schemas.OwnEntry(
            entry_id=entry.entry_id, type=kind, date=entry.on.isoformat(), label=label, label_lang=label_lang,
            competency_id=entry.competency_uri, proficiency=entry.proficiency,
            training_id=None if entry.training_id is None else str(entry.training_id),
            diploma_id=None if entry.diploma_id is None else str(entry.diploma_id))

    def _label(self, entry: Entry, language: str) -> tuple[str, str]:
        """The entry as the page names it, and the language of that name."""
        if entry.record_type == "competency":
            return (self.core.taxonomy.competency_label(entry.competency_uri, language),
                    self.core.languages.competency(entry.competency_uri, language))
        if entry.record_type == "assessment":
            return str(entry.test_name or ""), language
        kind = ENTRY_TYPES[entry.record_type]
        key = entry.training_id if kind == "course" else entry.diploma_id
        titles = self._titles[kind].get(int(key))
        return (titles[language == "en"] if titles else str(key)), language

    def _feedback_out(self, item, language: str) -> schemas.FeedbackOut:
        served = self.core.served_models.kinds.get(item.kind)
        title = None
        if served is not None:
            catalogue = served.resources.catalogue
            [position] = positions_of(catalogue, [item.item_id])
            title = None if position < 0 else str(catalogue.titles.iloc[position][f"title_{language}"])
        return schemas.FeedbackOut(kind=item.kind, item_id=item.item_id, title=title, reason=item.reason,
                                   note=item.note, given_on=item.given_on.isoformat())

    # -- edits ------------------------------------------------------------------------------------------------

    def add_competency(self, *, authorization: str | None, request: schemas.AddCompetencyRequest,
                       audit: AuditEntry | None = None) -> schemas.ChangeResponse:
        """Add a self-declared competency; the list asked for comes back recomputed, with what changed."""
        audit = audit or in_process("add_competency")
        citizen_id = self._holder(authorization, audit)

        def write(line):
            return self.vault.add_competency(citizen_id=citizen_id, competency_uri=request.competency_id,
                                             revision=request.revision, on=request.date, audit=line)

        def about():
            label = self.core.taxonomy.competency_label(request.competency_id.strip(), request.language)
            return _ABOUT[request.language]["competency"].format(label=label)

        return self._edit(citizen_id, request, audit=audit, write=write, about=about, mode=changes.ADDED)

    def add_record(self, *, authorization: str | None, request: schemas.AddRecordRequest,
                   audit: AuditEntry | None = None) -> schemas.ChangeResponse:
        """Add a test result, a completed course or a diploma (source "self-declared")."""
        audit = audit or in_process("add_record")
        citizen_id = self._holder(authorization, audit)
        record = request.record
        on = record.date or self.vault.today
        if record.type == "test":
            new = AssessmentResult(name=record.name.strip(), competency_uri=record.competency_id,
                                   proficiency=record.proficiency, taken_on=on)
        elif record.type == "course":
            new = CompletedCourse(training_id=int(record.training_id), completed_on=on)
        else:
            new = DiplomaObtained(diploma_id=int(record.diploma_id), obtained_on=on)

        def write(line):
            return self.vault.add_record(citizen_id=citizen_id, record=new, revision=request.revision, audit=line)

        def about():
            if record.type == "test":
                label = record.name.strip()
            else:
                key = int(record.training_id if record.type == "course" else record.diploma_id)
                label = self._titles[record.type][key][request.language == "en"]
            return _ABOUT[request.language][record.type].format(label=label)

        return self._edit(citizen_id, request, audit=audit, write=write, about=about, mode=changes.ADDED)

    def remove_entry(self, *, authorization: str | None, entry_id: int, revision: int, listing: schemas.ListRequest,
                     audit: AuditEntry | None = None) -> schemas.ChangeResponse:
        """Remove something the citizen added, with the competencies it gave."""
        audit = audit or in_process("remove_entry")
        citizen_id = self._holder(authorization, audit)
        try:
            own = {entry.entry_id: entry for entry in self.vault.entries(citizen_id=citizen_id)}
        except LoopbaanError as error:
            raise refusal(error, citizen_id=citizen_id) from None

        def write(line):
            return self.vault.remove_entry(citizen_id=citizen_id, entry_id=entry_id, revision=revision, audit=line)

        def about():
            entry = own[entry_id]  # the write succeeded, so it was the citizen's own
            label, _ = self._label(entry, listing.language)
            return _ABOUT[listing.language][ENTRY_TYPES[entry.record_type]].format(label=label)

        return self._edit(citizen_id, listing, audit=audit, write=write, about=about, mode=changes.REMOVED,
                          status=HTTPStatus.OK)

    def _edit(self, citizen_id: int, listing: schemas.ListRequest, *, audit: AuditEntry, write, about, mode: str,
              status: HTTPStatus = HTTPStatus.CREATED) -> schemas.ChangeResponse:
        """Write the edit (with its audit line), then recompute the list asked for and say what changed."""
        core = self.core
        served = core.served_kind(listing.kind, audit=audit)  # a list that cannot be made refuses before writing
        opted_out = core.opted_out(citizen_id)
        resources = core.recourse_resources()
        before = None if opted_out else changes.readiness(resources, core.citizen_context(citizen_id))
        audit.items = 1
        try:
            change = write(audit.line(status=status))
        except LoopbaanError as error:
            raise refusal(error, citizen_id=citizen_id) from None
        audit.stored(status=status)
        request = schemas.SuggestionRequest(kind=listing.kind, citizen_id=citizen_id, k=listing.k,
                                            language=listing.language)
        listed = AuditEntry(request_id=audit.request_id, endpoint=audit.endpoint)  # written already, with the edit
        if opted_out:
            summary = schemas.ChangeSummary(summary=_SAVED_OPTED_OUT[listing.language], about=about(), kinds={})
            return schemas.ChangeResponse(entry_id=change.entry_id, revision=change.revision, change=summary,
                                          suggestions=core.answer(request, served=served, audit=listed))
        context = core.citizen_context(citizen_id)
        summary = changes.summarise(before=before, after=changes.readiness(resources, context), about=about(),
                                    language=listing.language, mode=mode)
        return schemas.ChangeResponse(entry_id=change.entry_id, revision=change.revision, change=summary,
                                      suggestions=core.answer(request, served=served, audit=listed,
                                                              context=context))

    def set_opt_out(self, *, authorization: str | None, opted_out: bool,
                    audit: AuditEntry | None = None) -> schemas.OptOutResponse:
        """Record the token holder's choice: no AI suggestions (True) or personalised ones (False)."""
        audit = audit or in_process("opt_out")
        citizen_id = self._holder(authorization, audit)
        try:
            self.vault.record_consent(citizen_id=citizen_id, opted_out=opted_out,
                                      audit=audit.line(status=HTTPStatus.OK))
        except LoopbaanError as error:
            raise refusal(error, citizen_id=citizen_id) from None
        audit.stored(status=HTTPStatus.OK)
        return schemas.OptOutResponse(opted_out=self.core.opted_out(citizen_id))

    # -- feedback -----------------------------------------------------------------------------------------------

    def add_feedback(self, *, authorization: str | None, request: schemas.FeedbackRequest,
                     audit: AuditEntry | None = None) -> schemas.FeedbackOut:
        """"Niet voor mij, omdat…": the item stays out of the citizen's lists of that kind from now on."""
        audit = audit or in_process("feedback")
        citizen_id = self._holder(authorization, audit)
        served = self.core.served_kind(request.kind, audit=audit)
        catalogue = served.resources.catalogue
        [position] = positions_of(catalogue, [request.item_id])
        if position < 0:
            raise RequestError(HTTPStatus.NOT_FOUND,
                               f"item {request.item_id!r} is not in the {request.kind} catalogue")
        audit.items = 1
        try:
            given = self.vault.record_feedback(citizen_id=citizen_id, kind=request.kind,
                                               item_id=str(catalogue.ids[int(position)]),  # "0012" is item 12
                                               reason=request.reason, note=request.note,
                                               audit=audit.line(status=HTTPStatus.CREATED))
        except LoopbaanError as error:
            raise refusal(error, citizen_id=citizen_id) from None
        audit.stored(status=HTTPStatus.CREATED)
        return schemas.FeedbackOut(kind=given.kind, item_id=given.item_id, reason=given.reason, note=given.note,
                                   given_on=given.given_on.isoformat(),
                                   title=str(catalogue.titles.iloc[int(position)][f"title_{request.language}"]))

    def remove_feedback(self, *, authorization: str | None, kind: str, item_id: str, language: str = "nl",
                        audit: AuditEntry | None = None) -> schemas.FeedbackListResponse:
        """Take feedback back: the item may appear in the citizen's lists again."""
        audit = audit or in_process("remove_feedback")
        citizen_id = self._holder(authorization, audit)
        audit.kind = kind
        try:
            self.vault.delete_feedback(citizen_id=citizen_id, kind=kind, item_id=item_id,
                                       audit=audit.line(status=HTTPStatus.OK))
            audit.stored(status=HTTPStatus.OK)
            left = self.vault.feedback(citizen_id=citizen_id)
        except LoopbaanError as error:
            raise refusal(error, citizen_id=citizen_id) from None
        return schemas.FeedbackListResponse(feedback=[self._feedback_out(item, language) for item in left])

    # -- recourse ---------------------------------------------------------------------------------------------

    def recourse(self, *, authorization: str | None, kind: str, language: str, limit: int,
                 audit: AuditEntry | None = None) -> schemas.RecoursePanelResponse:
        """The competencies whose learning alone makes the most items ready for the token holder."""
        audit = audit or in_process("recourse")
        citizen_id = self._holder(authorization, audit)
        served = self.core.served_kind(kind, audit=audit)
        if self.core.opted_out(citizen_id):
            raise RequestError(HTTPStatus.CONFLICT, ERR_OPTED_OUT_PERSONAL)
        context = self.core.citizen_context(citizen_id)
        within, unlocks = served.words.panel(context, language=language, limit=limit)
        audit.items, audit.personalised = len(unlocks), True
        return schemas.RecoursePanelResponse(kind=kind, language=language, within_commute=within, model=served.info,
                                             unlocks=unlocks)

