"""Ranking data per kind from the synthetic outcomes, split by citizen (and by time for career steps).

- ``jobs``: each citizen's logged list of shown vacancies; label 2 hired, 1 applied, 0 otherwise;
- ``trainings``: each citizen's shown trainings; label 2 completed, 1 enrolled, 0 otherwise;
- ``careers``: each observed move to another occupation; the query is the citizen the day before the move
  (only evidence dated before it), the candidates are the retrieved occupations, label 1 for the one moved to.

Career steps also learn from cold-start queries, because citizens without career data must get
suggestions too: a profile holding a random 30-90% of one occupation's essential competencies, up to 30% of
its optional ones and up to five unrelated ones, labelled with that occupation. They are added to the
train and valid sets only; the test set holds real moves of held-out citizens.

Every split is by citizen and by time, so no citizen is in two splits and nothing is learnt from the future:
- jobs and trainings: citizens are ordered by the date of their first session (seeded order within a day)
  and cut 70/15/15 into train/valid/test, so no training session is later than a test session;
- careers: citizens are split 70/15/15 at random (seeded); train and valid use the moves before the time
  cutoff, test only the held-out citizens' moves on or after it.
Groups without any positive item are dropped (they carry no ranking signal and NDCG is undefined on them).

Feedback ("niet voor mij, omdat…", the snapshot's ``feedback`` table written by `loopbaan vault export`) makes a
dismissed job or training an explicit negative of that citizen's list: label 0 whatever was logged short of the
strongest outcome (a hire or a completed training stays 2), and a dismissed item that was not in the logged list
joins it with label 0, dated when it was dismissed. It follows the citizen into their split, like everything of
theirs. Career steps are observed moves, which a dismissal does not undo: their labels do not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from features.citizens import QueryContext, contexts_from_store, profile_contexts
from features.errors import LoopbaanError
from features.vault.snapshot import read_feedback
from models.resources import KindResources
from models.retrieval import iter_candidates

ROLES = ("train", "valid", "test")
SPLIT_SHARES = (0.70, 0.15, 0.15)
CAREER_TIME_QUANTILE = 0.7
CAREER_CANDIDATES = 100  # career steps: retrieved candidates per query, the same for training and test
MAX_GROUPS = {"train": 20_000, "valid": 4_000, "test": 4_000}
COLD_START_PER_OCCUPATION = {"train": 4, "valid": 1, "test": 0}

ERR_NO_OUTCOMES = ("the population in {folder} has no {what} with a positive outcome for the {role} split; "
                   "generate a larger population (`loopbaan data generate --citizens 5000` or more)")


@dataclass(frozen=True)
class RankingSet:
    """Rows grouped by query (contiguous); ``group`` is the query number within the set."""

    role: str
    features: pd.DataFrame
    labels: np.ndarray
    group: np.ndarray
    item_positions: np.ndarray
    citizen_ids: np.ndarray  # -1 for a cold-start query
    dates: np.ndarray  # the date each row's query is asked on (datetime64[D])
    queries: int  # queries asked, including those whose positive item was not among the candidates

    def group_sizes(self) -> np.ndarray:
        return np.diff(np.flatnonzero(np.r_[True, self.group[1:] != self.group[:-1], True]))

    @property
    def n_groups(self) -> int:
        return len(self.group_sizes())


@dataclass(frozen=True)
class RankingData:
    kind: str
    sets: dict[str, RankingSet]
    split: dict[str, np.ndarray]  # role → citizen ids
    time_cutoff: date | None
    feedback_labels: int = 0  # dismissals (snapshot feedback) of citizens with logged lists: explicit negatives


def split_citizens(citizen_ids: np.ndarray, *, seed: int) -> dict[str, np.ndarray]:
    """Disjoint train/valid/test citizen ids, 70/15/15, the same for every kind with the same seed."""
    ids = np.sort(np.asarray(citizen_ids))
    order = np.random.default_rng(seed).permutation(len(ids))
    bounds = np.cumsum([round(share * len(ids)) for share in SPLIT_SHARES[:-1]])
    parts = np.split(ids[order], bounds)
    return {role: np.sort(part) for role, part in zip(ROLES, parts, strict=True)}


def split_by_session_time(outcomes: pd.DataFrame, *, seed: int) -> tuple[dict[str, np.ndarray], date]:
    """Citizens with outcomes, cut 70/15/15 in the order of their first session; also the test split's first day."""
    first = outcomes.groupby("citizen_id")["shown_date"].min()
    days = first.to_numpy().astype("datetime64[D]").astype(np.int64)
    order = np.lexsort((np.random.default_rng(seed).random(len(first)), days))
    bounds = np.cumsum([round(share * len(first)) for share in SPLIT_SHARES[:-1]])
    parts = np.split(order, bounds)
    split = {role: np.sort(first.index.to_numpy()[part]) for role, part in zip(ROLES, parts, strict=True)}
    test_days = days[parts[2]]
    start = int(test_days.min()) if len(test_days) else int(days.max(initial=0))
    return split, date.fromordinal(date(1970, 1, 1).toordinal() + start)


