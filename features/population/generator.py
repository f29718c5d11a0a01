"""``generate_population``: the whole synthetic population from one config and seed, stage by stage."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from features.esco import ATTRIBUTION, load_esco, load_isco_groups
from features.population.behaviour import simulate_outcomes
from features.population.careers import generate_careers
from features.population.catalogues import Catalogue, build_diplomas, build_trainings, build_vacancies
from features.population.config import PopulationConfig
from features.population.datasheet import render_datasheet
from features.population.occupations import build_occupation_model
from features.population.people import generate_people
from features.population.schema import SCHEMAS
from features.population.store import write_population
from features.profiles import CareerTables, build_profiles, profile_matrix
from features.taxonomy import Taxonomy

GENERATOR_VERSION = "1.0"
AI_OPT_OUT_SHARE = 0.03  # citizens who switched AI suggestions off (an assumption)
_STAGES = ("taxonomy", "citizens", "catalogues", "career data", "profiles", "outcomes", "data sheet")


@dataclass(frozen=True)
class GeneratedPopulation:
    tables: dict[str, pd.DataFrame]
    manifest: dict
    datasheet: str


def _links(catalogue: Catalogue, id_column: str, taxonomy: Taxonomy, matrix=None) -> pd.DataFrame:
    matrix = (catalogue.competencies if matrix is None else matrix).tocoo()
    return pd.DataFrame({
        id_column: catalogue.items[id_column].to_numpy()[matrix.row],
        "competency_uri": taxonomy.competencies["uri"].to_numpy()[matrix.col],
    }).sort_values([id_column, "competency_uri"], kind="stable").reset_index(drop=True)


def generate_population(config: PopulationConfig, *, taxonomy: Taxonomy | None = None,
                        progress: bool = True) -> GeneratedPopulation:
    """Build every table of the population in memory (deterministic for a given config)."""
    seeds = np.random.SeedSequence(config.seed).spawn(5)
    rng_people, rng_catalogue, rng_career, rng_outcome, rng_misc = (np.random.default_rng(s) for s in seeds)
    timings: dict[str, float] = {}
    bar = tqdm(total=len(_STAGES), desc="generating population", unit="stage", disable=not progress)

    def stage(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 2)
        bar.set_postfix_str(name)
        bar.update(1)

    started = time.perf_counter()
    taxonomy = taxonomy or load_esco()
    model = build_occupation_model(taxonomy)
    stage("taxonomy", started)

    started = time.perf_counter()
    people = generate_people(rng=rng_people, size=config.citizens, as_of=config.as_of)
    people["ai_opt_out"] = rng_misc.random(len(people)) < AI_OPT_OUT_SHARE
    stage("citizens", started)

    started = time.perf_counter()
    diplomas = build_diplomas(taxonomy=taxonomy, occupation_model=model, isco_labels=_isco_labels(taxonomy))
    trainings = build_trainings(rng=rng_catalogue, size=config.trainings, taxonomy=taxonomy, occupation_model=model)
    vacancies = build_vacancies(rng=rng_catalogue, size=config.vacancy_count, taxonomy=taxonomy,
                                occupation_model=model, as_of=config.as_of)
    stage("catalogues", started)

    started = time.perf_counter()
    career = generate_careers(rng=rng_career, people=people, model=model, taxonomy=taxonomy,
                              diplomas=diplomas, trainings=trainings, as_of=config.as_of)
    stage("career data", started)

    started = time.perf_counter()
    diploma_links = _links(diplomas, "diploma_id", taxonomy)
    training_links = _links(trainings, "training_id", taxonomy)
    tables_for_profile = CareerTables(
        work_periods=career.work_periods, diplomas=career.diplomas, training_records=career.training_records,
        assessments=career.assessments, self_declared=career.self_declared,
        diploma_competencies=diploma_links, training_competencies=training_links,
    )
    profiles = build_profiles(career=tables_for_profile, taxonomy=taxonomy, as_of=config.as_of)
    held = profile_matrix(profiles=profiles, citizen_ids=people["citizen_id"].to_numpy(), taxonomy=taxonomy)
    stage("profiles", started)

    started = time.perf_counter()
    outcomes = simulate_outcomes(
        rng=rng_outcome, people=people, profile=held, target=career.target_occupation,
        work_periods=career.work_periods, model=model, essential=taxonomy.relation_matrix("essential"),
        vacancies=vacancies, trainings=trainings, bias=config.bias, as_of=config.as_of,
    )
    stage("outcomes", started)

    started = time.perf_counter()
    essential_links = _links(vacancies, "vacancy_id", taxonomy, vacancies.essential).assign(relation="essential")
    optional_matrix = (vacancies.competencies - vacancies.essential).tocsr()
    optional_matrix.eliminate_zeros()
    optional_links = _links(vacancies, "vacancy_id", taxonomy, optional_matrix).assign(relation="optional")
    tables = {
        "citizens": people[list(SCHEMAS["citizens"].names)],
        "sensitive": people[list(SCHEMAS["sensitive"].names)],
        "work_periods": career.work_periods,
        "diplomas": career.diplomas,
        "training_records": career.training_records,
        "assessments": career.assessments,
        "self_declared": career.self_declared,
        "profiles": profiles,
        "diploma_catalogue": diplomas.items,
        "diploma_competencies": diploma_links,
        "trainings": trainings.items,
        "training_competencies": training_links,
        "vacancies": vacancies.items,
        "vacancy_competencies": pd.concat([essential_links, optional_links], ignore_index=True),
        "job_outcomes": outcomes.job_outcomes,
        "training_outcomes": outcomes.training_outcomes,
        "transitions": outcomes.transitions,
    }
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "config": config.model_dump(mode="json"),
        "taxonomy": taxonomy.source,
        "attribution": ATTRIBUTION,
        "synthetic": True,
    }
    datasheet = render_datasheet(tables=tables, people=people, config=config, taxonomy=taxonomy, model=model)
    stage("data sheet", started)
    bar.close()
    manifest["timings_s"] = timings
    return GeneratedPopulation(tables=tables, manifest=manifest, datasheet=datasheet)


def _isco_labels(taxonomy: Taxonomy) -> pd.DataFrame:
    if taxonomy.source.startswith("esco"):
        return load_isco_groups()
    return pd.DataFrame(columns=["code", "label_en", "label_nl"])


def generate_to(config: PopulationConfig, *, out: Path, progress: bool = True) -> GeneratedPopulation:
    """Generate and write atomically to ``out`` (an existing population there is replaced only on success)."""
    generated = generate_population(config, progress=progress)
    write_population(tables=generated.tables, out=out, manifest=generated.manifest, datasheet=generated.datasheet)
    return generated
