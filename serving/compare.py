"""Two items side by side in the order the citizen sees them: "Waarom staat A boven B?" (``/compare``) and "Waarom
niet deze vacature?" (``/why-not``: the item against the last suggestion shown).

Each item's contributions are the model's exact ones (``pred_contrib``): the listed item's from the citizen's
ranking (:mod:`serving.lists`), any other's computed directly for the pair; the per-feature differences add up to
the score difference. Where the fairness guarantee set the order, or only one item is in the list, the summary
says so instead of explaining the order by scores that say the opposite. :class:`OrderQuestions` answers both
requests (the service core's ``orders``); the functions above it compute the pair.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import TYPE_CHECKING

import numpy as np

from features.citizens import QueryContext
from features.feature_definitions import sentence
from models.rerank import TIE
from models.suggest import Suggester, moved_reason
from serving import schemas
from serving.audit import AuditEntry, in_process
from serving.errors import RequestError
from serving.lists import CitizenList, positions_of, rank_list
from serving.served_models import ServedKind

if TYPE_CHECKING:
    from serving.core import ServiceCore

ERR_OPTED_OUT_COMPARE = "this citizen opted out of AI suggestions, so there is no personal ranking to explain"
ERR_UNKNOWN_ITEM = "item {item!r} is not in the {kind} catalogue"
ERR_EMPTY_LIST = "there is no list for this citizen to compare with: nothing in the {kind} catalogue fits"
WHY_NOT_DEPTH = schemas.MAX_K  # the ranking an item's place is read from

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
_WHY_NOT = {
    "listed": {"nl": "{item} staat al in je lijst, op plaats {rank}.",
               "en": "{item} is already in your list, at place {rank}."},
    "ranked": {"nl": "{item} staat op plaats {rank}, na de {k} suggesties die je ziet. De laatste, {last}, scoort "
                     "hoger, vooral door: {reason}",
               "en": "{item} ranks at place {rank}, after the {k} suggestions you see. The last one, {last}, scores "
                     "higher, mainly because of: {reason}"},
    "unranked": {"nl": "{item} hoort niet bij de kandidaten die voor jou het best passen op je competenties. De "
                       "laatste suggestie, {last}, scoort hoger, vooral door: {reason}",
                 "en": "{item} is not among the candidates that fit your competencies best. The last suggestion, "
                       "{last}, scores higher, mainly because of: {reason}"},
    "guarantee": {"nl": "{item} staat op plaats {rank}, al scoort het hoger dan {last}, de laatste van de {k} die je "
                        "ziet: de eerlijkheidsgarantie zette suggesties ervoor. Wat {item} hoger doet scoren: {reason}",
                  "en": "{item} ranks at place {rank}, although it scores higher than {last}, the last of the {k} you "
                        "see: the fairness guarantee placed suggestions before it. What makes {item} score higher: "
                        "{reason}"},
    "dismissed": {"nl": "Je gaf aan dat {item} niet voor jou is, dus het blijft uit je lijsten. Zonder dat zou de "
                        "laatste suggestie, {last}, het zo verschillen: {reason}",
                  "en": "You said {item} is not for you, so it stays out of your lists. Apart from that, the last "
                        "suggestion, {last}, differs from it like this: {reason}"},
}


@dataclass(frozen=True)
class Scored:
    """One item of a pair: its place in the list (None: not listed), its feature values and contributions."""

    rank: int | None
    values: dict
    contributions: np.ndarray
    moved: tuple[str, ...]

    @property
    def score(self) -> float:
        return float(self.contributions.sum())


def scored(suggester: Suggester, context: QueryContext, listed: CitizenList, positions: list[int]) -> list[Scored]:
    """Each item at ``positions``, from the citizen's list where it is listed, else computed directly."""
    ranked = listed.ranked
    unlisted = [position for position in positions if listed.index_of(position) is None]
    direct = {}
    if unlisted:
        frame = suggester.resources.featurizer.transform(context, np.zeros(len(unlisted), dtype=np.int64),
                                                         np.asarray(unlisted))
        contributions = suggester.model.contributions(frame)
        direct = {position: (frame.iloc[row], contributions[row]) for row, position in enumerate(unlisted)}
    out = []
    for position in positions:
        index = listed.index_of(position)
        if index is not None:
            out.append(Scored(rank=listed.rank_of(position), values=ranked.features.iloc[index],
                              contributions=ranked.contributions[index], moved=tuple(ranked.moved_at(index))))
        else:
            values, contributions = direct[position]
            out.append(Scored(rank=None, values=values, contributions=contributions, moved=()))
    return out


