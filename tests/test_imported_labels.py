"""`loopbaan taxonomy import-labels --lang nl DIR`: a complete Dutch ESCO CSV package's labels reach the citizen's
taxonomy, its search and the service; a wrong package is refused whole and keeps the previous labels."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from features.errors import LoopbaanError
from features.esco import load_esco
from features.imported_labels import home_taxonomy, import_labels, labels_folder
from features.label_languages import LabelLanguages
from features.settings import Settings
from tests.conftest import PROJECT_ROOT
from tests.label_fixtures import write_dutch_package

FORKLIFT = "http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da"  # "operate forklift", no Dutch
MUSICAL_STAFF = "http://data.europa.eu/esco/skill/0005c151-5b5a-4a66-8aac-60e734beb1ab"  # likewise
TRANSLATED = {FORKLIFT: ("heftruck besturen", "vorkheftruck bedienen\nheftruckchauffeur zijn"),
              MUSICAL_STAFF: ("muzikaal personeel leiden", "")}
NEWER = "http://data.europa.eu/esco/skill/ffffffff-0000-4000-8000-000000000000"  # a concept of a newer ESCO


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle's Dutch labels, two competencies translated that the bundle has only in English, and a concept of
    a newer ESCO version."""
    extra = [{"conceptUri": uri, "preferredLabel": label, "altLabels": alternatives,
              "description": f"Omschrijving van {label}."} for uri, (label, alternatives) in TRANSLATED.items()]
    extra.append({"conceptUri": NEWER, "preferredLabel": "nieuwe vaardigheid"})
    return write_dutch_package(tmp_path_factory.mktemp("esco-nl") / "ESCO dataset - v1.2.1 - nl", skills=extra)


def _copy(package: Path, folder: Path) -> Path:
    folder.mkdir()
    for path in package.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def test_imported_labels_reach_the_home_taxonomy_and_leave_the_english_and_the_bundle_alone(package: Path) -> None:
    settings = Settings()
    assert home_taxonomy(settings) is load_esco()  # a home without an import reads the bundle itself
    found = import_labels(package, lang="nl", settings=settings)
    bundle, taxonomy = load_esco(), home_taxonomy(settings)

    assert taxonomy.competency_label(FORKLIFT, "nl") == "heftruck besturen"
    assert list(taxonomy.competency(FORKLIFT)["alt_labels_nl"]) == ["vorkheftruck bedienen", "heftruckchauffeur zijn"]
    assert taxonomy.competency(FORKLIFT)["description_nl"] == "Omschrijving van heftruck besturen."
    assert LabelLanguages.of(taxonomy).competency(FORKLIFT, "nl") == "nl"
    assert bundle.competency_label(FORKLIFT, "nl") == "operate forklift"  # the bundle is untouched
    assert LabelLanguages.of(bundle).competency(FORKLIFT, "nl") == "en"
    for kind in ("competencies", "occupations"):
        for column in [name for name in getattr(bundle, kind).columns if not name.endswith("_nl")]:
            pd.testing.assert_series_equal(getattr(taxonomy, kind)[column], getattr(bundle, kind)[column])
    assert taxonomy.relations is bundle.relations
    assert taxonomy.source.startswith(f"{bundle.source}+labels-nl-")

    competencies = found["competencies"]
    assert competencies.dutch_before == int(bundle.competencies["label_nl"].notna().sum())
    assert competencies.dutch_after == competencies.dutch_before + len(TRANSLATED)
    assert competencies.unknown == 1 and competencies.known == competencies.dutch_after
    assert found["occupations"].rows == found["occupations"].known + 1  # the repeated row counted once
    assert taxonomy.summary()["competencies_with_dutch_label"] == competencies.dutch_after


