"""Outcome models: the estimated chance that acting on a suggestion succeeds, fitted on historical records.

Jobs: hired after applying; trainings: completed after enrolling (career steps have no such outcome).
Both are logistic regressions on the ranker's own pair features, fitted on the training and validation
splits' records of citizens who acted:

- the **blind** model sees the pair features only (qualifications, distance, language, hours...). It defines
  a "good opportunity" (a chance in the policy's top share) and it is what the re-ranker may use in the
  service, which never sees sensitive attributes;
- the **aware** model adds the citizen's sensitive attributes (age band, origin, disability, gender, and
  whether the occupation is gender-atypical for them). Comparing its estimate with the estimate for an
  equally qualified citizen without those traits shows how much the historical outcomes penalise a group:
  ``outcome_chance_adjusted``. It is a measuring instrument of the assessment only, never a model input.

Each model is a plain linear form (weights on standardised columns, with missing-value indicators and, for
every non-binary column that is often zero, a "more than zero" indicator, so that thresholds such as "any
Dutch gap at all" are not forced onto a straight line), so it can be stored as JSON next to a model version
and re-applied anywhere with numpy alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from features.population.behaviour import STEREOTYPE_SHARE
from models.chance import LinearChance, sigmoid
from models.datasets import RankingData

REFERENCE = {"age_band": "35-44", "origin": "belgian", "gender": "man"}
AGE_TERMS = ("18-24", "25-34", "45-54", "55-64")
ORIGIN_TERMS = ("eu", "non_eu")
SENSITIVE_TERMS = (*(f"age_{band}" for band in AGE_TERMS), *(f"origin_{origin}" for origin in ORIGIN_TERMS),
                   "disability", "woman", "gender_atypical")
OUTCOME = {"jobs": "hired after applying", "trainings": "completed after enrolling"}
MIN_RECORDS = 50
REGULARISATION = 1.0
RESAMPLES = 40  # citizen-cluster bootstrap refits of the aware model, carried into the metrics' intervals
# Prior standard deviation (log-odds) of a sensitive trait's effect: a ridge penalty that keeps a small group's
# estimate near 0 unless its records say otherwise (partial pooling), so that noise in a group of a few dozen
# records does not read as discrimination, while a penalty seen in hundreds of records stands.
TRAIT_PRIOR = 0.5


def own_gender_share(gender: np.ndarray, female_share: np.ndarray) -> np.ndarray:
    """Share of the citizen's own gender among the workers of the item's occupation."""
    return np.where(np.asarray(gender) == "woman", female_share, 1.0 - np.asarray(female_share))


def atypical(gender: np.ndarray, female_share: np.ndarray) -> np.ndarray:
    """True where the citizen's gender holds less than STEREOTYPE_SHARE of the occupation's jobs."""
    return own_gender_share(gender, female_share) < STEREOTYPE_SHARE


def sensitive_terms(people: pd.DataFrame, female_share: np.ndarray) -> pd.DataFrame:
    """0/1 columns per sensitive trait (reference: man, 35-44, Belgian, no arbeidshandicap, typical occupation)."""
    out = {f"age_{band}": (people["age_band"].to_numpy() == band) for band in AGE_TERMS}
    out.update({f"origin_{origin}": (people["origin"].to_numpy() == origin) for origin in ORIGIN_TERMS})
    out["disability"] = people["disability"].to_numpy().astype(bool)
    out["woman"] = people["gender"].to_numpy() == "woman"
    out["gender_atypical"] = atypical(people["gender"].to_numpy(), female_share)
    return pd.DataFrame({name: np.asarray(values, dtype=np.float64) for name, values in out.items()})


def _regression(seed: int):
    """L2-penalised logistic regression; Newton steps converge in a few iterations on these few dozen columns."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=REGULARISATION, max_iter=1_000, random_state=seed, solver="newton-cholesky")


def _cluster_refits(standardised: np.ndarray, success: np.ndarray, clusters: np.ndarray, *, count: int,
                    seed: int) -> list[list[float]]:
    """Refits on ``count`` resamples of whole clusters (citizens), drawn with replacement."""
    rng = np.random.default_rng(seed)
    names, codes = np.unique(clusters, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(names) + 1))
    out = []
    for _ in range(count):
        chosen = rng.integers(0, len(names), len(names))
        rows = np.concatenate([order[starts[code]:starts[code + 1]] for code in chosen])
        if success[rows].all() or not success[rows].any():
            continue
        fitted = _regression(seed).fit(standardised[rows], success[rows])
        out.append([*fitted.coef_[0].tolist(), float(fitted.intercept_[0])])
    return out


