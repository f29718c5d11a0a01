"""Recourse in the service's words: per suggestion what to learn to be ready, and the citizen's panel of the
competencies that open up the most ("met 'heftruck besturen' worden 14 vacatures pasklaar").

The figures are :mod:`models.recourse`'s, computed exactly from the readiness rules over the whole catalogue; this
module only names them (labels with their language, training titles and hours). Trainings have no recourse: their
readiness is their Dutch entry level.
"""

from __future__ import annotations

import numpy as np

from features.citizens import QueryContext
from models.recourse import Lesson, recourse, unlocking_competencies
from models.suggest import Suggester
from serving import schemas

_UNLOCK = {
    "nl": {"jobs": ("vacature", "vacatures"), "careers": ("loopbaanstap", "loopbaanstappen")},
    "en": {"jobs": ("vacancy", "vacancies"), "careers": ("career step", "career steps")},
}
_UNLOCK_SENTENCE = {  # (one, more)
    "nl": ("Met '{label}' wordt {count} {noun} pasklaar{where}", "Met '{label}' worden {count} {noun} pasklaar{where}"),
    "en": ("With '{label}', {count} {noun} becomes ready{where}", "With '{label}', {count} {noun} become ready{where}"),
}
_WHERE = {"nl": " binnen je pendelafstand", "en": " within your commute"}
_TAUGHT = {"nl": " — te leren in '{title}' ({hours} uur)", "en": " — taught in '{title}' ({hours} hours)"}
_UNTAUGHT = {"nl": " — geen opleiding in het aanbod leert dit", "en": " — no training on offer teaches this"}
MAX_EXAMPLES = 3


def noun(kind: str, count: int, language: str) -> str:
    one, many = _UNLOCK[language][kind]
    return one if count == 1 else many


class RecourseWords:
    """Names the recourse of one served kind's catalogue."""

    def __init__(self, *, suggester: Suggester) -> None:
        self.suggester = suggester

    def competencies(self, columns: np.ndarray, language: str) -> list[schemas.Competency]:
        return self.suggester.labels.competencies(columns, language)

    def lesson(self, lesson: Lesson, language: str) -> schemas.Lesson:
        labels = self.suggester.labels
        return schemas.Lesson(training_id=str(labels.training_ids[lesson.training]),
                              title=str(labels.training_titles[language][lesson.training]),
                              duration_hours=float(lesson.hours), teaches=self.competencies(lesson.teaches, language))

    def for_items(self, context: QueryContext, positions: np.ndarray, readiness: list[str | None],
                  language: str) -> list[schemas.RecourseOut | None]:
        """The recourse of each listed item that is not ready (row 0 of ``context``: one citizen or profile)."""
        resources = self.suggester.resources
        if resources.kind == "trainings":
            return [None] * len(positions)
        essential = resources.catalogue.essential
        out = []
        for position, state in zip(np.asarray(positions).tolist(), readiness, strict=True):
            if state in (None, "ready"):
                out.append(None)
                continue
            found = recourse(held=context.profile[0], essential=essential.indices[
                essential.indptr[position]:essential.indptr[position + 1]], item=int(position), gaps=resources.gaps,
                kind=resources.kind)
            out.append(None if found is None else schemas.RecourseOut(
                learn=self.competencies(found.learn, language),
                trainings=[self.lesson(lesson, language) for lesson in found.lessons],
                untaught=self.competencies(found.untaught, language), hours=found.hours))
        return out

    def panel(self, context: QueryContext, *, language: str, limit: int) -> tuple[bool, list[schemas.UnlockOut]]:
        """The competencies whose learning alone makes the most items ready (vacancies: within the commute)."""
        resources = self.suggester.resources
        kind = resources.kind
        unlocks = unlocking_competencies(context=context, row=0, catalogue=resources.catalogue, gaps=resources.gaps,
                                         commute_only=True, limit=limit)
        within = kind == "jobs"
        titles = self.suggester.labels.item_titles[language]
        out = []
        for unlock in unlocks:
            [competency] = self.competencies(np.array([unlock.competency]), language)
            lesson = None if unlock.lesson is None else self.lesson(unlock.lesson, language)
            count = len(unlock.items)
            sentence = _UNLOCK_SENTENCE[language][count != 1].format(
                label=competency.label, count=count, noun=noun(kind, count, language),
                where=_WHERE[language] if within else "")
            sentence += (_TAUGHT[language].format(title=lesson.title, hours=round(lesson.duration_hours))
                         if lesson is not None else _UNTAUGHT[language])
            examples = list(dict.fromkeys(str(titles[item]) for item in unlock.items.tolist()))[:MAX_EXAMPLES]
            out.append(schemas.UnlockOut(competency=competency, items=count, examples=examples, training=lesson,
                                         summary=sentence))
        return within, out
