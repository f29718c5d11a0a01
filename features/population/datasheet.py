"""The data sheet of a generated population (Markdown): what it is, how it was made, how it compares."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.esco import ATTRIBUTION
from features.population import facts
from features.population.hiring_gaps import hiring_gaps
from features.population.config import BiasSettings, PopulationConfig
from features.population.geography import PROVINCES
from features.population.occupations import OccupationModel
from features.population.people import AGE_BANDS, DUTCH_LEVELS
from features.taxonomy import Taxonomy


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _row(name: str, generated: float, fact: facts.Fact) -> str:
    real = _pct(fact.value) if fact.value <= 1 else f"{fact.value:,.0f}"
    return f"| {name} | {_pct(generated)} | {real} | {fact.year} | {fact.source} |"


def _calibration_rows(tables: Mapping[str, pd.DataFrame], people: pd.DataFrame, model: OccupationModel) -> list[str]:
    rows = []
    adults = people[people["age"] >= 20]
    employed = adults["status"] == "employed"
    rows.append(_row("employment rate 20-64", employed.mean(), facts.EMPLOYMENT_TOTAL))
    for gender, fact in facts.EMPLOYMENT_BY_GENDER.items():
        rows.append(_row(f"employment rate, {gender}", employed[adults["gender"] == gender].mean(), fact))
    bands = np.searchsorted([35, 45, 55], adults["age"].to_numpy(), side="right")
    for index, (band, fact) in enumerate(facts.EMPLOYMENT_BY_AGE_BAND.items()):
        rows.append(_row(f"employment rate, age {band}", employed[bands == index].mean(), fact))
    for level, fact in facts.EMPLOYMENT_BY_EDUCATION.items():
        rows.append(_row(f"employment rate, {level} educated", employed[adults["education"] == level].mean(), fact))
    for flag, fact in facts.EMPLOYMENT_BY_DISABILITY.items():
        label = "with" if flag else "without"
        rows.append(_row(f"employment rate, {label} arbeidshandicap", employed[adults["disability"] == flag].mean(), fact))
    for origin, fact in facts.EMPLOYMENT_BY_ORIGIN.items():
        rows.append(_row(f"employment rate, origin {origin}", employed[adults["origin"] == origin].mean(), fact))
    rows.append(_row("arbeidshandicap, share of population", people["disability"].mean(), facts.DISABILITY_SHARE))
    grown = people[people["age"] >= 25]
    for level, fact in facts.EDUCATION_SHARE.items():
        rows.append(_row(f"{level} educated, 25-64", (grown["education"] == level).mean(), fact))
    for gender, fact in facts.HIGH_EDUCATED_BY_GENDER.items():
        share = (grown.loc[grown["gender"] == gender, "education"] == "high").mean()
        rows.append(_row(f"high educated, {'women' if gender == 'woman' else 'men'} 25-64", share, fact))
    for band, fact in facts.LOW_EDUCATED_BY_AGE_BAND.items():
        share = (grown.loc[grown["age_band"] == band, "education"] == "low").mean()
        rows.append(_row(f"low educated, age {band}", share, fact))
    seekers = people[people["status"] == "job_seeker"]
    labour_force = len(seekers) + (people["status"] == "employed").sum()
    rows.append(_row("job seekers, share of labour force", len(seekers) / max(labour_force, 1), facts.JOBSEEKER_RATE))
    js_age = np.where(seekers["age"] < 25, "<25", np.where(seekers["age"] >= 60, "60+", "25-59"))
    for band, fact in facts.JOBSEEKER_AGE.items():
        rows.append(_row(f"job seekers aged {band}", (js_age == band).mean(), fact))
    for level, fact in facts.JOBSEEKER_EDUCATION.items():
        rows.append(_row(f"job seekers {level} educated", (seekers["education"] == level).mean(), fact))
    for gender, fact in facts.JOBSEEKER_GENDER.items():
        rows.append(_row(f"job seekers, {gender}", (seekers["gender"] == gender).mean(), fact))
    rows.append(_row("job seekers with little or no Dutch", (seekers["dutch_level"] <= 1).mean(),
                     facts.JOBSEEKER_LITTLE_DUTCH))
    vacancies = tables["vacancies"]
    for level, fact in facts.VACANCY_EDUCATION.items():
        rows.append(_row(f"vacancies asking {level} education", (vacancies["education_required"] == level).mean(), fact))
    for province, fact in facts.VACANCY_PROVINCE.items():
        rows.append(_row(f"vacancies in {province}", (vacancies["province"] == province).mean(), fact))
    rows.append(_row("vacancies asking Dutch", (vacancies["dutch_level_required"] > 0).mean(),
                     facts.VACANCY_DUTCH_REQUIRED))
    asking = vacancies[vacancies["dutch_level_required"] > 0]
    rows.append(_row("... of which very good Dutch", (asking["dutch_level_required"] == 3).mean(),
                     facts.VACANCY_DUTCH_VERY_GOOD))
    current = tables["work_periods"]
    current = current[current["end_date"].isna()]
    isco = pd.Series(model.frame["isco_group"].to_numpy(), index=model.frame["uri"].to_numpy())
    current_isco = isco.reindex(current["occupation_uri"]).to_numpy()
    women = people.set_index("citizen_id").loc[current["citizen_id"], "gender"].to_numpy() == "woman"
    for prefix, fact in facts.FEMALE_SHARE_BY_ISCO.items():
        inside = np.char.startswith(current_isco.astype(str), prefix)
        if inside.sum() >= 20:
            rows.append(_row(f"women among workers in ISCO {prefix}", women[inside].mean(), fact))
    return rows


def render_datasheet(*, tables: Mapping[str, pd.DataFrame], people: pd.DataFrame, config: PopulationConfig,
                     taxonomy: Taxonomy, model: OccupationModel) -> str:
    jobs = tables["job_outcomes"]
    training = tables["training_outcomes"]
    lines = [
        "# Data sheet — synthetic population",
        "",
        "**This population is synthetic.** No real person is in it. It was generated from the real ESCO "
        "taxonomy and calibrated to published Flemish labour-market figures (table below) by a documented "
        "behaviour model with latent factors the models cannot see, and with **historical-bias knobs** that "
        "make hiring unfair to some groups on purpose, so that the fairness gate has real work to do.",
        "",
        f"- citizens: {len(people):,}; seed: {config.seed}; reference date: {config.as_of}",
        f"- taxonomy: {taxonomy.source} ({len(taxonomy.occupations):,} occupations, "
        f"{len(taxonomy.competencies):,} competencies). {ATTRIBUTION}",
        f"- vacancies: {len(tables['vacancies']):,}; trainings: {len(tables['trainings']):,}; "
        f"diploma programmes: {len(tables['diploma_catalogue']):,}",
        "",
        "## Historical-bias settings (hiring, log-odds)",
        "",
        "| knob | value | meaning |",
        "|---|---:|---|",
    ]
    for name, field in BiasSettings.model_fields.items():
        lines.append(f"| {name} | {getattr(config.bias, name):.2f} | {field.description} |")
    gaps = hiring_gaps(tables, taxonomy, config.as_of.year)
    lines += [
        "",
        "### What the knobs did",
        "",
        "Hire rate per application for each affected group and for everyone else, and the adjusted gap: the "
        "group's coefficient in a logistic regression of hiring on observable qualifications (competency "
        "coverage, education fit, Dutch, related experience). Negative means fewer hires than equally "
        "qualified others; with all knobs at 0 it is 0 up to noise.",
        "",
        "| group | applications | hire rate (group) | hire rate (others) | adjusted gap (log-odds) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in gaps.itertuples():
        lines.append(f"| {row.group} | {row.applications:,} | {_pct(row.hire_rate_group)} | "
                     f"{_pct(row.hire_rate_others)} | {row.adjusted_gap_logodds:+.2f} |")
    lines += [
        "",
        "## Calibration: generated figure beside the real one",
        "",
        "Generated figures are measured on this population. Some published figures are mutually inconsistent "
        "(different years, age ranges), so raking meets them only approximately.",
        "",
        "| figure | generated | real | year | source |",
        "|---|---:|---:|---|---|",
        *_calibration_rows(tables, people, model),
        "",
        "## Assumptions (no sourced figure)",
        "",
        "| what | value | note |",
        "|---|---:|---|",
    ]
    assumptions = {
        "population share of origin (Flemish provinces), " + k: v for k, v in facts.ORIGIN_SHARE_FLANDERS.items()
    } | {"population share of origin (Brussels), " + k: v for k, v in facts.ORIGIN_SHARE_BRUSSELS.items()} | {
        "driving licence": facts.DRIVING_LICENCE, "care duties": facts.CARE_DUTIES,
        "prefers part-time": facts.PART_TIME_PREFERENCE, "inactive who never worked": facts.NEVER_WORKED_INACTIVE,
    } | {f"share of jobs in ISCO major group {k}": v for k, v in facts.EMPLOYMENT_SHARE_BY_ISCO_MAJOR.items()} | {
        f"share of women in ISCO major group {k} (where not sourced)": v
        for k, v in facts.FEMALE_SHARE_BY_ISCO_MAJOR.items()
    }
    for name, assumption in assumptions.items():
        lines.append(f"| {name} | {assumption.value:.2f} | {assumption.why} |")
    lines += [
        "| municipalities | 8 per province | the largest ones stand for their province; about 3 km of jitter |",
        "| employers' competition | none | each application is decided on its own |",
        "",
        "## Distributions",
        "",
        "| attribute | distribution |",
        "|---|---|",
        f"| status | {_shares(people['status'])} |",
        f"| gender | {_shares(people['gender'])} |",
        f"| age band | {_shares(pd.Categorical(people['age_band'], categories=AGE_BANDS))} |",
        f"| origin | {_shares(people['origin'])} |",
        f"| province | {_shares(pd.Categorical(people['province'], categories=PROVINCES))} |",
        f"| education | {_shares(people['education'])} |",
        "| Dutch level | " + _shares(pd.Categorical(np.array(DUTCH_LEVELS)[people["dutch_level"].to_numpy()],
                                                     categories=DUTCH_LEVELS)) + " |",
        f"| driving licence | {_pct(people['driving_licence'].mean())} |",
        f"| care duties | {_pct(people['care_duties'].mean())} |",
        f"| AI suggestions switched off | {_pct(people['ai_opt_out'].mean())} |",
        "",
        "## Career data and outcomes",
        "",
        "| table | rows | note |",
        "|---|---:|---|",
        f"| work periods | {len(tables['work_periods']):,} | "
        f"{tables['work_periods']['citizen_id'].nunique() / len(people):.0%} of citizens ever worked |",
        f"| diplomas | {len(tables['diplomas']):,} | medium and high educated |",
        f"| completed trainings | {len(tables['training_records']):,} | |",
        f"| assessment results | {len(tables['assessments']):,} | mostly job seekers |",
        f"| self-declared competencies | {len(tables['self_declared']):,} | |",
        f"| profile evidence | {len(tables['profiles']):,} | "
        f"{tables['profiles'].groupby('citizen_id', observed=True)['competency_uri'].nunique().median():.0f} "
        "competencies per citizen (median) |",
        f"| vacancies shown | {len(jobs):,} | applied {_pct(jobs['applied'].mean())}; hired "
        f"{_pct(jobs['hired'].sum() / max(jobs['applied'].sum(), 1))} of applications |",
        f"| trainings shown | {len(training):,} | enrolled {_pct(training['enrolled'].mean())}; completed "
        f"{_pct(training['completed'].sum() / max(training['enrolled'].sum(), 1))} of enrolments |",
        f"| career transitions | {len(tables['transitions']):,} | |",
        "",
        "Sensitive attributes (gender, age band, origin, arbeidshandicap, province) are in their own table "
        "`sensitive.parquet`, read only by the fairness assessment and never used as a model input.",
        "",
    ]
    return "\n".join(lines)


def _shares(values) -> str:
    shares = pd.Series(values).value_counts(normalize=True, sort=False)
    return ", ".join(f"{label} {_pct(share)}" for label, share in shares.items())