def _limit_groups(frame: pd.DataFrame, key: str, limit: int, rng: np.random.Generator) -> pd.DataFrame:
    keys = frame[key].unique()
    if len(keys) <= limit:
        return frame
    chosen = rng.choice(keys, size=limit, replace=False)
    return frame[frame[key].isin(chosen)]


def dismissals(resources: KindResources) -> pd.DataFrame:
    """The snapshot's feedback on this kind's items: citizen_id, item (catalogue position), given_date."""
    feedback = read_feedback(resources.store.folder)
    feedback = feedback[feedback["kind"] == resources.kind]
    ids = pd.to_numeric(feedback["item_id"], errors="coerce")
    item = resources.catalogue.position_of(ids.fillna(-1).astype(np.int64).to_numpy())
    frame = pd.DataFrame({"citizen_id": feedback["citizen_id"].to_numpy(), "item": item,
                          "given_date": feedback["given_date"].to_numpy()})
    return frame[frame["item"] >= 0].drop_duplicates(["citizen_id", "item"]).reset_index(drop=True)


def with_dismissals(outcomes: pd.DataFrame, dismissed: pd.DataFrame, *, id_column: str,
                    catalogue_ids: np.ndarray) -> pd.DataFrame:
    """Logged outcomes (with ``label`` and ``item``) where the citizens' dismissed items are explicit negatives."""
    dismissed = dismissed[dismissed["citizen_id"].isin(outcomes["citizen_id"])]
    if dismissed.empty:
        return outcomes
    keys = pd.MultiIndex.from_frame(dismissed[["citizen_id", "item"]])
    shown = pd.MultiIndex.from_frame(outcomes[["citizen_id", "item"]])
    hit = shown.isin(keys)
    outcomes = outcomes.assign(label=np.where(hit & (outcomes["label"].to_numpy() < 2), 0, outcomes["label"]))
    unseen = dismissed[~keys.isin(shown)]
    last = outcomes.groupby("citizen_id")["position"].max()
    added = pd.DataFrame({"citizen_id": unseen["citizen_id"].to_numpy(),
                          id_column: catalogue_ids[unseen["item"].to_numpy()],
                          "position": (last.reindex(unseen["citizen_id"]).to_numpy()
                                       + 1 + unseen.groupby("citizen_id").cumcount().to_numpy()),
                          "shown_date": unseen["given_date"].to_numpy(), "label": 0,
                          "item": unseen["item"].to_numpy()})
    return pd.concat([outcomes, added], ignore_index=True)


def _logged_set(resources: KindResources, *, role: str, outcomes: pd.DataFrame, id_column: str,
                label: np.ndarray, as_of: date, rng: np.random.Generator,
                dismissed: pd.DataFrame | None = None) -> RankingSet:
    outcomes = outcomes.assign(label=label)
    if dismissed is not None and len(dismissed):
        outcomes = with_dismissals(outcomes.assign(item=resources.catalogue.position_of(outcomes[id_column])),
                                   dismissed, id_column=id_column, catalogue_ids=resources.catalogue.ids)
    outcomes = outcomes[outcomes["citizen_id"].isin(outcomes.loc[outcomes["label"] > 0, "citizen_id"])]
    outcomes = _limit_groups(outcomes, "citizen_id", MAX_GROUPS[role], rng)
    outcomes = outcomes.assign(item=resources.catalogue.position_of(outcomes[id_column]))
    outcomes = outcomes[outcomes["item"] >= 0].sort_values(["citizen_id", "position"], kind="stable")
    if outcomes.empty:
        what = "job outcomes" if resources.kind == "jobs" else "training outcomes"
        raise LoopbaanError(ERR_NO_OUTCOMES.format(folder=resources.store.folder, what=what, role=role))
    citizens = outcomes["citizen_id"].unique()
    context = contexts_from_store(store=resources.store, taxonomy=resources.taxonomy, citizen_ids=citizens,
                                  as_of=as_of)
    query_rows = pd.Index(citizens).get_indexer(outcomes["citizen_id"])
    features = resources.featurizer.transform(context, query_rows, outcomes["item"].to_numpy())
    return RankingSet(role=role, features=features, labels=outcomes["label"].to_numpy(dtype=np.int32),
                      group=query_rows, item_positions=outcomes["item"].to_numpy(),
                      citizen_ids=outcomes["citizen_id"].to_numpy(),
                      dates=outcomes["shown_date"].to_numpy().astype("datetime64[D]"), queries=len(citizens))


