"""Training a ranker on a Dask cluster (``lightgbm.dask.DaskLGBMRanker``), and the cluster connection itself.

The training set is cut at query-group boundaries into one partition per worker and placed on the workers;
LightGBM trains data-parallel across them with the parameters and monotone constraints of the local
:class:`models.ranker.SuggestionRanker`. The result is converted to a local booster, so MLflow logging, the
evaluation and SHAP run exactly as for a local model.

Early stopping: distributed LightGBM cannot stop early (every worker would judge its own share of the
validation set, and they must stop together), so the cluster trains all ``n_estimators`` trees; the client then
replays LightGBM's early-stopping rule on the whole validation set — NDCG@10 after every tree, stop when the
best has not improved for ``early_stopping_rounds`` — and keeps the trees up to the best iteration.

Monotone constraints: LightGBM's parallel learners support only its 'basic' method (the local ranker uses
'advanced'), so on several partitions the constraints still hold but are enforced more coarsely, and the model
is a different (equally valid) one; on one partition (``partitions=1``) the result is the local model, tree for
tree. How the quality compares is in docs/scaling.md.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, WorkerPlugin
from tqdm.auto import tqdm

from features.errors import LoopbaanError
from features.feature_definitions import features_for, monotone_constraints
from features.vocabulary import K
from models.ranker import DEFAULT_PARAMS

ERR_UNREACHABLE = ("the Dask scheduler at {address} is unreachable ({reason}); check the address "
                   "(tcp://host:8786) and that `dask scheduler` runs there, or drop --scheduler to use a local cluster")
ERR_NO_WORKERS = "the Dask scheduler at {address} has no workers; start some with `dask worker {address}`"
ERR_TRAINING = "LightGBM on Dask refused the training ({reason})"


@contextmanager
def dask_client(scheduler: str | None, *, workers: int = 2, threads_per_worker: int = 1,
                timeout_s: float = 10.0) -> Iterator[Client]:
    """A ``distributed.Client`` on the scheduler at ``scheduler``, or on a ``LocalCluster`` of ``workers``
    processes started here (and closed on exit). The same code then runs on a laptop and on a real cluster."""
    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{timeout_s}s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise LoopbaanError(ERR_UNREACHABLE.format(address=scheduler, reason=reason[:200])) from None
        try:
            if not client.scheduler_info()["workers"]:
                try:
                    client.wait_for_workers(1, timeout=timeout_s)
                except TimeoutError:
                    raise LoopbaanError(ERR_NO_WORKERS.format(address=scheduler)) from None
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                           dashboard_address=":0")
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


class PayloadPlugin(WorkerPlugin):
    """Holds one object on every worker — also on a worker that joins or restarts later — so that tasks use it
    without it travelling with each task: the scheduler sends it once per worker. A task reads it with
    ``distributed.get_worker().plugins[name].payload``."""

    def __init__(self, *, name: str, payload: Any, on_teardown: Callable[[Any], None] | None = None) -> None:
        self.name = name
        self.payload = payload
        self.on_teardown = on_teardown

    def teardown(self, worker) -> None:
        if self.on_teardown is not None:
            self.on_teardown(self.payload)


def _group_cuts(group_sizes: np.ndarray, parts: int) -> np.ndarray:
    """Row bounds cutting the groups into ``parts`` runs of about equal rows (never splitting a group)."""
    ends = np.cumsum(group_sizes)
    targets = ends[-1] * np.arange(1, parts) / parts
    cuts = ends[np.minimum(np.searchsorted(ends, targets), len(ends) - 1)]
    return np.unique(np.r_[0, cuts, ends[-1]]).astype(np.int64)


def ndcg_curve(scores_by_iteration: Callable[[], Iterator[np.ndarray]], *, labels: np.ndarray,
               group_sizes: np.ndarray, k: int = K) -> np.ndarray:
    """Mean NDCG@k (gain 2^label - 1) over the groups with a relevant item, for each score vector yielded."""
    labels = np.asarray(labels, dtype=np.float64)
    group = np.repeat(np.arange(len(group_sizes)), group_sizes)
    starts = np.r_[0, np.cumsum(group_sizes)[:-1]]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal_order = np.lexsort((-labels, group))
    position = np.arange(len(labels)) - starts[group[ideal_order]]
    top = position < k
    gains = 2.0 ** labels - 1.0
    ideal = np.bincount(group[ideal_order][top], weights=gains[ideal_order][top] * discounts[position[top]],
                        minlength=len(group_sizes))
    relevant = ideal > 0
    curve = []
    for scores in scores_by_iteration():
        order = np.lexsort((-scores, group))
        position = np.arange(len(labels)) - starts[group[order]]
        top = position < k
        dcg = np.bincount(group[order][top], weights=gains[order][top] * discounts[position[top]],
                          minlength=len(group_sizes))
        curve.append(float(np.mean(dcg[relevant] / ideal[relevant])) if relevant.any() else float("nan"))
    return np.asarray(curve)


def early_stopping_iteration(curve: np.ndarray, rounds: int) -> int:
    """LightGBM's rule replayed on a validation curve: the best iteration (1-based) when training would stop."""
    best, best_score = 0, -np.inf
    for iteration, score in enumerate(curve):
        if score > best_score:
            best, best_score = iteration, score
        elif iteration - best >= rounds:
            break
    return best + 1