def test_the_search_finds_a_competency_by_its_imported_dutch_label(package: Path, tmp_path: Path) -> None:
    from features.search import build_searcher

    settings = Settings()
    before = build_searcher("competencies", taxonomy=home_taxonomy(settings), encoder=None, cache_dir=tmp_path)
    assert before.search("heftruckchauffeur zijn", lang="nl", k=5)[0].uri != FORKLIFT
    import_labels(package, lang="nl", settings=settings)
    after = build_searcher("competencies", taxonomy=home_taxonomy(settings), encoder=None, cache_dir=tmp_path)
    hit = after.search("heftruckchauffeur zijn", lang="nl", k=5)[0]
    assert (hit.uri, hit.label) == (FORKLIFT, "heftruck besturen")


def _rewrite(folder: Path, name: str, change) -> None:
    path = folder / name
    path.write_bytes(change(path.read_bytes()))


def _english(folder: Path) -> None:
    bundle = load_esco()
    frame = pd.read_csv(folder / "skills_nl.csv", dtype=str, keep_default_na=False)
    frame["preferredLabel"] = frame["conceptUri"].map(bundle.competencies.set_index("uri")["label_en"]).fillna("x")
    frame.to_csv(folder / "skills_nl.csv", index=False)


BAD_PACKAGES = {
    "no skills file": (lambda folder: (folder / "skills_nl.csv").unlink(), "has no skills_nl.csv"),
    "the English file names": (lambda folder: (folder / "skills_nl.csv").rename(folder / "skills_en.csv"),
                               "has no skills_nl.csv"),
    "a column missing": (lambda folder: _rewrite(folder, "skills_nl.csv",
                                                 lambda text: text.replace(b"preferredLabel", b"prefLabel", 1)),
                         "lacks the columns ['preferredLabel']"),
    "occupations under the skills' name": (
        lambda folder: (folder / "skills_nl.csv").write_bytes((folder / "occupations_nl.csv").read_bytes()),
        "holds concepts of type 'Occupation', not 'KnowledgeSkillCompetence'"),
    "another classification": (
        lambda folder: _rewrite(folder, "skills_nl.csv",
                                lambda text: text.replace(b"http://data.europa.eu/esco/skill/", b"urn:other:")),
        "names none of the 13,896 competencies"),
    "the English labels": (_english, "equal the bundled English ones"),
    "not UTF-8": (lambda folder: _rewrite(folder, "occupations_nl.csv", lambda text: text.replace(
        "ë".encode(), "ë".encode("latin-1"))), "cannot be read as CSV"),
}


@pytest.mark.parametrize("damage", list(BAD_PACKAGES))
def test_a_wrong_package_is_refused_whole_and_keeps_the_previous_labels(damage: str, package: Path,
                                                                        tmp_path: Path) -> None:
    settings = Settings()
    import_labels(package, lang="nl", settings=settings)
    manifest = (labels_folder(settings) / "manifest.json").read_bytes()
    bad = _copy(package, tmp_path / "bad")
    change, message = BAD_PACKAGES[damage]
    change(bad)
    with pytest.raises(LoopbaanError, match=re.escape(message)):
        import_labels(bad, lang="nl", settings=settings)
    assert (labels_folder(settings) / "manifest.json").read_bytes() == manifest
    assert home_taxonomy(settings).competency_label(FORKLIFT, "nl") == "heftruck besturen"


def test_only_dutch_and_only_a_folder_can_be_imported(package: Path, tmp_path: Path) -> None:
    settings = Settings()
    with pytest.raises(LoopbaanError, match="only Dutch labels can be imported"):
        import_labels(package, lang="en", settings=settings)
    with pytest.raises(LoopbaanError, match="is not a folder"):
        import_labels(tmp_path / "nowhere", lang="nl", settings=settings)
    assert not labels_folder(settings).exists()