def differences(suggester: Suggester, a: Scored, b: Scored, language: str) -> list[schemas.FeatureDifference]:
    """Per feature, A's contribution minus B's, largest first: they add up to A's score minus B's."""
    return sorted((schemas.FeatureDifference(
        feature=name, value_a=_finite(a.values[name]), value_b=_finite(b.values[name]),
        contribution_a=float(a.contributions[index]), contribution_b=float(b.contributions[index]),
        difference=float(a.contributions[index] - b.contributions[index]),
        sentence=_difference_sentence(name, a.values[name], b.values[name], language))
        for index, name in enumerate(suggester.model.feature_names)), key=lambda part: -abs(part.difference))


def _reason(parts: list[schemas.FeatureDifference], sign: int) -> str:
    """The sentence of the largest difference pointing ``sign``-wards (A minus B)."""
    return next((part for part in parts if part.difference * sign > 0), parts[0]).sentence


def item_score(item_id: str, title: str, item: Scored, language: str) -> schemas.ItemScore:
    return schemas.ItemScore(item_id=item_id, title=title, score=item.score, rank=item.rank, moved_by=list(item.moved),
                             moved_reason=moved_reason(item.moved, language))


def compare_order(a: Scored, b: Scored, parts: list[schemas.FeatureDifference], *, titles: tuple[str, str], k: int,
                  language: str) -> tuple[bool, str, str]:
    """Whether A stands above B in the list, what set that order, and the summary."""
    if a.rank is not None and b.rank is not None:
        a_above = a.rank < b.rank
    elif a.rank is not None or b.rank is not None:
        a_above = a.rank is not None
    else:
        a_above = a.score > b.score
    upper, lower = (a, b) if a_above else (b, a)
    if a.rank is None and b.rank is None:
        set_by, template = "score", "neither"
    elif upper.score >= lower.score - TIE:
        set_by, template = "score", "score"
    elif a.rank is not None and b.rank is not None:
        set_by, template = "guarantee", "guarantee"
    else:
        set_by, template = "list", "list"
    favour_upper = 1 if a_above else -1
    reason_sign = -favour_upper if set_by in ("guarantee", "list") else favour_upper  # what lifts the better score
    upper_title, lower_title = titles if a_above else titles[::-1]
    summary = _COMPARE[template][language].format(upper=upper_title, lower=lower_title, k=k,
                                                  reason=_reason(parts, reason_sign),
                                                  moved=moved_reason(upper.moved, language) or "")
    return a_above, set_by, summary


def why_not_summary(item: Scored, last: Scored, parts: list[schemas.FeatureDifference], *, titles: tuple[str, str],
                    k: int, dismissed: bool, in_list: bool, language: str) -> str:
    """Why the item is not among the ``k`` shown (``parts``: the item's contributions minus the last one's)."""
    names = {"item": titles[0], "last": titles[1], "k": k, "rank": item.rank}
    if dismissed:
        return _WHY_NOT["dismissed"][language].format(reason=_reason(parts, -1), **names)
    if in_list:
        return _WHY_NOT["listed"][language].format(**names)
    if item.rank is None:
        return _WHY_NOT["unranked"][language].format(reason=_reason(parts, -1), **names)
    if item.score > last.score + TIE:  # the guarantee moved the last one up past it
        return _WHY_NOT["guarantee"][language].format(reason=_reason(parts, 1), **names)
    return _WHY_NOT["ranked"][language].format(reason=_reason(parts, -1), **names)


