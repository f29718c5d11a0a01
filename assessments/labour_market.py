"""The labour-market finding: the penalty that the historical records carry, per group and per occupation
group, as evidence for employer-side action — not a verdict on a model.

The aware outcome model (:mod:`assessments.outcome_model`) estimates the chance that acting on an item succeeds
(hired after applying; completed after enrolling) from the pair features and the citizen's sensitive traits.
For every trait of the model (age band against 35-44, EU / non-EU origin against Belgian, arbeidshandicap,
woman, a gender-atypical occupation) and the records of citizens who have it, the finding is the mean *chance
ratio*: the estimated chance with the trait divided by the chance of the same record without it, all else
(qualifications, the other traits) equal. 1 is no penalty. Its interval spans the cluster-bootstrap refits of
the model (citizens resampled), and it comes with the number of records behind it. The same is done within
each ISCO major group (1-digit) of the items acted on, each with its own refit, so that the board sees where
the gap lies.

A group is *named* when its whole interval lies below the policy's ``labour_market.materiality``; an
assessment with named groups carries a finding id that the board's approval must acknowledge
(:func:`assessments.governance.record_review`).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from assessments.outcome_model import (
    RESAMPLES,
    SENSITIVE_TERMS,
    TRAIT_PRIOR,
    OutcomeModels,
    OutcomeRecords,
    fit_linear_chance,
)
from features.esco import load_isco_groups
from models.chance import LinearChance, sigmoid
from models.resources import KindResources

MIN_OCCUPATION_RECORDS = 100  # an ISCO major group with fewer records gets no refit of its own
TERM_LABELS = {"age_18-24": "age 18-24 (against 35-44)", "age_25-34": "age 25-34 (against 35-44)",
               "age_45-54": "age 45-54 (against 35-44)", "age_55-64": "age 55-64 (against 35-44)",
               "origin_eu": "EU origin (against Belgian)", "origin_non_eu": "non-EU origin (against Belgian)",
               "disability": "arbeidshandicap", "woman": "women (against men)",
               "gender_atypical": "in an occupation atypical for their gender"}


def _chance_ratios(model: LinearChance, design: np.ndarray, rows: np.ndarray, term: str) -> np.ndarray:
    """Per draw of the model (the fit itself first): mean over ``rows`` of chance(with the trait) / chance(without
    it); ``design`` is the records' standardised design matrix (a binary trait is one column of it)."""
    column = model.columns.index(term)
    with_trait = design[rows]
    without = with_trait.copy()
    without[:, column] = (0.0 - model.mean[column]) / model.scale[column]
    parameters = np.vstack([np.r_[model.weights, model.intercept][None, :], model.draws()])
    own = sigmoid(with_trait @ parameters[:, :-1].T + parameters[:, -1])
    other = sigmoid(without @ parameters[:, :-1].T + parameters[:, -1])
    return (own / other).mean(axis=0)


def _groups(model: LinearChance, records: OutcomeRecords, rows: np.ndarray, materiality: float) -> list[dict]:
    design = model.standardised(pd.concat([records.features.reset_index(drop=True),
                                           records.terms.reset_index(drop=True)], axis=1))
    out = []
    for term in SENSITIVE_TERMS:
        mine = rows[records.terms[term].to_numpy()[rows] > 0]
        if not len(mine):
            continue
        ratios = _chance_ratios(model, design, mine, term)
        point, draws = float(ratios[0]), ratios[1:]
        low, high = (np.quantile(draws, [0.025, 0.975]).tolist() if len(draws) > 1 else [None, None])
        out.append({"term": term, "group": TERM_LABELS[term], "records": int(len(mine)),
                    "citizens": int(len(np.unique(records.citizens[mine]))), "chance_ratio": point,
                    "ci": [low, high], "named": bool(high is not None and high < materiality)})
    return out


def _isco_major(resources: KindResources, items: np.ndarray) -> np.ndarray:
    occupation = resources.catalogue.occupation[items]
    codes = resources.taxonomy.occupations["isco_group"].fillna("").astype(str).to_numpy()
    return np.where(occupation >= 0, np.array([code[:1] for code in codes])[np.maximum(occupation, 0)], "")


def labour_market_finding(*, kind: str, outcome: OutcomeModels | None, resources: KindResources,
                          materiality: float, seed: int) -> dict | None:
    """The finding of one assessment (None when the kind has no outcome records)."""
    if outcome is None or outcome.fitted_on is None:
        return None
    records = outcome.fitted_on
    everyone = np.arange(len(records.success))
    groups = _groups(outcome.aware, records, everyone, materiality)
    titles = load_isco_groups().set_index("code")["label_en"].to_dict()
    majors = _isco_major(resources, records.items)
    occupations = []
    for code in sorted(set(majors.tolist()) - {""}):
        rows = np.flatnonzero(majors == code)
        entry = {"isco": code, "title": titles.get(code, code), "records": int(len(rows)), "groups": []}
        success = records.success[rows]
        if len(rows) >= MIN_OCCUPATION_RECORDS and success.any() and not success.all():
            frame = pd.concat([records.features.iloc[rows].reset_index(drop=True),
                               records.terms.iloc[rows].reset_index(drop=True)], axis=1)
            model = fit_linear_chance(frame, success, good_quantile=0.5, seed=seed, clusters=records.citizens[rows],
                                      resamples=RESAMPLES, priors=dict.fromkeys(SENSITIVE_TERMS, TRAIT_PRIOR))
            local = OutcomeRecords(features=records.features.iloc[rows].reset_index(drop=True),
                                   terms=records.terms.iloc[rows].reset_index(drop=True), success=success,
                                   citizens=records.citizens[rows], items=records.items[rows])
            entry["groups"] = _groups(model, local, np.arange(len(rows)), materiality)
        occupations.append(entry)
    named = [group["group"] for group in groups if group["named"]]
    named += [f"{group['group']} in ISCO {entry['isco']} ({entry['title']})" for entry in occupations
              for group in entry["groups"] if group["named"]]
    finding = {"kind": kind, "outcome": "hired after applying" if kind == "jobs" else "completed after enrolling",
               "records": outcome.records, "materiality": materiality, "groups": groups,
               "occupations": occupations, "named": named}
    content = json.dumps({key: finding[key] for key in ("kind", "groups", "occupations")}, sort_keys=True,
                         default=float)
    finding["id"] = f"LM-{kind}-{hashlib.sha256(content.encode()).hexdigest()[:8]}" if named else None
    return finding
