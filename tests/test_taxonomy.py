"""The ESCO taxonomy the project carries: counts, labels, relations, caching, bad files (its load times:
benchmarks/bench_taxonomy.py)."""

import shutil
from pathlib import Path

import pytest

from features.errors import LoopbaanError
from features.esco import BUNDLE_DIR, load_esco

WELDER = "http://data.europa.eu/esco/occupation/"


@pytest.fixture(scope="module")
def esco():
    return load_esco()


def test_counts_match_esco_v111(esco) -> None:
    summary = esco.summary()
    assert summary["occupations"] == 3_007
    assert summary["relations"] == 123_855
    assert summary["competencies"] == 13_896
    assert summary["occupations_with_dutch_label"] >= 3_000
    assert summary["essential_relations"] == 64_946


def test_labels_in_both_languages_with_english_fallback(esco) -> None:
    welder = esco.occupations.loc[esco.occupations["label_en"] == "welder"].iloc[0]
    assert esco.occupation_label(welder["uri"], "en") == "welder"
    assert esco.occupation_label(welder["uri"], "nl") == "lasser"
    no_dutch = esco.competencies.loc[esco.competencies["label_nl"].isna()].iloc[0]
    assert esco.competency_label(no_dutch["uri"], "nl") == no_dutch["label_en"]
    assert esco.competencies["group_label_nl"].notna().mean() > 0.95


def test_essential_and_optional_relations(esco) -> None:
    welder = esco.occupations.loc[esco.occupations["label_en"] == "welder", "uri"].iloc[0]
    essential = esco.competencies_of(welder, "essential")
    optional = esco.competencies_of(welder, "optional")
    labels = {esco.competency_label(uri, "en") for uri in essential}
    assert essential and optional and not set(essential) & set(optional)
    assert any("weld" in label for label in labels)


def test_hierarchies_present(esco) -> None:
    assert len(esco.occupation_hierarchy) == 3_617
    assert len(esco.skill_hierarchy) == 20_656
    welder = esco.occupations.loc[esco.occupations["label_en"] == "welder", "uri"].iloc[0]
    assert esco.broader_occupations(welder)


def test_unknown_ids_and_language_get_clear_errors(esco) -> None:
    with pytest.raises(LoopbaanError, match="unknown occupation id"):
        esco.occupation_label("http://example.org/nope")
    with pytest.raises(LoopbaanError, match="unknown competency id"):
        esco.competency("nope")
    welder = esco.occupations["uri"].iloc[0]
    with pytest.raises(LoopbaanError, match="unknown language 'fr'"):
        esco.occupation_label(welder, "fr")


def test_loading_is_cached() -> None:
    assert load_esco() is load_esco()


def test_a_copy_of_the_bundle_loads_afresh_to_the_same_taxonomy(tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(BUNDLE_DIR, copy)
    loaded = load_esco(copy)
    assert loaded is not load_esco()
    assert loaded.summary() == load_esco().summary()


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(BUNDLE_DIR, copy)
    return copy


def test_missing_taxonomy_file(bundle_copy: Path) -> None:
    (bundle_copy / "relations.parquet").unlink()
    with pytest.raises(LoopbaanError, match=r"relations.parquet is missing; reinstall"):
        load_esco(bundle_copy)


def test_corrupt_taxonomy_file(bundle_copy: Path) -> None:
    path = bundle_copy / "occupations.parquet"
    payload = bytearray(path.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    path.write_bytes(bytes(payload))
    with pytest.raises(LoopbaanError, match="is corrupt"):
        load_esco(bundle_copy)


def test_missing_manifest(bundle_copy: Path) -> None:
    (bundle_copy / "manifest.json").unlink()
    with pytest.raises(LoopbaanError, match="missing its manifest"):
        load_esco(bundle_copy)