class OrderQuestions:
    """The citizen's questions about the order of their list, ``/compare`` and ``/why-not`` (the service core's
    ``orders``): admitted, read and ranked through the core (:class:`serving.core.ServiceCore`)."""

    def __init__(self, core: ServiceCore) -> None:
        self.core = core

    def _positions(self, served: ServedKind, kind: str, item_ids: list[str]) -> list[int]:
        positions = positions_of(served.resources.catalogue, item_ids)
        for item, position in zip(item_ids, positions, strict=True):
            if position < 0:
                raise RequestError(HTTPStatus.NOT_FOUND, ERR_UNKNOWN_ITEM.format(item=item, kind=kind))
        return [int(position) for position in positions]

    @staticmethod
    def _title(served: ServedKind, position: int, language: str) -> str:
        return str(served.resources.catalogue.titles.iloc[position][f"title_{language}"])

    def compare(self, request: schemas.CompareRequest, *, authorization: str | None = None,
                request_id: str | None = None, audit: AuditEntry | None = None) -> schemas.CompareResponse:
        """Why A and B stand in the order the citizen sees (their list of ``k``): the score difference with its
        per-feature contributions, and where the fairness guarantee set the order, that it did."""
        core = self.core
        audit = audit or in_process("compare", request_id)
        served = core.admitted(request, authorization=authorization, audit=audit)
        if core.opted_out(request.citizen_id):
            raise RequestError(HTTPStatus.CONFLICT, ERR_OPTED_OUT_COMPARE)
        positions = self._positions(served, request.kind, [request.item_a, request.item_b])
        context, _ = core.query_context(request)
        listed = core.citizen_list(served, context, citizen_id=request.citizen_id, k=request.k)
        a, b = scored(served.suggester, context, listed, positions)
        parts = differences(served.suggester, a, b, request.language)
        titles = (self._title(served, positions[0], request.language), self._title(served, positions[1],
                                                                                    request.language))
        a_above, set_by, summary = compare_order(a, b, parts, titles=titles, k=request.k, language=request.language)
        audit.items, audit.personalised = 2, request.citizen_id is not None
        return schemas.CompareResponse(
            request_id=audit.request_id, kind=request.kind, model=served.info, k=request.k,
            item_a=item_score(request.item_a, titles[0], a, request.language),
            item_b=item_score(request.item_b, titles[1], b, request.language),
            a_above_b=a_above, order_set_by=set_by, score_difference=a.score - b.score, differences=parts,
            summary=summary)

    def why_not(self, request: schemas.WhyNotRequest, *, authorization: str | None = None,
                audit: AuditEntry | None = None) -> schemas.WhyNotResponse:
        """"Waarom niet deze vacature?": the item's place in the citizen's ranking and the contributions that
        separate it from the last suggestion shown."""
        core = self.core
        audit = audit or in_process("why_not")
        served = core.admitted(request, authorization=authorization, audit=audit)
        if core.opted_out(request.citizen_id):
            raise RequestError(HTTPStatus.CONFLICT, ERR_OPTED_OUT_COMPARE)
        [position] = self._positions(served, request.kind, [request.item_id])
        context, _ = core.query_context(request)
        dismissed = core.dismissed(request.citizen_id, served)
        deep = rank_list(served.suggester, context, k=max(WHY_NOT_DEPTH, request.k), dismissed=dismissed)
        shown = deep if served.suggester.reranker is None else rank_list(served.suggester, context, k=request.k,
                                                                         dismissed=dismissed)
        listed = shown.positions[:request.k]
        if not len(listed):
            raise RequestError(HTTPStatus.NOT_FOUND, ERR_EMPTY_LIST.format(kind=request.kind))
        last_position = int(listed[-1])
        [item] = scored(served.suggester, context, deep, [position])
        [last] = scored(served.suggester, context, shown, [last_position])
        in_list = shown.rank_of(position) is not None and shown.rank_of(position) <= request.k
        if in_list:
            item = replace(item, rank=shown.rank_of(position))
        parts = differences(served.suggester, item, last, request.language)
        titles = (self._title(served, position, request.language), self._title(served, last_position,
                                                                                request.language))
        summary = why_not_summary(item, last, parts, titles=titles, k=request.k, dismissed=position in dismissed,
                                  in_list=in_list, language=request.language)
        audit.items, audit.personalised = 2, request.citizen_id is not None
        return schemas.WhyNotResponse(
            request_id=audit.request_id, kind=request.kind, model=served.info, k=request.k,
            item=item_score(request.item_id, titles[0], item, request.language),
            last_shown=item_score(str(served.resources.catalogue.ids[last_position]), titles[1], last,
                                  request.language),
            in_list=in_list, dismissed=position in dismissed, score_difference=item.score - last.score,
            differences=parts, summary=summary)


def _finite(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _difference_sentence(name: str, value_a: float, value_b: float, language: str) -> str:
    return f"A: {sentence(name, value_a, language)} B: {sentence(name, value_b, language)}"