def fit_linear_chance(frame: pd.DataFrame, success: np.ndarray, *, good_quantile: float, seed: int,
                      clusters: np.ndarray | None = None, resamples: int = 0,
                      priors: dict[str, float] | None = None) -> LinearChance:
    """Fit on standardised columns; with ``clusters`` also ``resamples`` cluster-bootstrap refits.

    ``priors`` (column → prior sd of its log-odds effect) replaces a column's standardisation by centring and
    scaling with the prior, so that the one L2 penalty acts on it as that prior.
    """
    columns = list(frame.columns)
    indicators = [name for name in columns if frame[name].isna().any()]
    thresholds = []
    for name in columns:
        values = frame[name].to_numpy(dtype=np.float64)
        positive = float(np.mean(np.nan_to_num(values, nan=0.0) > 0))
        binary = np.isin(values[np.isfinite(values)], (0.0, 1.0)).all()
        if not binary and 0.05 <= positive <= 0.95:
            thresholds.append(name)
    partial = LinearChance(columns=columns, indicators=indicators, mean=[], scale=[], weights=[], intercept=0.0,
                           good_threshold=0.5, thresholds=thresholds)
    design = partial.design(frame)
    mean = design.mean(axis=0)
    scale = design.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    for name, prior in (priors or {}).items():
        scale[columns.index(name)] = 1.0 / (prior * np.sqrt(REGULARISATION))
    standardised = (design - mean) / scale
    with threadpool_limits(limits=1):  # a few dozen small fits: BLAS threads only contend (5x slower on 2 cores)
        regression = _regression(seed).fit(standardised, success)
        resampled = (_cluster_refits(standardised, success, clusters, count=resamples, seed=seed)
                     if clusters is not None and resamples else None)
    fitted = LinearChance(columns=columns, indicators=indicators, mean=mean.tolist(), scale=scale.tolist(),
                          weights=regression.coef_[0].tolist(), intercept=float(regression.intercept_[0]),
                          good_threshold=0.5, thresholds=thresholds, resampled=resampled)
    threshold = float(np.quantile(fitted.predict(frame), good_quantile))
    return LinearChance(**{**fitted.to_dict(), "good_threshold": threshold})


@dataclass(frozen=True)
class OutcomeRecords:
    """The historical records the models were fitted on: one row per time a citizen acted on an item."""

    features: pd.DataFrame  # the ranker's pair features
    terms: pd.DataFrame  # the sensitive terms (SENSITIVE_TERMS columns)
    success: np.ndarray
    citizens: np.ndarray
    items: np.ndarray  # catalogue positions


@dataclass(frozen=True)
class OutcomeModels:
    kind: str
    blind: LinearChance
    aware: LinearChance
    records: int
    success_rate: float
    fitted_on: OutcomeRecords | None = None

    def reference_terms(self, n: int) -> pd.DataFrame:
        return pd.DataFrame(np.zeros((n, len(SENSITIVE_TERMS))), columns=list(SENSITIVE_TERMS))

    def chances(self, features: pd.DataFrame, terms: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(estimated chance for the citizen, for an equally qualified citizen without the sensitive traits)."""
        features = features.reset_index(drop=True)
        own = self.aware.predict(pd.concat([features, terms.reset_index(drop=True)], axis=1))
        reference = self.aware.predict(pd.concat([features, self.reference_terms(len(features))], axis=1))
        return own, reference

    def chance_draws(self, features: pd.DataFrame, terms: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`chances`, for every resampled fit of the aware model: two (rows, draws) arrays."""
        features = features.reset_index(drop=True)
        parameters = self.aware.draws()
        own = self.aware.standardised(pd.concat([features, terms.reset_index(drop=True)], axis=1))
        reference = self.aware.standardised(pd.concat([features, self.reference_terms(len(features))], axis=1))
        return (sigmoid(own @ parameters[:, :-1].T + parameters[:, -1]),
                sigmoid(reference @ parameters[:, :-1].T + parameters[:, -1]))

    def coefficients(self) -> dict[str, float]:
        """Log-odds effect of each sensitive trait, all else equal, for the report."""
        index = {name: position for position, name in enumerate(self.aware.columns)}
        return {name: float(self.aware.weights[index[name]] / self.aware.scale[index[name]])
                for name in SENSITIVE_TERMS if name in index}


def fit_outcome_models(*, data: RankingData, sensitive: pd.DataFrame, item_female_share: np.ndarray,
                       good_quantile: float, seed: int) -> OutcomeModels | None:
    """Both models from the records of citizens who acted (label >= 1) in the training and validation splits.

    ``sensitive`` is indexed by citizen id; None when the kind has no such outcome or too few records.
    """
    if data.kind not in OUTCOME:
        return None
    sets = [data.sets[role] for role in ("train", "valid")]
    acted = [np.flatnonzero((part.labels >= 1) & (part.citizen_ids >= 0)) for part in sets]
    features = pd.concat([part.features.iloc[rows] for part, rows in zip(sets, acted, strict=True)],
                         ignore_index=True)
    success = np.concatenate([part.labels[rows] >= 2 for part, rows in zip(sets, acted, strict=True)])
    if len(success) < MIN_RECORDS or success.all() or not success.any():
        return None
    citizens = np.concatenate([part.citizen_ids[rows] for part, rows in zip(sets, acted, strict=True)])
    items = np.concatenate([part.item_positions[rows] for part, rows in zip(sets, acted, strict=True)])
    terms = sensitive_terms(sensitive.loc[citizens].reset_index(drop=True), item_female_share[items])
    blind = fit_linear_chance(features, success, good_quantile=good_quantile, seed=seed)
    aware = fit_linear_chance(pd.concat([features, terms], axis=1), success, good_quantile=good_quantile, seed=seed,
                              clusters=citizens, resamples=RESAMPLES,
                              priors=dict.fromkeys(SENSITIVE_TERMS, TRAIT_PRIOR))
    return OutcomeModels(kind=data.kind, blind=blind, aware=aware, records=len(success),
                         success_rate=float(success.mean()),
                         fitted_on=OutcomeRecords(features=features, terms=terms, success=success, citizens=citizens,
                                                  items=items))
