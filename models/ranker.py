"""The learned ranker per kind: LightGBM LambdaRank on the defined pair features, with early stopping.

Monotone constraints come from the feature definitions, so that, e.g., holding more of the essential
competencies can never lower a score; that keeps every explanation readable as "more X helps".
Exact per-feature contributions come from LightGBM's ``pred_contrib`` (identical to SHAP's TreeExplainer).
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from features.errors import LoopbaanError
from features.feature_definitions import features_for, monotone_constraints

DEFAULT_PARAMS: dict[str, float | int | str] = {
    "objective": "lambdarank",
    "n_estimators": 400,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 40,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.9,
    "reg_lambda": 1.0,
    "early_stopping_rounds": 50,
}
OBJECTIVES = ("lambdarank", "rank_xendcg")
SMALL_BATCH_ROWS = 5_000
_INT_PARAMS = {"n_estimators", "num_leaves", "min_child_samples", "subsample_freq", "early_stopping_rounds",
               "max_depth", "max_bin", "lambdarank_truncation_level"}
_FLOAT_PARAMS = {"learning_rate", "subsample", "colsample_bytree", "reg_lambda", "reg_alpha", "min_split_gain",
                 "min_child_weight"}
_BOOL_PARAMS = {"lambdarank_norm"}
TUNABLE_PARAMS = frozenset({"objective", *_INT_PARAMS, *_FLOAT_PARAMS, *_BOOL_PARAMS})
_AT_LEAST_ONE = {"n_estimators", "early_stopping_rounds", "subsample_freq", "lambdarank_truncation_level"}
_POSITIVE = {"learning_rate", "subsample", "colsample_bytree"}


def _parse_value(key: str, raw: str) -> float | int | str | bool:
    if key == "objective":
        if raw not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {raw!r}")
        return raw
    if key in _BOOL_PARAMS:
        if raw.lower() not in ("true", "false"):
            raise ValueError(f"parameter {key} needs true or false, not {raw!r}")
        return raw.lower() == "true"
    try:
        value: float | int = int(raw) if key in _INT_PARAMS else float(raw)
    except ValueError:
        kind = "a whole number" if key in _INT_PARAMS else "a number"
        raise ValueError(f"parameter {key} needs {kind}, not {raw!r}") from None
    if key in _AT_LEAST_ONE and value < 1:
        raise ValueError(f"parameter {key} must be at least 1, not {raw}")
    if (key in _POSITIVE and value <= 0) or value < 0:
        raise ValueError(f"parameter {key} must be positive, not {raw}")
    if key in ("num_leaves",) and value < 2:
        raise ValueError(f"parameter {key} must be at least 2, not {raw}")
    if key in ("subsample", "colsample_bytree") and value > 1:
        raise ValueError(f"parameter {key} is a share and must be at most 1, not {raw}")
    return value


def parse_params(pairs: list[str]) -> dict[str, float | int | str | bool]:
    """``["learning_rate=0.1", "num_leaves=63"]`` → typed, range-checked values; ValueError names the bad pair."""
    parsed: dict[str, float | int | str | bool] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            raise ValueError(f"parameter {pair!r} is not key=value (e.g. learning_rate=0.1)")
        if key not in TUNABLE_PARAMS:
            raise ValueError(f"unknown parameter {key!r}; tunable: {', '.join(sorted(TUNABLE_PARAMS))}")
        parsed[key] = _parse_value(key, raw)
    return parsed


class SuggestionRanker:
    """LambdaRank for one kind; ``fit`` follows the scikit-learn contract (returns self, sets ``booster_``)."""

    def __init__(self, *, kind: str, params: dict | None = None, seed: int = 42, n_jobs: int = -1) -> None:
        self.kind = kind
        self.params = {**DEFAULT_PARAMS, **(params or {})}
        self.seed = seed
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y: np.ndarray, *, group: np.ndarray, eval_X: pd.DataFrame, eval_y: np.ndarray,
            eval_group: np.ndarray, progress: bool = False) -> SuggestionRanker:
        columns = list(features_for(self.kind))
        params = dict(self.params)
        stopping = int(params.pop("early_stopping_rounds"))
        callbacks = [lgb.early_stopping(stopping, verbose=False)]
        bar = tqdm(total=int(params["n_estimators"]), desc=f"{self.kind} boosting", unit="tree", disable=not progress,
                   leave=False)
        callbacks.append(lambda env: bar.update(1))
        model = lgb.LGBMRanker(random_state=self.seed, n_jobs=self.n_jobs, verbose=-1,
                               monotone_constraints=monotone_constraints(self.kind),
                               monotone_constraints_method="advanced", **params)
        try:
            model.fit(X[columns], y, group=group, eval_X=(eval_X[columns],), eval_y=(eval_y,), eval_group=[eval_group],
                      eval_at=[10], callbacks=callbacks)
        except lgb.basic.LightGBMError as error:
            raise LoopbaanError(f"LightGBM refused the training parameters: {error}") from None
        finally:
            bar.close()
        self.booster_ = model.booster_
        self.best_iteration_ = int(model.best_iteration_ or model.booster_.current_iteration())
        self.feature_names_ = columns
        self.evals_result_ = model.evals_result_
        return self


@dataclass(frozen=True)
class ScoringModel:
    """A trained booster with its kind: scores and exact contributions in the feature definitions' column order."""

    kind: str
    booster: lgb.Booster

    @property
    def feature_names(self) -> list[str]:
        return list(self.booster.feature_name())

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        return X[self.feature_names].to_numpy(dtype=np.float64)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(self._matrix(X), num_threads=_threads(len(X)))

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """(n, features + 1): per-feature contributions, last column the base value; rows sum to the score."""
        return self.booster.predict(self._matrix(X), pred_contrib=True, num_threads=_threads(len(X)))


def _threads(rows: int) -> int:
    """One thread for a request-sized batch (starting OpenMP threads costs more than it saves), else all."""
    return 1 if rows < SMALL_BATCH_ROWS else 0
