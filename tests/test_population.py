"""The synthetic population: determinism, separation of sensitive data, derivable profiles, bias knobs, storage."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.errors import LoopbaanError
from features.esco import load_esco
from features.population import BiasSettings, PopulationConfig, PopulationStore, generate_population, generate_to
from features.population.schema import SCHEMAS, SENSITIVE_COLUMNS
from features.profiles import CareerTables, build_profiles


def _config(**overrides) -> PopulationConfig:
    return PopulationConfig(**({"citizens": 400, "seed": 3, "vacancies": 300, "trainings": 100} | overrides))


def test_generation_is_deterministic_per_seed() -> None:
    first = generate_population(_config(), progress=False).tables
    second = generate_population(_config(), progress=False).tables
    other = generate_population(_config(seed=4), progress=False).tables
    for name in SCHEMAS:
        pd.testing.assert_frame_equal(first[name], second[name], obj=name)
    assert not first["citizens"].equals(other["citizens"])


def test_written_files_are_identical_for_the_same_seed(tmp_path: Path) -> None:
    generate_to(_config(), out=tmp_path / "a", progress=False)
    generate_to(_config(), out=tmp_path / "b", progress=False)
    for name in SCHEMAS:
        a = PopulationStore(tmp_path / "a").table(name)
        b = PopulationStore(tmp_path / "b").table(name)
        pd.testing.assert_frame_equal(a, b, obj=name)


def test_sensitive_attributes_live_only_in_their_own_table(small_population_dir: Path) -> None:
    store = PopulationStore(small_population_dir)
    sensitive = store.table("sensitive")
    assert set(SENSITIVE_COLUMNS) == {"gender", "birth_year", "age_band", "origin", "disability", "province"}
    assert sensitive["citizen_id"].is_unique and len(sensitive) == len(store.table("citizens"))
    about_citizens = [name for name, schema in SCHEMAS.items() if "citizen_id" in schema.names]
    for name in about_citizens:
        if name != "sensitive":
            leaked = set(SENSITIVE_COLUMNS) & set(store.table(name).columns)
            assert not leaked, f"{name} carries sensitive columns {leaked}"


def test_every_profile_is_derivable_from_career_data(small_population_dir: Path) -> None:
    store = PopulationStore(small_population_dir)
    career = CareerTables(
        work_periods=store.table("work_periods"), diplomas=store.table("diplomas"),
        training_records=store.table("training_records"), assessments=store.table("assessments"),
        self_declared=store.table("self_declared"), diploma_competencies=store.table("diploma_competencies"),
        training_competencies=store.table("training_competencies"),
    )
    as_of = pd.Timestamp(store.manifest["config"]["as_of"]).date()
    rebuilt = build_profiles(career=career, taxonomy=load_esco(), as_of=as_of)
    stored = store.table("profiles")
    key = ["citizen_id", "competency_uri", "source", "source_ref", "evidence_date", "proficiency"]

    def canonical(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[key].astype({"competency_uri": str, "source": str, "evidence_date": "datetime64[s]"})
        return frame.sort_values(key, na_position="first").reset_index(drop=True)

    pd.testing.assert_frame_equal(canonical(rebuilt), canonical(stored))
    assert stored["citizen_id"].nunique() > 0.9 * len(store.table("citizens"))


def test_profile_rules_follow_the_evidence() -> None:
    taxonomy = load_esco()
    welder = taxonomy.occupations.loc[taxonomy.occupations["label_en"] == "welder", "uri"].iloc[0]
    empty = lambda *cols: pd.DataFrame({c: pd.Series(dtype="object") for c in cols})  # noqa: E731
    career = CareerTables(
        work_periods=pd.DataFrame({"citizen_id": [1, 2], "occupation_uri": [welder, welder],
                                   "start_date": pd.to_datetime(["2016-01-01", "2026-03-01"]),
                                   "end_date": pd.to_datetime([None, None])}),
        diplomas=empty("citizen_id", "diploma_id", "obtained_date"),
        training_records=empty("citizen_id", "training_id", "completed_date"),
        assessments=pd.DataFrame({"assessment_id": [1, 2], "citizen_id": [2, 2], "competency_uri": ["a", "b"],
                                  "proficiency": [1, 3], "assessed_date": pd.to_datetime(["2026-01-01"] * 2)}),
        self_declared=empty("citizen_id", "competency_uri", "declared_date"),
        diploma_competencies=empty("diploma_id", "competency_uri"),
        training_competencies=empty("training_id", "competency_uri"),
    )
    profile = build_profiles(career=career, taxonomy=taxonomy, as_of=pd.Timestamp("2026-06-30").date())
    veteran = profile[profile["citizen_id"] == 1]
    essential = set(taxonomy.competencies_of(welder, "essential"))
    optional = set(taxonomy.competencies_of(welder, "optional"))
    assert set(veteran["competency_uri"].astype(str)) == essential | optional  # 10 years: both
    assert (veteran.loc[veteran["competency_uri"].astype(str).isin(essential), "proficiency"] == 4).all()
    newcomer = profile[profile["citizen_id"] == 2]  # 4 months of work give nothing; assessment 1 is not held
    assert newcomer["competency_uri"].astype(str).tolist() == ["b"]


@pytest.mark.slow
def test_bias_knobs_change_hiring_only_for_affected_groups_and_zero_removes_the_gap() -> None:
    from features.population.hiring_gaps import hiring_gaps

    config = PopulationConfig(citizens=20_000, seed=11)
    biased = generate_population(config, progress=False).tables
    fair = generate_population(config.model_copy(update={"bias": BiasSettings.none()}), progress=False).tables
    # Applications are identical (bias acts on hiring only); applicants with no penalty are hired identically.
    pd.testing.assert_series_equal(biased["job_outcomes"]["applied"], fair["job_outcomes"]["applied"])
    taxonomy = load_esco()
    gaps_biased = hiring_gaps(biased, taxonomy, 2026).set_index("group")["adjusted_gap_logodds"]
    gaps_fair = hiring_gaps(fair, taxonomy, 2026).set_index("group")["adjusted_gap_logodds"]
    for group in gaps_biased.index:
        assert gaps_biased[group] < gaps_fair[group] - 0.25, group
        assert gaps_biased[group] < -0.25, group
        assert abs(gaps_fair[group]) < 0.3, group
    hires_biased = biased["job_outcomes"]["hired"].sum()
    hires_fair = fair["job_outcomes"]["hired"].sum()
    assert hires_biased < hires_fair
    assert (biased["job_outcomes"]["hired"] <= fair["job_outcomes"]["hired"]).all()


def test_calibration_to_published_figures(small_population_dir: Path) -> None:
    store = PopulationStore(small_population_dir)
    citizens = store.table("citizens").merge(store.table("sensitive"), on="citizen_id")
    adults = citizens[(2026 - citizens["birth_year"]) >= 20]
    assert abs((adults["status"] == "employed").mean() - 0.768) < 0.04
    by_gender = adults.groupby("gender")["status"].apply(lambda s: (s == "employed").mean())
    assert by_gender["man"] > by_gender["woman"]
    assert abs(citizens["disability"].mean() - 0.136) < 0.03
    datasheet = (small_population_dir / "datasheet.md").read_text(encoding="utf-8")
    for section in ("synthetic", "Historical-bias settings", "What the knobs did", "Calibration",
                    "Assumptions", "Distributions", "European Commission"):
        assert section in datasheet


def test_reading_checks_the_schema(small_population_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(small_population_dir, copy)
    (copy / "vacancies.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(LoopbaanError, match="vacancies.parquet is not readable Parquet"):
        PopulationStore(copy).table("vacancies")
    citizens = PopulationStore(copy).table("citizens").drop(columns=["status"])
    citizens.to_parquet(copy / "citizens.parquet")
    with pytest.raises(LoopbaanError, match=r"missing columns \['status'\]"):
        PopulationStore(copy).table("citizens")
    PopulationStore(small_population_dir).table("sensitive").astype({"birth_year": str}).to_parquet(
        copy / "sensitive.parquet")
    with pytest.raises(LoopbaanError, match="column 'birth_year' is (large_)?string, expected int16"):
        PopulationStore(copy).table("sensitive")
    (copy / "transitions.parquet").unlink()
    with pytest.raises(LoopbaanError, match="transitions.parquet is missing"):
        PopulationStore(copy).table("transitions")


@pytest.mark.parametrize("name", ["citizens", "profiles", "work_periods"])
def test_a_citizen_range_read_is_those_rows_of_the_whole_table(name: str, small_population_dir: Path) -> None:
    store = PopulationStore(small_population_dir)
    whole = store.table(name)
    ids = np.sort(whole["citizen_id"].unique())
    first, last = int(ids[len(ids) // 3]), int(ids[len(ids) // 2])
    columns = ["citizen_id", *[column for column in SCHEMAS[name].names if column != "citizen_id"][:2]]
    part = store.table(name, columns=columns, citizens=(first, last))
    inside = whole.loc[whole["citizen_id"].between(first, last), columns].reset_index(drop=True)
    assert len(part) and len(part) < len(whole)
    pd.testing.assert_frame_equal(part, inside)
    pd.testing.assert_frame_equal(store.table(name, columns=columns), whole[columns])


def test_a_partial_read_is_checked_like_a_whole_one(small_population_dir: Path, tmp_path: Path) -> None:
    store = PopulationStore(small_population_dir)
    with pytest.raises(LoopbaanError, match=r"population table 'citizens' has no columns \['salary'\]"):
        store.table("citizens", columns=["citizen_id", "salary"])
    with pytest.raises(LoopbaanError, match="unknown population table 'pets'"):
        store.check_schema("pets")
    copy = tmp_path / "copy"
    shutil.copytree(small_population_dir, copy)
    store.table("citizens").drop(columns=["status"]).to_parquet(copy / "citizens.parquet")
    with pytest.raises(LoopbaanError, match=r"missing columns \['status'\]"):
        PopulationStore(copy).table("citizens", columns=["citizen_id"], citizens=(0, 10))
    with pytest.raises(LoopbaanError, match=r"missing columns \['status'\]"):
        PopulationStore(copy).check_schema("citizens")
    PopulationStore(copy).check_schema("profiles")


def test_missing_population_folder(tmp_path: Path) -> None:
    with pytest.raises(LoopbaanError, match="no population at .*; create one with `loopbaan data generate"):
        PopulationStore(tmp_path / "nothing")


def test_failed_write_leaves_previous_population_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "population"
    generate_to(_config(), out=out, progress=False)
    before = PopulationStore(out).table("citizens")

    import features.population.store as store_module

    original = store_module.pq.write_table
    calls = {"n": 0}

    def failing_write(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full")
        return original(*args, **kwargs)

    monkeypatch.setattr(store_module.pq, "write_table", failing_write)
    with pytest.raises(OSError, match="disk full"):
        generate_to(_config(seed=99), out=out, progress=False)
    pd.testing.assert_frame_equal(PopulationStore(out).table("citizens"), before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["population"]


def test_refuses_to_overwrite_a_foreign_folder(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious", encoding="utf-8")
    with pytest.raises(LoopbaanError, match="is not a loopbaan population folder"):
        generate_to(_config(), out=foreign, progress=False)
    assert (foreign / "thesis.docx").read_text(encoding="utf-8") == "precious"


def test_outcomes_reference_known_items(small_population_dir: Path) -> None:
    store = PopulationStore(small_population_dir)
    jobs = store.table("job_outcomes")
    assert jobs["vacancy_id"].isin(store.table("vacancies")["vacancy_id"]).all()
    assert (jobs["hired"] <= jobs["applied"]).all() and jobs["applied"].any() and jobs["hired"].any()
    trainings = store.table("training_outcomes")
    assert (trainings["completed"] <= trainings["enrolled"]).all() and trainings["completed"].any()
    assert np.isin(store.table("transitions")["citizen_id"], store.table("citizens")["citizen_id"]).all()
