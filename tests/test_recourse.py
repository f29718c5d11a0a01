"""Recourse is exact: the proposed set makes an item ready and no smaller one does; the unlocking competencies are
counted exactly over the whole catalogue; "what if I learn X" adds X."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from features._sparse import binary_csr


@pytest.fixture(scope="module")
def world(small_population_dir: Path):
    from features.citizens import contexts_from_store
    from features.esco import load_esco
    from features.items import training_catalogue, vacancy_catalogue
    from features.population import PopulationStore
    from models.gap import GapAnalyzer

    store = PopulationStore(small_population_dir)
    taxonomy = load_esco()
    vacancies, trainings = vacancy_catalogue(store, taxonomy), training_catalogue(store, taxonomy)
    ids = store.table("citizens")["citizen_id"].to_numpy()
    context = contexts_from_store(store=store, taxonomy=taxonomy, citizen_ids=ids, as_of=np.datetime64("2026-06-30"))
    # ``ready`` is decided before any bridging training is chosen, so the readiness checks use an analyser that
    # chooses none (the same rule, without the cost of the bridging search)
    return {"taxonomy": taxonomy, "vacancies": vacancies, "gaps": GapAnalyzer(trainings=trainings),
            "readiness": GapAnalyzer(trainings=trainings, max_bridging=0), "context": context}


def _essential(catalogue, item: int) -> np.ndarray:
    return catalogue.essential.indices[catalogue.essential.indptr[item]:catalogue.essential.indptr[item + 1]]


def _with(held, columns) -> object:
    """The 1 × competencies row ``held`` with ``columns`` held too."""
    union = np.concatenate([held.indices, np.asarray(columns, dtype=np.int64)])
    return binary_csr(np.zeros(len(union), dtype=np.int64), union, held.shape)


def _pairs(world, readiness: str, count: int, seed: int = 0):
    """(query row, item) pairs of the given readiness by the gap analyser, sampled over citizens and vacancies
    (drawn among the pairs that can have it, so that few analyses are spent on others)."""
    from models.recourse import is_ready

    rng = np.random.default_rng(seed)
    context, vacancies, gaps = world["context"], world["vacancies"], world["gaps"]
    essential = vacancies.essential.astype(np.float64)
    held = context.profile.T.tocsc().astype(np.float64)
    matched = np.asarray((essential @ held).todense())  # vacancies × queries
    total = np.diff(vacancies.essential.indptr)
    ready = is_ready(held=matched.ravel(), essential=np.repeat(total, matched.shape[1])).reshape(matched.shape)
    untaught = np.flatnonzero(np.diff(gaps.trainings.essential.tocsc().indptr) == 0)
    missing_untaught = (np.asarray(essential[:, untaught].sum(axis=1))
                        - np.asarray((essential[:, untaught] @ held[untaught]).todense()))
    possible = {"ready": ready, "bridgeable": ~ready & (missing_untaught == 0), "stretch": ~ready}[readiness]
    found = []
    for row in rng.permutation(len(context)):
        for item in rng.permutation(np.flatnonzero(possible[:, row]))[:10]:
            gap = gaps.analyse(held=context.profile[row], essential=_essential(vacancies, item), kind="jobs")
            if gap.readiness == readiness:
                found.append((int(row), int(item)))
                break
        if len(found) == count:
            return found
    pytest.fail(f"only {len(found)} {readiness} pairs in the small population")


def _exact(world, row: int, item: int, learn: np.ndarray) -> bool:
    """The check: ``learn`` makes the item ready and no smaller subset of it does (readiness grows with what is held,
    so leaving out any one competency must leave it short)."""
    gaps, held, essential = world["readiness"], world["context"].profile[row], _essential(world["vacancies"], item)
    if gaps.analyse(held=_with(held, learn), essential=essential, kind="jobs").readiness != "ready":
        return False
    return all(gaps.analyse(held=_with(held, np.delete(learn, index)), essential=essential,
                            kind="jobs").readiness != "ready" for index in range(len(learn)))


def test_for_200_bridgeable_suggestions_the_proposed_set_is_the_smallest_that_makes_each_ready(world):
    from models.recourse import recourse

    gaps, vacancies, context = world["gaps"], world["vacancies"], world["context"]
    checked_exhaustively = 0
    for row, item in _pairs(world, "bridgeable", 200):
        essential = _essential(vacancies, item)
        found = recourse(held=context.profile[row], essential=essential, item=item, gaps=gaps)
        gap = gaps.analyse(held=context.profile[row], essential=essential, kind="jobs")
        assert found.readiness == "bridgeable" and set(found.learn) <= set(gap.missing.tolist())
        assert len(set(found.learn.tolist())) == len(found.learn)
        assert _exact(world, row, item, found.learn)
        if len(gap.missing) <= 8:  # and exhaustively: no subset of the missing ones of a smaller size makes it ready
            held = context.profile[row]
            for size in range(len(found.learn)):
                assert not any(world["readiness"].analyse(held=_with(held, list(subset)), essential=essential,
                                            kind="jobs").readiness == "ready"
                               for subset in combinations(gap.missing.tolist(), size))
            checked_exhaustively += 1
        assert found.untaught.size == 0  # bridgeable: every missing competency is taught somewhere
        taught = np.concatenate([lesson.teaches for lesson in found.lessons])
        assert sorted(taught.tolist()) == sorted(found.learn.tolist())
        for lesson in found.lessons:
            assert set(lesson.teaches.tolist()) <= set(_essential(gaps.trainings, lesson.training).tolist())
        assert found.hours == pytest.approx(sum(lesson.hours for lesson in found.lessons)) and found.hours > 0
    assert checked_exhaustively >= 20


def test_the_exactness_check_fails_a_set_one_short_and_a_set_one_too_large(world):
    from models.recourse import recourse

    failed_short = failed_large = 0
    for row, item in _pairs(world, "bridgeable", 20, seed=1):
        found = recourse(held=world["context"].profile[row], essential=_essential(world["vacancies"], item), item=item,
                         gaps=world["gaps"])
        failed_short += not _exact(world, row, item, found.learn[:-1])
        extra = np.setdiff1d(_essential(world["vacancies"], item), np.r_[found.learn, world["context"].profile[row]
                                                                          .indices])
        if len(extra):
            failed_large += not _exact(world, row, item, np.r_[found.learn, extra[:1]])
    assert failed_short == 20 and failed_large > 0


def test_a_stretch_names_what_no_training_teaches(world):
    from models.recourse import recourse

    gaps = world["gaps"]
    for row, item in _pairs(world, "stretch", 30, seed=2):
        found = recourse(held=world["context"].profile[row], essential=_essential(world["vacancies"], item),
                         item=item, gaps=gaps)
        assert _exact(world, row, item, found.learn)
        assert not any(gaps._teachable[column] for column in found.untaught)


def test_a_ready_item_needs_nothing_and_trainings_have_no_recourse(world):
    from features.errors import LoopbaanError
    from models.recourse import recourse, unlocking_competencies

    row, item = _pairs(world, "ready", 1)[0]
    assert recourse(held=world["context"].profile[row], essential=_essential(world["vacancies"], item), item=item,
                    gaps=world["gaps"]) is None
    with pytest.raises(LoopbaanError, match="Dutch entry level"):
        unlocking_competencies(context=world["context"], row=0, catalogue=world["gaps"].trainings, gaps=world["gaps"])


def test_the_unlocking_competencies_are_counted_exactly_over_the_catalogue(world):
    from models.recourse import is_ready, unlocking_competencies, within_commute

    context, vacancies, gaps = world["context"], world["vacancies"], world["gaps"]
    total = np.diff(vacancies.essential.indptr)
    checked = commuting = 0
    for row in range(len(context)):
        for commute_only in (True, False):
            found = unlocking_competencies(context=context, row=row, catalogue=vacancies, gaps=gaps, limit=5,
                                           commute_only=commute_only)
            if not found or checked >= 12:
                continue
            near = within_commute(context=context, row=row, catalogue=vacancies)
            held = context.profile[row]
            matched = np.asarray(vacancies.essential @ held.T.toarray()).ravel()
            before = is_ready(held=matched, essential=total)
            # brute force: learn each competency of any not-ready vacancy in turn, and recount readiness everywhere
            universe = np.setdiff1d(vacancies.essential[np.flatnonzero(~before)].indices, held.indices)
            learnt = vacancies.essential[:, universe].toarray()  # vacancies × universe: 1 where learning it counts
            after = is_ready(held=(matched[:, None] + learnt).ravel(),
                             essential=np.repeat(total, len(universe))).reshape(learnt.shape)
            opened = after & ~before[:, None]
            if commute_only:
                opened &= near[:, None]
            counts = opened.sum(axis=0)
            assert [len(unlock.items) for unlock in found] == sorted(counts[counts > 0], reverse=True)[:5]
            for unlock in found:
                column = int(np.flatnonzero(universe == unlock.competency)[0])
                np.testing.assert_array_equal(unlock.items, np.flatnonzero(opened[:, column]))
                if unlock.lesson is not None:
                    assert unlock.competency in _essential(gaps.trainings, unlock.lesson.training)
                else:
                    assert not gaps._teachable[unlock.competency]
            checked += 1
            commuting += commute_only
        if checked >= 12:
            break
    assert checked >= 12 and commuting >= 3


def test_what_if_adds_the_competencies_and_the_recourse_then_makes_the_item_ready(world):
    from features.errors import LoopbaanError
    from models.recourse import recourse, what_if

    taxonomy, gaps, vacancies = world["taxonomy"], world["gaps"], world["vacancies"]
    row, item = _pairs(world, "bridgeable", 1, seed=3)[0]
    one = world["context"].take(np.array([row]))
    found = recourse(held=one.profile[0], essential=_essential(vacancies, item), item=item, gaps=gaps)
    uris = taxonomy.competencies["uri"].to_numpy()[found.learn].tolist()
    changed = what_if(one, taxonomy=taxonomy, learn=uris)
    assert set(changed.profile[0].indices) == set(one.profile[0].indices) | set(found.learn.tolist())
    after = gaps.analyse(held=changed.profile[0], essential=_essential(vacancies, item), kind="jobs")
    assert after.readiness == "ready"
    assert (one.profile != world["context"].take(np.array([row])).profile).nnz == 0  # the original is unchanged
    with pytest.raises(LoopbaanError, match="unknown competency ids: nope"):
        what_if(one, taxonomy=taxonomy, learn=["nope"])


def test_the_what_if_sentence_agrees_in_number_with_what_it_counts() -> None:
    from serving import changes

    before = {"jobs": np.array([False, False, True])}

    def sentence(after: list[bool], language: str) -> str:
        return changes.summarise(before=before, after={"jobs": np.array(after)}, about="'lassen'", language=language,
                                 mode=changes.WHAT_IF).summary

    assert sentence([True, False, True], "nl") == "Als je 'lassen' leert, wordt 1 vacature pasklaar"
    assert sentence([True, True, True], "nl") == "Als je 'lassen' leert, worden 2 vacatures pasklaar"
    assert sentence([True, False, True], "en") == "If you learn 'lassen', 1 vacancy becomes ready"
    assert sentence([True, True, True], "en") == "If you learn 'lassen', 2 vacancies become ready"