class DistributedSuggestionRanker:
    """LambdaRank for one kind trained with ``lightgbm.dask.DaskLGBMRanker``; scikit-learn contract like
    :class:`models.ranker.SuggestionRanker` (``fit`` returns self; ``booster_``, ``best_iteration_``,
    ``feature_names_``, ``evals_result_`` and ``params``), so the training pipeline treats both alike."""

    def __init__(self, *, kind: str, client: Client, params: dict | None = None, seed: int = 42,
                 partitions: int | None = None) -> None:
        self.kind = kind
        self.client = client
        self.params = {**DEFAULT_PARAMS, **(params or {})}
        self.seed = seed
        self.partitions = partitions  # data partitions, one per worker used (default: every worker)

    def fit(self, X: pd.DataFrame, y: np.ndarray, *, group: np.ndarray, eval_X: pd.DataFrame, eval_y: np.ndarray,
            eval_group: np.ndarray, progress: bool = False) -> DistributedSuggestionRanker:
        import dask.array as da
        from lightgbm.dask import DaskLGBMRanker

        columns = list(features_for(self.kind))
        params = dict(self.params)
        stopping = int(params.pop("early_stopping_rounds"))
        workers = sorted(self.client.scheduler_info()["workers"])[:self.partitions]
        bounds = _group_cuts(np.asarray(group), len(workers))
        group_ends = np.cumsum(group)
        matrix = X[columns].to_numpy(dtype=np.float64)
        labels = np.asarray(y)
        pieces_X, pieces_y, pieces_g = [], [], []
        for index, (start, stop) in enumerate(pairwise(bounds)):
            first, last = np.searchsorted(group_ends, [start, stop], side="right")
            sizes = np.asarray(group)[first:last]
            worker = workers[index % len(workers)]
            x_part, y_part, g_part = self.client.scatter([matrix[start:stop], labels[start:stop], sizes],
                                                         workers=[worker])
            pieces_X.append(da.from_delayed(x_part, shape=(stop - start, len(columns)), dtype=np.float64))
            pieces_y.append(da.from_delayed(y_part, shape=(stop - start,), dtype=labels.dtype))
            pieces_g.append(da.from_delayed(g_part, shape=(len(sizes),), dtype=np.asarray(group).dtype))
        model = DaskLGBMRanker(client=self.client, random_state=self.seed, verbose=-1,
                               monotone_constraints=monotone_constraints(self.kind),
                               monotone_constraints_method="advanced", **params)
        try:
            with self.client.as_current(), warnings.catch_warnings():  # lightgbm.dask uses the current client
                # lightgbm.dask drops the thread count (each worker uses its own) and says so for the default too
                warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored", category=UserWarning,
                                        module="lightgbm")
                model.fit(da.concatenate(pieces_X), da.concatenate(pieces_y), group=da.concatenate(pieces_g),
                          feature_name=columns)
        except lgb.basic.LightGBMError as error:
            raise LoopbaanError(ERR_TRAINING.format(reason=error)) from None
        booster = model.to_local().booster_
        valid = eval_X[columns].to_numpy(dtype=np.float64)
        trees = booster.current_iteration()

        def scores():
            total = np.zeros(len(valid))
            for iteration in tqdm(range(trees), desc=f"{self.kind} validation curve", unit="tree",
                                  disable=not progress, leave=False):
                total = total + booster.predict(valid, start_iteration=iteration, num_iteration=1)
                yield total

        curve = ndcg_curve(scores, labels=eval_y, group_sizes=np.asarray(eval_group))
        best = early_stopping_iteration(curve, stopping)
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        self.best_iteration_ = best
        self.feature_names_ = columns
        self.evals_result_ = {"valid_0": {f"ndcg@{K}": curve.tolist()}}
        self.workers_ = len(workers)
        return self
