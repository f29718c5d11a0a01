"""What an edit of the career data changed, in figures and in words ("3 vacatures nu pasklaar dankzij 'heftruck
besturen'").

Readiness is counted over the whole catalogue of each served kind with recourse (vacancies within the citizen's
commute, career steps), before and after, by the readiness rule of :mod:`models.gap` (via
:func:`models.recourse.is_ready`): so the "newly ready" of learning one competency is exactly the figure the
recourse panel promised for it. Trainings are left out: no competency changes their readiness.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from features.citizens import QueryContext
from features.vocabulary import OCCUPATION_KINDS
from models.recourse import is_ready, within_commute
from models.resources import KindResources
from serving import schemas
from serving.recourse import noun

ADDED, REMOVED, WHAT_IF = "added", "removed", "what_if"
_AND = {"nl": " en ", "en": " and "}
_BECOME = {"nl": ("wordt", "worden"), "en": ("becomes", "become")}  # one item, or more
_SENTENCES = {
    ADDED: {"nl": ("{parts} nu pasklaar dankzij {about}",
                   "Je suggesties zijn herberekend met {about}; er komen geen vacatures of loopbaanstappen bij die je "
                   "nu al kunt aanvatten"),
            "en": ("{parts} now ready thanks to {about}",
                   "Your suggestions were recomputed with {about}; no more vacancies or career steps are ready now")},
    REMOVED: {"nl": ("{parts} niet meer pasklaar zonder {about}",
                     "Je suggesties zijn herberekend zonder {about}; je bent nog even klaar voor alles als daarvoor"),
              "en": ("{parts} no longer ready without {about}",
                     "Your suggestions were recomputed without {about}; you are ready for as much as before")},
    WHAT_IF: {"nl": ("Als je {about} leert, {verb} {parts} pasklaar",
                     "Als je {about} leert, komen er geen vacatures of loopbaanstappen bij die je meteen kunt "
                     "aanvatten"),
              "en": ("If you learn {about}, {parts} {verb} ready",
                     "If you learn {about}, no more vacancies or career steps become ready")},
}


def ready_items(resources: KindResources, context: QueryContext) -> np.ndarray:
    """Per catalogue item, whether the citizen (row 0 of ``context``) is ready for it; vacancies beyond the commute
    count as not ready."""
    catalogue = resources.catalogue
    held = (context.profile[0] > 0).astype(np.int64)
    essential = catalogue.essential
    matched = np.asarray((essential @ held.T).toarray()).ravel()
    ready = is_ready(held=matched, essential=np.diff(essential.indptr))
    if catalogue.kind == "jobs":
        ready &= within_commute(context=context, row=0, catalogue=catalogue)
    return ready


def readiness(resources: Mapping[str, KindResources], context: QueryContext) -> dict[str, np.ndarray]:
    """:func:`ready_items` of each kind with recourse among ``resources``."""
    return {kind: ready_items(resources[kind], context) for kind in OCCUPATION_KINDS if kind in resources}


def quoted(labels: list[str]) -> str:
    return ", ".join(f"'{label}'" for label in labels)


def summarise(*, before: dict[str, np.ndarray], after: dict[str, np.ndarray], about: str, language: str,
              mode: str) -> schemas.ChangeSummary:
    """The figures per kind and the sentence for an addition, a removal or a "what if" (``about``: already quoted)."""
    kinds = {}
    for kind in before:
        was, now = before[kind], after[kind]
        kinds[kind] = schemas.ReadyChange(ready_before=int(was.sum()), ready_after=int(now.sum()),
                                          newly_ready=int((now & ~was).sum()), no_longer_ready=int((was & ~now).sum()),
                                          within_commute=kind == "jobs")
    counted = {kind: (change.no_longer_ready if mode == REMOVED else change.newly_ready)
               for kind, change in kinds.items()}
    parts = [f"{count} {noun(kind, count, language)}" for kind, count in counted.items() if count]
    some, none = _SENTENCES[mode][language]
    verb = _BECOME[language][sum(counted.values()) != 1]
    sentence = (some.format(parts=_AND[language].join(parts), about=about, verb=verb) if parts
                else none.format(about=about))
    return schemas.ChangeSummary(summary=sentence[0].upper() + sentence[1:], about=about, kinds=kinds)
