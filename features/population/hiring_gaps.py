"""What the historical-bias knobs did: hiring gaps per affected group, with and without adjustment.

The adjusted gap is the coefficient of the group in a logistic regression of ``hired`` on the
applicant's observable qualifications (share of required competencies held, education fit, Dutch
level met, related experience); a negative value means fewer hires than equally qualified others.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from features.population.behaviour import STEREOTYPE_SHARE, experience_years, pair_dot
from features.population.occupations import EDUCATION_LEVELS, female_share
from features.profiles import profile_matrix
from features.taxonomy import Taxonomy

GROUPS = {
    "age 55-64": "age_55_plus",
    "gender-atypical occupation": "rare_gender",
    "non-EU origin": "non_eu",
    "arbeidshandicap": "disability",
}


def _applications(tables: Mapping[str, pd.DataFrame], taxonomy: Taxonomy, as_of_year: int) -> pd.DataFrame:
    outcomes = tables["job_outcomes"]
    applied = outcomes[outcomes["applied"]].reset_index(drop=True)
    citizens = tables["citizens"].set_index("citizen_id")
    sensitive = tables["sensitive"].set_index("citizen_id")
    vacancies = tables["vacancies"].set_index("vacancy_id")
    citizen_pos = pd.Index(tables["citizens"]["citizen_id"])
    vacancy_pos = pd.Index(tables["vacancies"]["vacancy_id"])

    comp = taxonomy.competency_index
    held = profile_matrix(profiles=tables["profiles"], citizen_ids=citizen_pos.to_numpy(), taxonomy=taxonomy)
    links = tables["vacancy_competencies"]
    links = links[links["relation"] == "essential"]
    required = sparse.csr_matrix(
        (np.ones(len(links), dtype=np.float32),
         (vacancy_pos.get_indexer(links["vacancy_id"]), comp.get_indexer(links["competency_uri"]))),
        shape=(len(vacancy_pos), len(comp)))
    rows = citizen_pos.get_indexer(applied["citizen_id"])
    cols = vacancy_pos.get_indexer(applied["vacancy_id"])
    coverage = pair_dot(held, rows, required, cols) / np.maximum(np.diff(required.indptr)[cols], 1)

    vac = vacancies.loc[applied["vacancy_id"]]
    cit = citizens.loc[applied["citizen_id"]]
    sen = sensitive.loc[applied["citizen_id"]]
    isco = pd.Series(taxonomy.occupations["isco_group"].to_numpy(), index=taxonomy.occupations["uri"].to_numpy())
    vacancy_isco = isco.reindex(vac["occupation_uri"]).fillna("9").to_numpy()
    women_share = np.array([female_share(code)[0] for code in vacancy_isco])
    own_share = np.where(sen["gender"].to_numpy() == "woman", women_share, 1 - women_share)

    experience = experience_years(tables["work_periods"], isco, date(as_of_year, 6, 30))
    related = experience.reindex(pd.MultiIndex.from_arrays([applied["citizen_id"], vacancy_isco])).fillna(0.0)

    levels = pd.Index(EDUCATION_LEVELS)
    return pd.DataFrame(
        {
            "hired": applied["hired"].to_numpy(),
            "coverage": coverage,
            "education_fit": (levels.get_indexer(cit["education"]) >= levels.get_indexer(vac["education_required"])),
            "dutch_ok": cit["dutch_level"].to_numpy() >= vac["dutch_level_required"].to_numpy(),
            "related_years": np.minimum(related.to_numpy(), 10.0),
            "age_55_plus": (as_of_year - sen["birth_year"].to_numpy()) >= 55,
            "rare_gender": own_share < STEREOTYPE_SHARE,
            "non_eu": sen["origin"].to_numpy() == "non_eu",
            "eu": sen["origin"].to_numpy() == "eu",
            "disability": sen["disability"].to_numpy(),
        }
    )


def hiring_gaps(tables: Mapping[str, pd.DataFrame], taxonomy: Taxonomy, as_of_year: int) -> pd.DataFrame:
    """Per affected group: applications, hire rate vs the rest, and the adjusted gap in log-odds."""
    data = _applications(tables, taxonomy, as_of_year)
    predictors = ["coverage", "education_fit", "dutch_ok", "related_years", *GROUPS.values(), "eu"]
    model = LogisticRegression(C=1e4, max_iter=2000)
    model.fit(data[predictors].astype(float).to_numpy(), data["hired"].to_numpy())
    coefficients = dict(zip(predictors, model.coef_[0], strict=True))
    rows = []
    for label, column in GROUPS.items():
        inside = data[column].to_numpy()
        rows.append({
            "group": label,
            "applications": int(inside.sum()),
            "hire_rate_group": float(data["hired"][inside].mean()) if inside.any() else float("nan"),
            "hire_rate_others": float(data["hired"][~inside].mean()),
            "adjusted_gap_logodds": float(coefficients[column]),
        })
    return pd.DataFrame(rows)