def test_an_interrupted_import_keeps_the_previous_labels_and_leaves_no_partial_folder(
        package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import features.imported_labels as imported

    settings = Settings()
    import_labels(package, lang="nl", settings=settings)
    manifest = (labels_folder(settings) / "manifest.json").read_bytes()
    changed = _copy(package, tmp_path / "changed")
    _rewrite(changed, "skills_nl.csv", lambda text: text.replace(b"heftruck besturen", b"heftruck rijden"))
    written = []
    real_write = imported.pq.write_table

    def interrupted(*args, **kwargs):
        if written:
            raise KeyboardInterrupt
        written.append(1)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(imported.pq, "write_table", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_labels(changed, lang="nl", settings=settings)
    assert (labels_folder(settings) / "manifest.json").read_bytes() == manifest
    assert sorted(path.name for path in labels_folder(settings).parent.iterdir()) == ["labels-nl"]
    monkeypatch.undo()
    import_labels(changed, lang="nl", settings=settings)  # a rerun completes it
    assert home_taxonomy(settings).competency_label(FORKLIFT, "nl") == "heftruck rijden"


def test_damaged_imported_labels_stop_the_reader_with_the_command_to_run(package: Path) -> None:
    settings = Settings()
    import_labels(package, lang="nl", settings=settings)
    _rewrite(labels_folder(settings), "competencies.parquet", lambda payload: payload[:-10] + bytes(10))
    with pytest.raises(LoopbaanError, match="are damaged .*competencies.parquet does not match its checksum.*"
                                            "taxonomy import-labels --lang nl"):
        home_taxonomy(settings)


def test_the_command_reports_what_it_imported_and_taxonomy_info_shows_it(package: Path, isolated_home: Path) -> None:
    env = {**os.environ, "LOOPBAAN_HOME": str(isolated_home), "COLUMNS": "200"}

    def loopbaan(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "loopbaan_cli", *args], capture_output=True,
                              text=True, env=env, cwd=PROJECT_ROOT, timeout=300, check=False)

    result = loopbaan("taxonomy", "import-labels", str(package), "--lang", "nl")
    assert result.returncode == 0, result.stderr
    dutch = int(load_esco().competencies["label_nl"].notna().sum())
    assert f"concepts with a Dutch label {dutch:,} -> {dutch + len(TRANSLATED):,}" in result.stdout
    assert "1 concepts of the package are not in the bundle" in result.stdout
    info = loopbaan("taxonomy", "info")
    assert f"{dutch + len(TRANSLATED):,}" in info.stdout and str(package.resolve()) in info.stdout
    search = loopbaan("competencies", "search", "heftruckchauffeur zijn", "--mode", "lexical", "--json", "-q")
    assert '"heftruck besturen"' in search.stdout, search.stdout + search.stderr
    refused = loopbaan("taxonomy", "import-labels", str(package / "skills_nl.csv"), "--lang", "nl")
    assert refused.returncode == 2 and refused.stderr.startswith("error: ") and "Traceback" not in refused.stderr


@pytest.mark.slow
def test_the_service_shows_and_searches_the_imported_labels(package: Path, trained_home: Path,
                                                            small_population_dir: Path, tmp_path: Path) -> None:
    from serving.core import ServiceCore
    from tests.conftest import home_with_champions

    home = home_with_champions(trained_home, small_population_dir, tmp_path / "home")
    settings = Settings(home=home, allow_challenger=True)
    import_labels(package, lang="nl", settings=settings)
    core = ServiceCore(settings=settings)
    try:
        found = core.search.find("competencies", "heftruckchauffeur zijn", language="nl", k=3)[0]
        assert (found.uri, found.label, found.label_lang) == (FORKLIFT, "heftruck besturen", "nl")
        assert core.languages.competency(MUSICAL_STAFF, "nl") == "nl"
        assert core.vault.taxonomy is core.taxonomy
        served = core.metadata().taxonomy
        assert served.source == home_taxonomy(settings).source != load_esco().source
        assert served.competencies_with_dutch_label == int(load_esco().competencies["label_nl"].notna().sum()) + 2
    finally:
        core.close()
