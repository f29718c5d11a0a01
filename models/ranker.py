"""The learned ranker per kind: LightGBM LambdaRank on the registry's features, with early stopping.

Monotone constraints come from the feature registry, so that, e.g., holding more of the essential
competencies can never lower a score; that keeps every explanation readable as "more X helps".
Exact per-feature contributions come from LightGBM's ``pred_contrib`` (identical to SHAP's TreeExplainer).
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from features.feature_registry import features_for, monotone_constraints

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
TUNABLE_PARAMS = frozenset({*DEFAULT_PARAMS, "max_depth", "min_split_gain", "reg_alpha", "max_bin", "min_child_weight",
                            "lambdarank_truncation_level", "lambdarank_norm", "n_jobs"})
_INT_PARAMS = {"n_estimators", "num_leaves", "min_child_samples", "subsample_freq", "early_stopping_rounds",
               "max_depth", "n_jobs", "max_bin"}


def parse_params(pairs: list[str]) -> dict[str, float | int | str]:
    """``["learning_rate=0.1", "num_leaves=63"]`` → typed values; raises ValueError with the bad pair."""
    parsed: dict[str, float | int | str] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise ValueError(f"parameter {pair!r} is not key=value (e.g. learning_rate=0.1)")
        raw = raw.strip()
        if key not in TUNABLE_PARAMS:
            raise ValueError(f"unknown parameter {key!r}; tunable: {', '.join(sorted(TUNABLE_PARAMS))}")
        try:
            parsed[key] = int(raw) if key in _INT_PARAMS else float(raw)
        except ValueError:
            if key in _INT_PARAMS:
                raise ValueError(f"parameter {key} needs a whole number, not {raw!r}") from None
            parsed[key] = {"true": True, "false": False}.get(raw.lower(), raw)
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
        model.fit(X[columns], y, group=group, eval_X=(eval_X[columns],), eval_y=(eval_y,), eval_group=[eval_group],
                  eval_at=[10], callbacks=callbacks)
        bar.close()
        self.booster_ = model.booster_
        self.best_iteration_ = int(model.best_iteration_ or model.booster_.current_iteration())
        self.feature_names_ = columns
        self.evals_result_ = model.evals_result_
        return self


@dataclass(frozen=True)
class ScoringModel:
    """A trained booster with its kind: scores and exact contributions in the registry's column order."""

    kind: str
    booster: lgb.Booster

    @property
    def feature_names(self) -> list[str]:
        return list(self.booster.feature_name())

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        return X[self.feature_names].to_numpy(dtype=np.float64)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(self._matrix(X))

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """(n, features + 1): per-feature contributions, last column the base value; rows sum to the score."""
        return self.booster.predict(self._matrix(X), pred_contrib=True)
