"""Free-text search: folding and gender forms, the lexical matcher, fusion, held-out evaluation, the searcher, the CLI,
and (slow) a quick encoder training registered in an isolated MLflow home and then used by the search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from features.errors import LoopbaanError

runner = CliRunner()
SAMPLE_OCCUPATIONS = 300
SAMPLE_COMPETENCIES = 300
# occupations every sample keeps, so the tests can name them: (English preferred label, a Dutch label)
ANCHORS = ("welder", "building cleaner", "hairdresser", "bookkeeper", "bus driver", "pipe welder",
           "veterinary nurse", "car and van delivery driver")


@pytest.fixture(scope="module")
def esco():
    from features.esco import load_esco

    return load_esco()


@pytest.fixture(scope="module")
def occupations(esco):
    from features.search import cached_lexical_index, label_table
    from features.settings import Settings

    table = label_table(esco, "occupations")
    return table, cached_lexical_index(table, cache_dir=Settings().cache_dir)


@pytest.fixture(scope="module")
def small_taxonomy(esco):
    """A few hundred ESCO occupations and competencies (the anchors always among them): encoders embed it quickly."""
    from features.taxonomy import Taxonomy

    occupations = esco.occupations
    anchors = occupations["label_en"].isin(ANCHORS).to_numpy()
    others = np.flatnonzero(~anchors)[:: len(occupations) // SAMPLE_OCCUPATIONS][:SAMPLE_OCCUPATIONS - anchors.sum()]
    keep_occupations = occupations.iloc[np.sort(np.concatenate([np.flatnonzero(anchors), others]))]
    competencies = esco.competencies
    dutch = np.flatnonzero(competencies["label_nl"].notna().to_numpy())
    keep_competencies = competencies.iloc[dutch[:: max(1, len(dutch) // SAMPLE_COMPETENCIES)][:SAMPLE_COMPETENCIES]]
    relations = esco.relations[esco.relations["occupation_uri"].isin(keep_occupations["uri"])
                               & esco.relations["competency_uri"].isin(keep_competencies["uri"])]
    return Taxonomy(source="esco-sample", occupations=keep_occupations.reset_index(drop=True),
                    competencies=keep_competencies.reset_index(drop=True), relations=relations.reset_index(drop=True),
                    occupation_hierarchy=esco.occupation_hierarchy.iloc[:0],
                    skill_hierarchy=esco.skill_hierarchy.iloc[:0])


def _top_english(table, found, n: int = 1) -> list[str]:
    return [str(table.names_en[concept]) for concept in found[0][:n]]


# --- text folding and gender forms ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "folded"), [("Inspiciënte", "inspiciente"), ("chauffeur C/CE", "chauffeur c ce"),
                                              ("  ?!  ", ""), ("Café-medewerker", "cafe medewerker")])
def test_fold_drops_case_accents_and_punctuation(text: str, folded: str) -> None:
    from features.search._text import fold

    assert fold(text) == folded


@pytest.mark.parametrize(("one", "other"), [
    ("poetsvrouw", "poetsman"), ("lasser", "lasster"), ("kapper", "kapster"), ("verpleger", "verpleegster"),
    ("monteur", "monteuse"), ("directeur", "directrice"), ("busbestuurder", "busbestuurster"),
    ("schoonmaker", "schoonmaakster"), ("boer", "boerin"), ("leraar", "lerares"), ("assistent", "assistente")])
def test_gender_forms_meet(one: str, other: str) -> None:
    from features.search._text import gender_forms

    assert gender_forms(one) & gender_forms(other)


def test_unrelated_words_do_not_meet() -> None:
    from features.search._text import gender_forms

    assert not gender_forms("kapper") & gender_forms("kassier")
    assert not gender_forms("lasser") & gender_forms("bakker")


# --- the lexical matcher --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "expected"), [
    ("lasser", "welder"), ("welder", "welder"), ("boekhouder", "bookkeeper"), ("bookkeeper", "bookkeeper"),
    ("poetsvrouw", "building cleaner"), ("kapster", "hairdresser"), ("kapper", "hairdresser"),
    ("buschauffeur", "bus driver"), ("pijplasster", "pipe welder"), ("dierenverpleegster", "veterinary nurse")])
def test_lexical_finds_dutch_and_english_labels(occupations, query: str, expected: str) -> None:
    table, lexical = occupations
    assert _top_english(table, lexical.search(query, k=5)) == [expected]


@pytest.mark.parametrize(("query", "expected"), [
    ("Kapster", "hairdresser"), ("KAPPER!", "hairdresser"),  # case and punctuation
    ("boekhoudr", "bookkeeper"), ("buschaufeur", "bus driver"),  # typos
    ("dierenverpleger", "veterinary nurse"),  # the masculine form of a feminine label
])
def test_lexical_survives_spelling_variants_and_gender_forms(occupations, query: str, expected: str) -> None:
    table, lexical = occupations
    assert expected in _top_english(table, lexical.search(query, k=5), n=3)


@pytest.mark.parametrize(("query", "label", "expected"), [
    ("poetsman", "poetsvrouw", "building cleaner"), ("lasster", "lasser", "welder"),
    ("chauffeuse", "chauffeur", None), ("kuisvrouw", None, None)])
def test_a_label_in_the_other_gender_counts_as_exact(occupations, query: str, label, expected) -> None:
    from features.search.lexical import GENDER_FORM

    table, lexical = occupations
    concepts, scores, rows = lexical.search(query, k=3)
    if label is None:  # no label is "kuisman": nothing to promote
        assert scores[0] < GENDER_FORM
        return
    assert table.texts[rows[0]] == label and scores[0] == pytest.approx(GENDER_FORM)
    if expected:
        assert table.names_en[concepts[0]] == expected


def test_lexical_lists_each_concept_once_best_first(occupations) -> None:
    table, lexical = occupations
    concepts, scores, rows = lexical.search("chauffeur", k=10)
    assert len(set(concepts.tolist())) == len(concepts) == 10
    assert np.all(np.diff(scores) <= 1e-7)
    assert np.all(table.owners[rows] == concepts)
    assert scores[0] <= 1.0 + 1e-6


def test_lexical_index_cache_round_trips(tmp_path: Path, occupations) -> None:
    from features.search import cached_lexical_index

    table, _ = occupations
    small = table.subset(table.owners < 200)
    first = cached_lexical_index(small, cache_dir=tmp_path)
    again = cached_lexical_index(small, cache_dir=tmp_path)  # read back from disk
    for query in ("lasser", "manager", "poetsvrouw"):
        np.testing.assert_array_equal(first.search(query, k=5)[0], again.search(query, k=5)[0])
        np.testing.assert_allclose(first.search(query, k=5)[1], again.search(query, k=5)[1], rtol=1e-6)
    folder = next((tmp_path / "search").glob("occupations-lexical-*"))
    (folder / "idf.npy").write_bytes(b"damaged")
    rebuilt = cached_lexical_index(small, cache_dir=tmp_path)  # a damaged cache is rebuilt, not fatal
    np.testing.assert_array_equal(rebuilt.search("lasser", k=5)[0], first.search("lasser", k=5)[0])


def test_restricting_an_index_equals_fitting_on_fewer_labels(occupations) -> None:
    from features.search import LexicalIndex

    table, _ = occupations
    small = table.subset(table.owners < 400)
    keep = ~((small.owners % 3 == 0) & (small.langs == "nl"))
    restricted = LexicalIndex().fit(small).restricted(keep)
    fresh = LexicalIndex().fit(small.subset(keep))
    for query in ("lasser", "poetsvrouw", "manager", "zzqx", "ingenieur"):
        ours, theirs = restricted.search(query, k=5), fresh.search(query, k=5)
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5)


@pytest.mark.slow
def test_lexical_knows_only_what_it_indexed(occupations) -> None:
    table, _ = occupations
    from features.search import LexicalIndex

    welder = int(np.flatnonzero(table.names_en == "welder")[0])
    blind = LexicalIndex().fit(table.without_dutch([welder]))
    assert "welder" not in _top_english(table, blind.search("lasser", k=5), n=5)
    assert _top_english(table, blind.search("welder", k=5)) == ["welder"]


# --- labels, fusion, evaluation -------------------------------------------------------------------------------------

def test_label_table_holds_every_label_once_per_language(esco, occupations) -> None:
    table, _ = occupations
    row = esco.occupations[esco.occupations["label_en"] == "building cleaner"].iloc[0]
    concept = int(np.flatnonzero(table.uris == row["uri"])[0])
    texts = set(table.texts[table.owners == concept].tolist())
    assert {row["label_nl"], row["label_en"], *row["alt_labels_nl"], *row["alt_labels_en"]} == texts
    assert np.all(np.diff(table.owners) >= 0)


def test_competency_labels_joined_by_pipes_are_split(esco) -> None:
    from features.search import label_table

    table = label_table(esco, "competencies")
    assert not any("|" in text for text in table.texts.tolist())


def _concepts(**columns):
    from types import SimpleNamespace

    import pandas as pd

    frame = pd.DataFrame({"uri": [f"u{row}" for row in range(len(columns["label_nl"]))], **columns})
    return SimpleNamespace(occupations=frame)


def test_label_table_keeps_the_first_of_each_folded_label_per_language_in_source_order() -> None:
    from features.search import label_table

    taxonomy = _concepts(label_nl=["Kapper", None, "Café-uitbater"], label_en=["hairdresser", "cook", "café owner"],
                         alt_labels_nl=[["kapster | KAPPER", "  ", "kapster"], None, ["cafe uitbater", "Uitbaatster"]],
                         alt_labels_en=[["Hairdresser", "barber"], np.array(["chef", "Cook"], dtype=object), []])
    table = label_table(taxonomy, "occupations")
    rows = list(zip(table.owners.tolist(), table.langs.tolist(), table.texts.tolist(), table.preferred.tolist(),
                    strict=True))
    assert rows == [(0, "nl", "Kapper", True), (0, "en", "hairdresser", True), (0, "nl", "kapster", False),
                    (0, "en", "barber", False), (1, "en", "cook", True), (1, "en", "chef", False),
                    (2, "nl", "Café-uitbater", True), (2, "en", "café owner", True), (2, "nl", "Uitbaatster", False)]
    assert table.names_nl.tolist() == ["Kapper", "cook", "Café-uitbater"]


def test_label_table_refuses_a_label_column_that_is_not_text() -> None:
    from features.search import label_table

    taxonomy = _concepts(label_nl=["kok"], label_en=["cook"], alt_labels_nl=[[3, 4]], alt_labels_en=[[]])
    with pytest.raises(LoopbaanError, match="'alt_labels_nl' of the occupations holds values that are not text"):
        label_table(taxonomy, "occupations")


def test_score_fusion_keeps_exact_matches_on_top_and_floors_the_unlisted() -> None:
    from features.search.fusion import score_fusion

    lexical = (np.array([7, 3]), np.array([1.0, 0.4]))
    semantic = (np.array([3, 9, 7]), np.array([0.9, 0.8, 0.7]))
    concepts, scores = score_fusion(lexical, semantic, alpha=0.3)
    assert concepts.tolist() == [7, 3, 9]
    np.testing.assert_allclose(scores, [1.0 + 0.3 * 1.0 + 0.7 * 0.7, 0.3 * 0.4 + 0.7 * 0.9, 0.3 * 0.4 + 0.7 * 0.8])
    only_semantic, _ = score_fusion((np.array([], dtype=np.int64), np.array([])), semantic, alpha=0.3, limit=2)
    assert only_semantic.tolist() == [3, 9]
    exact_but_unliked, scores = score_fusion((np.array([4, 3]), np.array([1.0, 0.9])),
                                             (np.array([3, 9]), np.array([0.9, 0.8])), alpha=0.1)
    assert exact_but_unliked.tolist() == [4, 3, 9] and scores[0] > 1.0 > scores[1]  # an exact label comes first


def test_concept_split_is_seeded_and_disjoint() -> None:
    from features.search.evaluation import split_concepts

    split = split_concepts(1_000, seed=3)
    again = split_concepts(1_000, seed=3)
    assert all(np.array_equal(getattr(again, role), getattr(split, role)) for role in ("train", "valid", "test"))
    parts = [set(split.train.tolist()), set(split.valid.tolist()), set(split.test.tolist())]
    assert sum(map(len, parts)) == 1_000 and not (parts[0] & parts[1]) and not (parts[0] & parts[2])
    assert (len(parts[1]), len(parts[2])) == (100, 200)
    assert not np.array_equal(split_concepts(1_000, seed=4).test, split.test)


def test_held_out_regimes_hide_the_right_labels(occupations) -> None:
    from features.search.evaluation import heldout_queries, regime_index

    table, _ = occupations
    held = np.array([0, 5, 9])
    unseen_concepts = regime_index(table, held, "concepts")
    unseen_labels = regime_index(table, held, "labels")
    hidden = np.isin(unseen_concepts.owners, held)
    assert set(unseen_concepts.langs[hidden].tolist()) == {"en"}
    kept = unseen_labels.langs[np.isin(unseen_labels.owners, held)] == "nl"
    assert kept.sum() == 3 and np.all(unseen_labels.preferred[np.isin(unseen_labels.owners, held)][kept])
    queries, truth = heldout_queries(table, held, regime="labels")
    assert queries and set(truth.tolist()) <= set(held.tolist())
    assert not set(queries) & set(unseen_labels.texts[np.isin(unseen_labels.owners, held)].tolist())


def test_the_english_regime_hides_english_alternatives_from_the_index_and_the_vectors(occupations) -> None:
    from features.search.evaluation import heldout_queries, regime_rows
    from features.search.semantic import ConceptVectors

    table, _ = occupations
    held = np.array([0, 5, 9])
    keep = regime_rows(table, held, "english")
    hidden = ~keep
    assert hidden.any() and np.all(np.isin(table.owners[hidden], held))
    assert set(table.langs[hidden].tolist()) == {"en"} and not table.preferred[hidden].any()
    queries, truth = heldout_queries(table, held, regime="english")
    assert sorted(queries) == sorted(table.texts[hidden].tolist()) and set(truth.tolist()) <= set(held.tolist())

    rows = np.flatnonzero(table.langs == "en")  # one made-up vector per English label: the mean is checkable
    vectors = np.eye(len(rows), 8, dtype=np.float32) + np.arange(len(rows), dtype=np.float32)[:, None]
    starts = np.searchsorted(table.owners[rows], np.arange(table.n_concepts + 1))
    full = ConceptVectors(matrix=np.zeros((table.n_concepts, 8), np.float32), label_vectors=vectors, label_rows=rows,
                          starts=starts)
    restricted = full.restricted(table, keep)
    assert not np.isin(restricted.label_rows, np.flatnonzero(hidden)).any()
    for concept in (0, 5, 9, 1):
        own = vectors[(table.owners[rows] == concept) & keep[rows]].sum(axis=0)
        np.testing.assert_allclose(restricted.matrix[concept], own / np.linalg.norm(own), rtol=1e-5)


def test_the_slices_pick_gender_forms_and_specialties(esco, occupations) -> None:
    from features.search import label_table
    from features.search.evaluation import gender_form_flags, specialty_flags

    table, _ = occupations
    cleaner = int(np.flatnonzero(table.names_en == "building cleaner")[0])
    welder = int(np.flatnonzero(table.names_en == "welder")[0])
    keep = np.ones(len(table.texts), dtype=bool)
    flags = gender_form_flags(table, keep, ["poetsman", "lasster", "poetsman", "schoonmaak"],
                              np.array([cleaner, welder, welder, cleaner]))
    assert flags.tolist() == [True, True, False, False]  # "poetsman" is no welder's label in another form
    without = keep & ~((table.owners == cleaner) & np.isin([str(text).lower() for text in table.texts],
                                                            ["poetsvrouw", "poetsman"]))
    assert not gender_form_flags(table, without, ["poetsman"], np.array([cleaner]))[0]  # its pair is not indexed

    flags = specialty_flags(esco, table)
    links = esco.occupation_hierarchy
    narrower = set(links.loc[links["parent_type"] == "Occupation", "child_uri"])
    assert 0 < flags.sum() < table.n_concepts and set(table.uris[flags].tolist()) == narrower & set(table.uris)
    assert not specialty_flags(esco, label_table(esco, "competencies")).any()


def test_accuracy_counts_top1_and_top5() -> None:
    from features.search.evaluation import accuracy

    rankings = [np.array([1, 2, 3]), np.array([4, 5, 6, 7, 8, 9]), np.array([0])]
    assert accuracy(rankings, np.array([1, 9, 3])) == {"top1": 1 / 3, "top5": 1 / 3}
    assert accuracy(rankings, np.array([2, 8, 0])) == {"top1": 1 / 3, "top5": 1.0}


# --- bad input ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "message"), [("", "empty"), ("   ", "empty"), (None, "empty"),
                                                ("?!.,;", "no letters"), ("x" * 10_240, "10,240 characters")])
def test_bad_queries_say_what_to_type(query, message: str) -> None:
    from features.search import clean_query

    with pytest.raises(LoopbaanError, match=message):
        clean_query(query)


@pytest.mark.slow
def test_searcher_batches_report_bad_queries_without_failing(esco) -> None:
    from features.search import build_searcher

    searcher = build_searcher("occupations", taxonomy=esco, encoder=None, cache_dir=None)
    results = searcher.search_batch(["lasser", "", "?!", "x" * 10_240, "welder"], lang="en", k=3, mode="lexical")
    assert [bool(result.hits) for result in results] == [True, False, False, False, True]
    assert [result.error is None for result in results] == [True, False, False, False, True]
    assert results[0].hits[0].label == "welder" and results[0].hits[0].matched_label == "lasser"
    assert searcher.search("welder", lang="nl", k=1, mode="lexical")[0].label == "lasser"
    for bad, message in ((dict(lang="fr"), "unknown language"), (dict(k=0), "k must be"),
                         (dict(mode="fuzzy"), "unknown search mode")):
        with pytest.raises(LoopbaanError, match=message):
            searcher.search_batch(["lasser"], **{"lang": "nl", "k": 3, "mode": "lexical", **bad})
    with pytest.raises(LoopbaanError, match="empty"):
        searcher.search("  ")


# --- the CLI --------------------------------------------------------------------------------------------------------

def _cli(*args: str, stdin: str | None = None):
    from loopbaan_cli.main import app

    return runner.invoke(app, list(args), input=stdin)


def test_cli_occupation_search_prints_a_table_and_json() -> None:
    result = _cli("occupations", "search", "lasser", "--mode", "lexical", "--lang", "en", "-k", "3")
    assert result.exit_code == 0, result.output
    assert "welder" in result.stdout.splitlines()[0] and "(matched 'lasser')" in result.stdout
    result = _cli("occupations", "search", "poetsman", "--mode", "lexical", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["query"] == "poetsman" and record["lang"] == "nl" and record["error"] is None
    assert len(record["results"]) == 5 and record["results"][0]["rank"] == 1
    assert {"uri", "label", "matched_label", "score", "lexical", "semantic"} <= set(record["results"][0])
    assert record["results"][0]["uri"].startswith("http://data.europa.eu/esco/occupation/")


def test_cli_batch_writes_one_json_line_per_query(tmp_path: Path) -> None:
    queries = tmp_path / "queries.txt"
    queries.write_text("lasser\n\nwelder\n?!\nkapster\n" + "y" * 10_240 + "\n", encoding="utf-8")
    result = _cli("occupations", "search", "--input", str(queries), "--mode", "lexical", "-k", "2", "--lang", "en")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["line"] for record in records] == [1, 3, 4, 5, 6]  # the blank line 2 is skipped
    assert [record["results"][0]["label"] if record["results"] else None for record in records] == \
        ["welder", "welder", None, "hairdresser", None]
    assert all(len(record["results"]) == 2 for record in records if record["error"] is None)
    assert "no letters" in records[2]["error"] and "characters long" in records[4]["error"]
    assert "searched 5 queries (2 could not be searched" in result.stderr


@pytest.mark.slow
def test_cli_batch_reads_standard_input() -> None:
    result = _cli("competencies", "search", "--input", "-", "--mode", "lexical", "-k", "1", stdin="Java\nlassen\n")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0]["results"][0]["uri"].startswith("http://data.europa.eu/esco/skill/")
    assert records[0]["kind"] == "competencies" and len(records) == 2


@pytest.mark.parametrize(("args", "message"), [
    (("occupations", "search", "lasser", "--lang", "fr"), "unknown language 'fr'"),
    (("occupations", "search", ""), "the query is empty"),
    (("occupations", "search", "?!?"), "no letters"),
    (("occupations", "search", "z" * 10_240), "10,240 characters long"),
    (("occupations", "search", "lasser", "-k", "0"), "k must be between 1 and 100"),
    (("occupations", "search"), "give either a QUERY or --input FILE"),
    (("competencies", "search", "Java", "--input", "x.txt"), "not both"),
    (("occupations", "search", "--input", "/nonexistent/queries.txt"), "cannot read the input file"),
])
def test_cli_bad_input_is_a_clear_message_and_exit_2(args, message: str) -> None:
    result = _cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_cli_input_that_is_not_text_or_a_folder(tmp_path: Path) -> None:
    binary = tmp_path / "queries.bin"
    binary.write_bytes(b"lasser\n\xff\xfe\x00garbage\n")
    result = _cli("occupations", "search", "--input", str(binary), "--mode", "lexical")
    assert result.exit_code == 2 and "not UTF-8 text" in result.stderr
    result = _cli("occupations", "search", "--input", str(tmp_path), "--mode", "lexical")
    assert result.exit_code == 2 and "cannot read the input file" in result.stderr


def test_cli_help_explains_the_commands() -> None:
    for kind in ("occupations", "competencies"):
        result = _cli(kind, "search", "--help")
        assert result.exit_code == 0
        assert "--input" in result.stdout and "--lang" in result.stdout and "hybrid" in result.stdout


def test_cli_prepare_refuses_a_cache_folder_it_cannot_write_before_any_work(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("", encoding="utf-8")
    result = _cli("taxonomy", "prepare", "--cache", str(not_a_folder / "cache"), "--quiet")
    assert result.exit_code == 2
    assert "cannot be written" in result.stderr and "--cache" in result.stderr
    assert "ready in" not in result.stdout  # refused before embedding anything


@pytest.mark.slow  # embeds a few hundred labels with the MiniLM
def test_cli_prepare_fills_the_cache_once_and_a_rerun_finds_everything_there(tmp_path: Path, small_taxonomy,
                                                                              monkeypatch) -> None:
    import features.esco

    monkeypatch.setattr(features.esco, "load_esco", lambda *args, **kwargs: small_taxonomy)
    first = _cli("taxonomy", "prepare", "--cache", str(tmp_path / "prepared"), "--quiet")
    assert first.exit_code == 0, first.output
    assert "competency embeddings: ready in" in first.stdout and first.stdout.rstrip().endswith(" s")
    entries = sorted(path.name.split("-")[0] for path in (tmp_path / "prepared" / "search").iterdir())
    assert entries == ["competencies", "competencies", "occupations", "occupations"]  # an index and vectors each

    def computed(*args, **kwargs):
        raise AssertionError("computed again although it was there")

    from features.search import LexicalIndex
    from features.search.encoders import SearchEncoder

    monkeypatch.setattr(LexicalIndex, "fit", computed)
    monkeypatch.setattr(SearchEncoder, "encode", computed)
    monkeypatch.setattr("features.minilm.encode", computed)
    again = _cli("taxonomy", "prepare", "--cache", str(tmp_path / "prepared"), "--quiet")
    assert again.exit_code == 0, again.output


@pytest.mark.slow  # embeds a few hundred labels with the MiniLM
def test_a_new_home_reads_the_prepared_indexes_and_embeds_nothing(tmp_path: Path, small_taxonomy,
                                                                    monkeypatch) -> None:
    from features.minilm import competency_embeddings
    from features.prepared_cache import prepare
    from features.search import LexicalIndex, build_searcher
    from features.search.encoders import SearchEncoder, base_encoder

    prepared, home_cache = tmp_path / "prepared", tmp_path / "home-cache"
    monkeypatch.setenv("LOOPBAAN_PREPARED_CACHE", str(prepared))
    seconds = prepare(small_taxonomy, cache_dir=prepared, progress=False)
    assert set(seconds) == {"occupations lexical index", "occupations concept vectors", "competencies lexical index",
                            "competencies concept vectors", "competency embeddings"}
    expected = {kind: build_searcher(kind, taxonomy=small_taxonomy, encoder=base_encoder(), cache_dir=prepared)
                .search("lasser" if kind == "occupations" else "lassen", k=3) for kind in ("occupations", "competencies")}
    vectors = competency_embeddings(small_taxonomy, cache_dir=prepared)

    def computed(*args, **kwargs):
        raise AssertionError("computed again instead of read from the prepared cache")

    monkeypatch.setattr(LexicalIndex, "fit", computed)
    monkeypatch.setattr(SearchEncoder, "encode", computed)
    monkeypatch.setattr("features.minilm.encode", computed)
    for kind, hits in expected.items():
        searcher = build_searcher(kind, taxonomy=small_taxonomy, encoder=base_encoder(), cache_dir=home_cache)
        assert searcher.search("lasser" if kind == "occupations" else "lassen", k=3) == hits
    np.testing.assert_array_equal(competency_embeddings(small_taxonomy, cache_dir=home_cache), vectors)
    assert not home_cache.exists()  # read, nothing written into the home

    monkeypatch.setenv("LOOPBAAN_PREPARED_CACHE", str(tmp_path / "not-prepared"))  # another install: nothing there
    with pytest.raises(AssertionError, match="computed again"):
        build_searcher("occupations", taxonomy=small_taxonomy, encoder=base_encoder(), cache_dir=home_cache)


def test_a_cached_lexical_index_answers_gender_forms_without_folding_its_labels_again(tmp_path: Path, occupations,
                                                                                      monkeypatch) -> None:
    from features.search import cached_lexical_index, lexical

    table, _ = occupations
    small = table.subset(table.owners < 300)
    fitted = cached_lexical_index(small, cache_dir=tmp_path)
    folded = fitted.folded_rows()
    loaded = cached_lexical_index(small, cache_dir=tmp_path)
    with monkeypatch.context() as patched:
        patched.setattr(lexical, "fold", lambda text: pytest.fail(f"folded {text!r} again"))
        assert loaded.folded_rows() == folded  # read with the index, not folded again on the first query
    for query in ("poetsman", "lasster", "kapster"):
        np.testing.assert_array_equal(loaded.search(query, k=5)[0], fitted.search(query, k=5)[0])
    folder = next((tmp_path / "search").glob("occupations-lexical-*"))
    (folder / "folded.json").write_text("[]", encoding="utf-8")  # labels that do not match the index: refit
    assert cached_lexical_index(small, cache_dir=tmp_path).folded_rows() == folded


def test_cold_start_title_matching_still_works(esco) -> None:
    from features.title_matching import title_matcher

    matcher = title_matcher(esco)
    assert matcher.search("poetsman", k=1)[0].uri == esco.occupations.loc[
        esco.occupations["label_en"] == "building cleaner", "uri"].iloc[0]
    with pytest.raises(LoopbaanError, match="empty"):
        matcher.search("?!")


# --- encoders (slow: they run the MiniLM) ---------------------------------------------------------------------------

@pytest.mark.slow
def test_hybrid_search_without_a_registered_encoder_falls_back_with_a_note(small_taxonomy, monkeypatch) -> None:
    import features.esco

    monkeypatch.setattr(features.esco, "load_esco", lambda *args, **kwargs: small_taxonomy)
    result = _cli("occupations", "search", "welder", "--json")
    assert result.exit_code == 0, result.output
    assert "no loopbaan-encoder is registered yet" in result.stderr
    record = json.loads(result.stdout)
    assert record["results"][0]["label"] == "lasser"
    assert record["results"][0]["semantic"] is not None and record["results"][0]["lexical"] is not None


@pytest.mark.slow
def test_quick_encoder_training_registers_a_challenger_the_search_then_uses(small_taxonomy, monkeypatch,
                                                                             isolated_home: Path) -> None:
    import mlflow

    import features.esco
    from features.search import build_searcher
    from features.settings import Settings
    from models import tracking
    from models.encoder_registry import search_encoder
    from models.encoder_training import QUICK, train_encoder

    settings = Settings()
    assert settings.home == isolated_home
    lines: list[str] = []
    result = train_encoder(settings=settings, quick=True, progress=False, echo=lines.append)
    assert result.version == "1" and result.params["quick"] is True
    assert result.params["concept_sample"] == QUICK.concept_sample
    for system in ("lexical", "untuned", "tuned", "hybrid"):
        assert 0.0 <= result.metrics[f"test_nl_{system}_top5"] <= 1.0
        assert result.metrics[f"test_nl_{system}_top1"] <= result.metrics[f"test_nl_{system}_top5"]
    assert any("held-out concepts" in line for line in lines)
    assert result.params["bfloat16"] is True and result.metrics["fit_bfloat16"] in (0.0, 1.0)

    client = tracking.configure(settings)
    version = client.get_model_version_by_alias("loopbaan-encoder", tracking.CHALLENGER)
    assert str(version.version) == "1"
    run = client.get_run(result.run_id)
    assert run.data.params["method"] == "asymmetric multilingual distillation"
    assert "concepts_test_occupations_hybrid_top5" in run.data.metrics
    assert {"english_test_occupations_untuned_top5", "labels_test_competencies_hybrid_top1"} <= set(run.data.metrics)
    assert {"gender_forms_test_occupations_queries", "specialties_test_occupations_queries"} <= set(run.data.metrics)
    assert "test_en_hybrid_top5" in result.metrics
    assert mlflow.artifacts.load_text(f"runs:/{result.run_id}/heldout_accuracy.txt").startswith("Dutch labels")

    resolved = search_encoder(settings=settings)
    assert resolved.note is None and resolved.version == "1" and resolved.encoder.tuned
    assert set(resolved.alphas) == {"occupations", "competencies"}
    # the registered folder answers queries on the NumPy forward, with the vectors sentence-transformers gives
    assert resolved.encoder._forward is not None and resolved.encoder._model is None
    queries = ["lasser", "schoonmaker gebouwen"]
    sentence_transformers = resolved.encoder.model.encode(queries, normalize_embeddings=True)
    assert np.abs(resolved.encoder.encode_queries(queries) - sentence_transformers).max() < 1e-5
    searcher = build_searcher("occupations", taxonomy=small_taxonomy, encoder=resolved.encoder,
                          cache_dir=settings.cache_dir, alpha=resolved.alphas["occupations"])
    assert searcher.search("lasser", lang="en", k=3)[0].label == "welder"
    assert "loopbaan-encoder version 1" in searcher.encoder_description

    monkeypatch.setattr(features.esco, "load_esco", lambda *args, **kwargs: small_taxonomy)
    cli = _cli("occupations", "search", "poetsvrouw", "--json", "--lang", "en")
    assert cli.exit_code == 0, cli.output
    assert "registered yet" not in cli.stderr
    hits = json.loads(cli.stdout)["results"]
    assert hits[0]["label"] == "building cleaner" and hits[0]["lexical"] > 0.99
    assert any(hit["semantic"] is not None for hit in hits)


def test_search_encoder_on_an_empty_home_is_the_untuned_minilm_and_creates_nothing(isolated_home: Path,
                                                                                  monkeypatch) -> None:
    from features.settings import Settings
    from models import encoder_registry

    monkeypatch.setattr(encoder_registry, "base_encoder", lambda: "untuned")
    resolved = encoder_registry.search_encoder(settings=Settings())
    assert resolved.encoder == "untuned" and "no loopbaan-encoder is registered" in resolved.note
    assert not (isolated_home / "mlflow.db").exists()


def _occupation_training_data(esco, *, sample: int, seed: int, matrix, label_vectors):
    """Training data of a seeded sample of occupations, with the given concept and label vectors (no descriptions)."""
    from features.search import label_table
    from features.search.distillation import sampled, training_data
    from features.search.evaluation import split_concepts
    from features.search.semantic import ConceptVectors

    table = sampled(label_table(esco, "occupations"), sample=sample, seed=seed)
    split = split_concepts(table.n_concepts, seed=seed)
    vectors = ConceptVectors(matrix=matrix(table), label_vectors=label_vectors(table),
                             label_rows=np.arange(len(table.texts)),
                             starts=np.searchsorted(table.owners, np.arange(table.n_concepts + 1)))
    data = training_data({"occupations": table}, {"occupations": vectors}, {"occupations": split.train},
                         {"occupations": {}})
    return table, split, data


def test_training_examples_come_from_training_concepts_only(esco) -> None:
    table, split, data = _occupation_training_data(
        esco, sample=60, seed=1, matrix=lambda table: np.eye(table.n_concepts, 8, dtype=np.float32),
        label_vectors=lambda table: np.ones((len(table.texts), 8), dtype=np.float32))
    held_out_dutch = set(table.dutch_labels(split.held_out)[0].tolist()) - set(
        table.dutch_labels(split.train)[0].tolist())
    texts = {example.text for example in [*data.dutch, *data.english]}
    assert data.dutch and not texts & held_out_dutch
    assert data.classes.shape == (len(split.train), 8)
    assert max(example.concept for example in data.dutch) < len(split.train)
    assert {example.source for example in data.dutch} == {"nl-label"}  # no descriptions were given


def test_bfloat16_training_follows_float32_and_says_which_ran(esco) -> None:
    from dataclasses import replace

    from features.search.distillation import EncoderConfig, fit, student
    from features.search.encoders import native_bfloat16

    def unit_rows(table):
        matrix = np.random.default_rng(3).normal(size=(table.n_concepts, 384)).astype(np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)

    _, _, data = _occupation_training_data(esco, sample=40, seed=3, matrix=unit_rows,
                                           label_vectors=lambda table: unit_rows(table)[table.owners])
    config = EncoderConfig(epochs=1, batch_size=16, max_examples=64, final_pass=False)
    losses = {}
    for bfloat16 in (False, True):
        result = fit(student(layers=1, max_tokens=16), data, config=replace(config, bfloat16=bfloat16), seed=3,
                     progress=False, echo=lambda line: None)
        assert result["fit_steps"] == 4 and result["fit_stopped_early"] == 0.0
        assert result["fit_bfloat16"] == float(bfloat16 and native_bfloat16())
        losses[bfloat16] = result["fit_loss_epoch_1"]
    # the same batches from the same start: bfloat16 products may round, not change what is learned
    assert np.isfinite(losses[True]) and losses[True] == pytest.approx(losses[False], rel=0.01)
