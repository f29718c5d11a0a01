"""The Competent importer: the fixture export becomes a valid Taxonomy; bad exports fail with a clear message."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from features import competent
from features.competent import CompetentSource
from features.errors import LoopbaanError
from features.taxonomy import Taxonomy, TaxonomySource

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "competent"
BEROEPEN, COMPETENTIES, RELATIES = "beroepen.csv", "competenties.csv", "beroep_competenties.csv"


def beroep(code: str) -> str:
    return f"urn:competent:beroep:{code}"


def competentie(code: str) -> str:
    return f"urn:competent:competentie:{code}"


def fixture_relations(beroep_id: str, relatie: str) -> set[str]:
    with (FIXTURE / RELATIES).open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter=";")
        return {competentie(r["competentie_id"]) for r in rows if r["beroep_id"] == beroep_id and r["relatie"] == relatie}


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return CompetentSource(FIXTURE).load()


@pytest.fixture
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "competent"
    shutil.copytree(FIXTURE, folder)
    return folder


def edit(folder: Path, name: str, change: Callable[[str], str]) -> None:
    path = folder / name
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")


def append(folder: Path, name: str, line: str) -> int:
    """Add a line at the end of a file; return its line number."""
    path = folder / name
    text = path.read_text(encoding="utf-8")
    path.write_text(text + line + "\n", encoding="utf-8")
    return text.count("\n") + 1


def load_error(folder: Path) -> str:
    with pytest.raises(LoopbaanError) as info:
        CompetentSource(folder).load()
    message = str(info.value)
    assert "\n" not in message
    return message


# --- the fixture imports ------------------------------------------------------------------------


def test_source_follows_the_taxonomy_interface(taxonomy: Taxonomy) -> None:
    source: TaxonomySource = CompetentSource(folder=FIXTURE)
    assert source.name == "competent"
    assert isinstance(taxonomy, Taxonomy)
    assert taxonomy.source == "competent"


def test_fixture_counts(taxonomy: Taxonomy) -> None:
    summary = taxonomy.summary()
    assert summary["occupations"] == 7
    assert summary["competencies"] == 32
    assert summary["relations"] == 45
    assert summary["essential_relations"] == 29
    assert summary["occupations_with_dutch_label"] == 7
    assert len(taxonomy.known_relations) == 45


def test_occupation_labels_in_dutch_and_english(taxonomy: Taxonomy) -> None:
    assert taxonomy.occupation_label(beroep("H291301"), "nl") == "Lasser"
    assert taxonomy.occupation_label(beroep("H291301"), "en") == "Welder"
    assert taxonomy.occupation_label(beroep("K130401"), "en") == "Poetshulp"
    assert taxonomy.occupation_labels("en")[beroep("M180501")] == "Software developer"


def test_occupation_fields(taxonomy: Taxonomy) -> None:
    welder = taxonomy.occupation(beroep("H291301"))
    assert welder["code"] == "H291301"
    assert welder["isco_group"] == "7212"
    assert list(welder["alt_labels_nl"]) == ["Lasser MIG/MAG", "Lasser TIG", "Constructielasser"]
    nurse = taxonomy.occupation(beroep("J150601"))
    assert nurse["description_nl"].startswith("Verleent verpleegkundige zorg aan patiënten; observeert")
    assert not isinstance(taxonomy.occupation(beroep("M180501"))["description_nl"], str)


def test_competency_labels_fall_back_to_dutch(taxonomy: Taxonomy) -> None:
    assert taxonomy.competency_label(competentie("ACT-007"), "nl") == "Verzorgt wonden"
    assert taxonomy.competency_label(competentie("ACT-007"), "en") == "Dresses wounds"
    assert taxonomy.competency_label(competentie("ACT-013"), "en") == "Onderhoudt linnen (wassen, strijken)"
    assert taxonomy.competency_label(competentie("ACT-012"), "nl") == "Reinigt ruimtes; ook keuken en sanitair"


def test_kern_is_essential_and_specifiek_optional(taxonomy: Taxonomy) -> None:
    for code in ("H291301", "J150601", "M180501"):
        assert set(taxonomy.competencies_of(beroep(code), "essential")) == fixture_relations(code, "kern")
        assert set(taxonomy.competencies_of(beroep(code), "optional")) == fixture_relations(code, "specifiek")


def test_types_map_to_esco_skill_types(taxonomy: Taxonomy) -> None:
    assert taxonomy.competency(competentie("KEN-001"))["skill_type"] == "knowledge"
    assert taxonomy.competency(competentie("ACT-001"))["skill_type"] == "skill/competence"
    generic = taxonomy.competency(competentie("COM-001"))
    assert generic["skill_type"] == "skill/competence"
    assert generic["reuse_level"] == "transversal"
    kinds = taxonomy.relations.set_index("competency_uri")["skill_type"]
    assert set(kinds[competentie("KEN-004")]) == {"knowledge"}


def test_clusters_become_groups(taxonomy: Taxonomy) -> None:
    row = taxonomy.competency(competentie("ACT-015"))
    assert row["group_uri"] == "urn:competent:cluster:financien-en-administratie"
    assert row["group_label_nl"] == "Financiën en administratie"
    assert taxonomy.broader_competencies(competentie("ACT-015")) == [row["group_uri"]]


def test_occupation_hierarchy(taxonomy: Taxonomy) -> None:
    assert taxonomy.broader_occupations(beroep("J150602")) == [beroep("J150601")]
    assert taxonomy.broader_occupations(beroep("K130401")) == ["http://data.europa.eu/esco/isco/C911"]
    assert taxonomy.broader_occupations(beroep("H291301")) == ["http://data.europa.eu/esco/isco/C7212"]


def test_bom_crlf_and_minimal_columns_are_accepted(export: Path) -> None:
    (export / BEROEPEN).write_bytes(
        "\ufeffisco_code;beroep_id;titel\r\n7212;H291301;Lasser\r\n2221;J150601;Verpleegkundige\r\n".encode()
    )
    (export / COMPETENTIES).write_text("competentie_id;omschrijving;type\nACT-001;Last;activiteit\n", encoding="utf-8")
    (export / RELATIES).write_text("beroep_id;competentie_id;relatie\nH291301;ACT-001;KERN\n", encoding="utf-8")
    loaded = CompetentSource(export).load()
    assert loaded.occupation_label(beroep("H291301"), "en") == "Lasser"
    assert loaded.competencies_of(beroep("H291301"), "essential") == [competentie("ACT-001")]
    assert loaded.competency(competentie("ACT-001"))["group_uri"] is None


def test_slug_is_urn_safe() -> None:
    assert competent.cluster_slug("Zorg & welzijn") == "zorg-welzijn"
    assert competent.cluster_slug("???").isalnum()


# --- bad input ----------------------------------------------------------------------------------


def test_missing_folder(tmp_path: Path) -> None:
    message = load_error(tmp_path / "nowhere")
    assert "does not exist" in message and "nowhere" in message


def test_path_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("x", encoding="utf-8")
    assert "is not a folder" in load_error(path)


@pytest.mark.parametrize("name", [BEROEPEN, COMPETENTIES, RELATIES])
def test_missing_file(export: Path, name: str) -> None:
    (export / name).unlink()
    message = load_error(export)
    assert name in message and "missing" in message


def test_not_utf8(export: Path) -> None:
    (export / BEROEPEN).write_bytes((export / BEROEPEN).read_text(encoding="utf-8").encode("latin-1"))
    message = load_error(export)
    assert "not UTF-8" in message and BEROEPEN in message


def test_binary_file(export: Path) -> None:
    (export / COMPETENTIES).write_bytes(b"PK\x03\x04\x00\x00binary")
    message = load_error(export)
    assert "not a CSV" in message and COMPETENTIES in message


def test_unterminated_quote(export: Path) -> None:
    append(export, RELATIES, 'H291301;"ACT-001;kern')
    assert "not a CSV" in load_error(export)


def test_empty_file(export: Path) -> None:
    (export / RELATIES).write_text("\n", encoding="utf-8")
    message = load_error(export)
    assert "is empty" in message and "beroep_id;competentie_id;relatie" in message


@pytest.mark.parametrize(("separator", "shown"), [(",", "','"), ("\t", "'\\t'")])
def test_wrong_separator(export: Path, separator: str, shown: str) -> None:
    edit(export, COMPETENTIES, lambda text: text.replace(";", separator))
    message = load_error(export)
    assert f"separated by {shown}" in message and "use ';'" in message


def test_missing_columns_are_named(export: Path) -> None:
    edit(export, BEROEPEN, lambda text: text.replace("isco_code", "isco", 1).replace("titel;", "naam;", 1))
    message = load_error(export)
    assert "lacks the columns titel, isco_code" in message


def test_duplicate_header_column(export: Path) -> None:
    edit(export, RELATIES, lambda text: text.replace("relatie", "relatie;relatie", 1))
    assert "names column 'relatie' twice" in load_error(export)


def test_wrong_field_count(export: Path) -> None:
    line = append(export, RELATIES, "H291301;ACT-019;kern;extra")
    message = load_error(export)
    assert f"line {line} has 4 fields where the header has 3" in message


def test_empty_beroep_id(export: Path) -> None:
    line = append(export, BEROEPEN, ";Bakker;Baker;;7512;;")
    assert f"line {line} has an empty beroep_id" in load_error(export)


def test_empty_competentie_id_in_relation(export: Path) -> None:
    line = append(export, RELATIES, "H291301;;kern")
    message = load_error(export)
    assert RELATIES in message and f"line {line} has an empty competentie_id" in message


def test_id_with_spaces(export: Path) -> None:
    line = append(export, COMPETENTIES, "ACT 099;Bakt brood;activiteit;Voeding;")
    assert f"line {line} has competentie_id 'ACT 099'" in load_error(export)


def test_duplicate_beroep_id(export: Path) -> None:
    line = append(export, BEROEPEN, "H291301;Lasser-monteur;;;7212;;")
    message = load_error(export)
    assert f"beroep_id 'H291301' twice (lines 2 and {line})" in message


def test_duplicate_competentie_id(export: Path) -> None:
    append(export, COMPETENTIES, "KEN-001;Kennis van metalen;kennis;Metaalbewerking;")
    assert "competentie_id 'KEN-001' twice" in load_error(export)


def test_empty_titel(export: Path) -> None:
    line = append(export, BEROEPEN, "D110101;;Baker;;7512;;")
    assert f"line {line} has an empty titel" in load_error(export)


def test_bad_isco_code(export: Path) -> None:
    line = append(export, BEROEPEN, "D110101;Bakker;Baker;;75;;")
    message = load_error(export)
    assert f"line {line} has isco_code '75'" in message and "4-digit" in message


def test_bad_type(export: Path) -> None:
    line = append(export, COMPETENTIES, "ACT-099;Bakt brood;vaardigheid;Voeding;")
    message = load_error(export)
    assert f"line {line} has type 'vaardigheid'" in message and "activiteit, competentie, kennis" in message


def test_unknown_relatie(export: Path) -> None:
    line = append(export, RELATIES, "H291301;ACT-019;essentieel")
    message = load_error(export)
    assert f"line {line} has relatie 'essentieel'" in message and "'kern' or 'specifiek'" in message


def test_relation_to_unknown_beroep(export: Path) -> None:
    line = append(export, RELATIES, "X999999;ACT-001;kern")
    append(export, RELATIES, "X888888;ACT-001;kern")
    message = load_error(export)
    assert f"line {line} refers to beroep_id 'X999999'" in message and "X888888" not in message


def test_relation_to_unknown_competentie(export: Path) -> None:
    line = append(export, RELATIES, "H291301;ACT-999;specifiek")
    message = load_error(export)
    assert f"line {line} refers to competentie_id 'ACT-999'" in message and COMPETENTIES in message


def test_duplicate_relation(export: Path) -> None:
    line = append(export, RELATIES, "H291301;ACT-001;specifiek")
    assert f"links beroep 'H291301' to competentie 'ACT-001' twice (lines 2 and {line})" in load_error(export)


def test_unknown_parent(export: Path) -> None:
    line = append(export, BEROEPEN, "D110101;Bakker;Baker;;7512;;D999999")
    assert f"line {line} has parent_id 'D999999'" in load_error(export)


def test_own_parent(export: Path) -> None:
    append(export, BEROEPEN, "D110101;Bakker;Baker;;7512;;D110101")
    assert "as its own parent_id" in load_error(export)


def test_parent_cycle(export: Path) -> None:
    append(export, BEROEPEN, "D110101;Bakker;Baker;;7512;;D110102")
    append(export, BEROEPEN, "D110102;Banketbakker;Pastry cook;;7512;;D110101")
    assert "runs in a circle" in load_error(export)