def _candidate_set(resources: KindResources, *, role: str, context: QueryContext, positive: np.ndarray,
                   citizen_ids: np.ndarray, progress: bool) -> RankingSet:
    """Retrieved candidates of every query, labelled 1 where the item is the query's positive."""
    parts = []
    blocks = iter_candidates(resources.space, context, top_n=CAREER_CANDIDATES)
    total = -(-len(context) // resources.space.block_size())
    for start, _, block, candidates in tqdm(blocks, total=total, desc=f"careers {role} features", unit="block",
                                            disable=not progress, leave=False):
        features = resources.featurizer.transform(context, candidates.query_rows, candidates.item_positions,
                                                  block=(start, block))
        parts.append((features, candidates))
    features = pd.concat([part[0] for part in parts], ignore_index=True)
    rows = np.concatenate([part[1].query_rows for part in parts])
    items = np.concatenate([part[1].item_positions for part in parts])
    labels = (items == positive[rows]).astype(np.int32)
    # Keep only the queries whose positive was retrieved: the others have nothing to rank.
    keep = np.isin(rows, rows[labels > 0])
    return RankingSet(role=role, features=features[keep].reset_index(drop=True), labels=labels[keep],
                      group=rows[keep], item_positions=items[keep], citizen_ids=citizen_ids[rows[keep]],
                      dates=context.queries["as_of"].to_numpy().astype("datetime64[D]")[rows[keep]],
                      queries=len(context))


def _career_set(resources: KindResources, *, role: str, moves: pd.DataFrame, rng: np.random.Generator,
                progress: bool) -> RankingSet:
    moves = moves.iloc[rng.permutation(len(moves))[:MAX_GROUPS[role]]].sort_values(["citizen_id", "day"])
    if moves.empty:
        raise LoopbaanError(ERR_NO_OUTCOMES.format(folder=resources.store.folder, what="career moves", role=role))
    context = contexts_from_store(store=resources.store, taxonomy=resources.taxonomy,
                                  citizen_ids=moves["citizen_id"].to_numpy(), as_of=moves["day"].to_numpy())
    return _candidate_set(resources, role=role, context=context, positive=moves["item"].to_numpy(),
                          citizen_ids=moves["citizen_id"].to_numpy(), progress=progress)


def _cold_start_set(resources: KindResources, *, role: str, rng: np.random.Generator, as_of: date,
                    progress: bool) -> RankingSet:
    catalogue = resources.catalogue
    positive = np.repeat(np.arange(len(catalogue)), COLD_START_PER_OCCUPATION[role])
    n_competencies = catalogue.essential.shape[1]
    held = []
    for item in positive:
        essential = catalogue.essential.indices[catalogue.essential.indptr[item]:catalogue.essential.indptr[item + 1]]
        optional = catalogue.optional.indices[catalogue.optional.indptr[item]:catalogue.optional.indptr[item + 1]]
        chosen = [rng.choice(essential, size=max(1, round(rng.uniform(0.3, 0.9) * len(essential))), replace=False),
                  rng.choice(optional, size=round(rng.uniform(0.0, 0.3) * len(optional)), replace=False),
                  rng.integers(0, n_competencies, int(rng.integers(0, 6)))]
        held.append(np.unique(np.concatenate(chosen)).astype(np.int64))
    context = profile_contexts(taxonomy=resources.taxonomy, held=held, target_occupation=catalogue.occupation[positive],
                               as_of=as_of)
    return _candidate_set(resources, role=role, context=context, positive=positive,
                          citizen_ids=np.full(len(positive), -1, dtype=np.int64), progress=progress)


def concat_sets(first: RankingSet, second: RankingSet) -> RankingSet:
    """Both sets' groups in one set (the second's groups numbered after the first's)."""
    offset = int(first.group.max()) + 1 if len(first.group) else 0
    return RankingSet(role=first.role, features=pd.concat([first.features, second.features], ignore_index=True),
                      labels=np.r_[first.labels, second.labels], group=np.r_[first.group, second.group + offset],
                      item_positions=np.r_[first.item_positions, second.item_positions],
                      citizen_ids=np.r_[first.citizen_ids, second.citizen_ids], dates=np.r_[first.dates, second.dates],
                      queries=first.queries + second.queries)


def career_moves(resources: KindResources) -> pd.DataFrame:
    """Moves to another occupation of the catalogue: citizen, day before the move, item position."""
    moves = resources.store.table("transitions")
    moves = moves[moves["from_occupation_uri"] != moves["to_occupation_uri"]]
    item = resources.catalogue.position_of(moves["to_occupation_uri"])
    day = moves["transition_date"].to_numpy().astype("datetime64[D]") - np.timedelta64(1, "D")
    frame = pd.DataFrame({"citizen_id": moves["citizen_id"].to_numpy(), "day": day, "item": item})
    return frame[frame["item"] >= 0].reset_index(drop=True)


def build_ranking_data(resources: KindResources, *, seed: int, progress: bool = False,
                       split: dict[str, np.ndarray] | None = None, time_cutoff: date | None = None) -> RankingData:
    """The three ranking sets of a kind. ``split`` (role → citizen ids) replaces the seeded split, e.g. the
    citizens a model version recorded as its training and validation data and everyone else as test;
    ``time_cutoff`` replaces the careers' time cutoff (the one that version was trained with)."""
    store = resources.store
    citizens = store.table("citizens")["citizen_id"].to_numpy()
    if len(citizens) == 0:
        raise LoopbaanError(f"the population in {store.folder} has no citizens: generate one with "
                            "`loopbaan data generate`")
    as_of = date.fromisoformat(store.manifest["config"]["as_of"])
    rng = np.random.default_rng(seed)
    sets: dict[str, RankingSet] = {}
    cutoff = None
    feedback_labels = 0
    if resources.kind == "careers":
        split = split or split_citizens(citizens, seed=seed)
        moves = career_moves(resources)
        if moves.empty:
            raise LoopbaanError(ERR_NO_OUTCOMES.format(folder=store.folder, what="career moves", role="any"))
        days = moves["day"].to_numpy().astype("datetime64[D]").astype(np.int64)
        if time_cutoff is None:
            cutoff_day = int(np.quantile(days, CAREER_TIME_QUANTILE))
            cutoff = date.fromordinal(date(1970, 1, 1).toordinal() + cutoff_day)
        else:
            cutoff, cutoff_day = time_cutoff, time_cutoff.toordinal() - date(1970, 1, 1).toordinal()
        before = days < cutoff_day
        for role in ROLES:
            mine = moves["citizen_id"].isin(split[role]).to_numpy() & (before if role != "test" else ~before)
            sets[role] = _career_set(resources, role=role, moves=moves[mine], rng=rng, progress=progress)
            if COLD_START_PER_OCCUPATION[role]:
                sets[role] = concat_sets(sets[role], _cold_start_set(resources, role=role, rng=rng, as_of=as_of,
                                                                     progress=progress))
    else:
        table, id_column, positive, strong = (
            ("job_outcomes", "vacancy_id", "applied", "hired") if resources.kind == "jobs"
            else ("training_outcomes", "training_id", "enrolled", "completed"))
        outcomes = store.table(table)
        if outcomes.empty:
            raise LoopbaanError(ERR_NO_OUTCOMES.format(folder=store.folder, what=table.replace("_", " "), role="any"))
        if split is None:
            split, cutoff = split_by_session_time(outcomes, seed=seed)
        else:
            cutoff = time_cutoff
        dismissed = dismissals(resources)
        for role in ROLES:
            mine = outcomes[outcomes["citizen_id"].isin(split[role])]
            label = mine[positive].to_numpy(dtype=np.int32) + mine[strong].to_numpy(dtype=np.int32)
            sets[role] = _logged_set(resources, role=role, outcomes=mine, id_column=id_column, label=label,
                                     as_of=as_of, rng=rng, dismissed=dismissed)
        feedback_labels = int(dismissed["citizen_id"].isin(outcomes["citizen_id"]).sum())
    return RankingData(kind=resources.kind, sets=sets, split=split, time_cutoff=cutoff,
                       feedback_labels=feedback_labels)
