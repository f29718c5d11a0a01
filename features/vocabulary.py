"""The project's shared words, defined once: the ranker kinds, readiness, barriers, languages, re-ranking guarantees,
the reasons a citizen gives for "not for me", metric keys.

Every package imports them from here (the bottom layer); the API's literals are these.
"""

from __future__ import annotations

from typing import Literal, get_args

Kind = Literal["jobs", "trainings", "careers"]
KINDS: tuple[Kind, ...] = get_args(Kind)
# The kinds whose items are occupations (a vacancy's, a career step's): they have essential competencies, so
# learning one can make an item ready (recourse).
OccupationKind = Literal["jobs", "careers"]
OCCUPATION_KINDS: tuple[OccupationKind, ...] = get_args(OccupationKind)
# What the free-text search finds: taxonomy concepts, not ranker kinds.
SearchKind = Literal["occupations", "competencies"]
SEARCH_KINDS: tuple[SearchKind, ...] = get_args(SearchKind)

Readiness = Literal["ready", "bridgeable", "stretch"]
READINESS: tuple[Readiness, ...] = get_args(Readiness)
BarrierName = Literal["commute", "licence", "language", "hours", "education"]
BARRIERS: tuple[BarrierName, ...] = get_args(BarrierName)
Language = Literal["nl", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
# What a fairness re-ranker holds a minimum share of in every prefix of a list: good opportunities, items the
# citizen is ready for now.
Guarantee = Literal["good", "ready"]
GUARANTEES: tuple[Guarantee, ...] = get_args(Guarantee)
# Why a citizen says an item is not for them ("niet voor mij, omdat…"): the vault stores one, the API takes one.
FeedbackReason = Literal["too_far", "not_interested", "tried_before", "cannot_meet_requirement", "other"]
FEEDBACK_REASONS: tuple[FeedbackReason, ...] = get_args(FeedbackReason)

# The answer to a kind or a language that is none of these (each caller raises its own error type with it).
ERR_UNKNOWN_KIND = "unknown kind {kind!r}: choose one of " + ", ".join(KINDS)
ERR_UNKNOWN_LANGUAGE = "unknown language {language!r}: choose one of " + ", ".join(LANGUAGES)

K = 10  # the cut-off of the ranking metrics


def ndcg_at(k: int) -> str:
    """The metric key of NDCG@k."""
    return f"ndcg_at_{k}"


def recall_at(k: int) -> str:
    """The metric key of recall@k."""
    return f"recall_at_{k}"


NDCG_AT_K = ndcg_at(K)
RECALL_AT_K = recall_at(K)
