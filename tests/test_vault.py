"""The citizens' vault on SQLite and PostgreSQL: migrations, import and export, the service's API, bad input,
concurrency, the append-only audit trail."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from features.population.schema import SCHEMAS
from tests.vault_fixtures import (KEY, blank_url, empty_vault_url, pg_cluster, vault,  # noqa: F401 - fixtures
                                  vault_template, vault_url)


def _store(folder: Path):
    from features.population import PopulationStore

    return PopulationStore(folder)


def _unheld_competency(vault, citizen_id: int) -> str:
    """A competency of the taxonomy the citizen does not hold yet."""
    context = vault.context(citizen_id=citizen_id)
    held = set(context.profile.indices.tolist())
    uris = vault.taxonomy.competencies["uri"].to_numpy()
    return str(next(uris[column] for column in range(100, len(uris)) if column not in held))


def _assert_contexts_equal(left, right) -> None:
    pd.testing.assert_frame_equal(left.queries, right.queries)
    assert (left.profile != right.profile).nnz == 0
    assert abs(left.experience - right.experience).max() == 0 if left.experience.nnz else right.experience.nnz == 0
    np.testing.assert_array_equal(left.last_occupation, right.last_occupation)
    np.testing.assert_array_equal(left.years_since_last_job, right.years_since_last_job)
    np.testing.assert_array_equal(left.target_occupation, right.target_occupation)


# -- migrations and opening ----------------------------------------------------------------------------------

def test_the_migrations_create_exactly_the_models(empty_vault_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from features.vault.schema import Base

    engine = create_engine(empty_vault_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_a_missing_vault_names_the_command_to_run_and_is_not_created(blank_url):
    from features.vault.database import open_engine
    from features.vault.errors import VaultNotReady

    with pytest.raises(VaultNotReady, match="loopbaan vault upgrade"):
        open_engine(blank_url)
    if blank_url.startswith("sqlite"):
        assert not Path(blank_url.removeprefix("sqlite:///")).exists()


def test_a_vault_at_an_older_or_unknown_migration_is_refused_with_the_command(empty_vault_url, monkeypatch):
    from features.vault import database
    from features.vault.errors import VaultNotReady

    assert database.open_engine(empty_vault_url) is not None
    head = database.head_revision()
    monkeypatch.setattr(database, "head_revision", lambda: "9999")  # as if this version needed a newer schema
    with pytest.raises(VaultNotReady, match=rf"at migration {head}.*needs 9999: run `loopbaan vault upgrade`"):
        database.open_engine(empty_vault_url)
    monkeypatch.undo()
    engine = create_engine(empty_vault_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    engine.dispose()
    with pytest.raises(VaultNotReady, match="does not know"):
        database.open_engine(empty_vault_url)


def test_an_unreachable_database_says_so(tmp_path):
    from features.vault.database import open_engine
    from features.vault.errors import VaultNotReady

    with pytest.raises(VaultNotReady, match="cannot be reached.*LOOPBAAN_DATABASE_URL"):
        open_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_the_settings_point_at_sqlite_in_home_unless_a_database_url_is_given(tmp_path, monkeypatch):
    from features.settings import Settings

    assert Settings(home=tmp_path).vault_url == f"sqlite:///{tmp_path.as_posix()}/vault.db"
    monkeypatch.setenv("LOOPBAAN_DATABASE_URL", "postgresql+psycopg://u@db/vault")
    assert Settings(home=tmp_path).vault_url == "postgresql+psycopg://u@db/vault"


# -- import and export ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_an_unmodified_vault_exports_the_population_it_was_imported_from(vault_url, small_population_dir, tmp_path):
    from features.vault.database import open_engine
    from features.vault.export import export_snapshot
    from features.vault.snapshot import read_feedback

    engine = open_engine(vault_url)
    summary = export_snapshot(engine=engine, source=_store(small_population_dir), out=tmp_path / "snap",
                              progress=False)
    engine.dispose()
    source, exported = _store(small_population_dir), _store(summary.folder)
    for name in SCHEMAS:
        pd.testing.assert_frame_equal(exported.table(name), source.table(name), check_categorical=False,
                                      obj=name)
    assert read_feedback(summary.folder).empty
    assert exported.manifest["config"] == source.manifest["config"]


def test_the_vault_holds_no_sensitive_attribute(vault_url):
    from features.population.schema import SENSITIVE_COLUMNS
    from features.vault.schema import Base

    columns = {column.name for table in Base.metadata.tables.values() for column in table.columns}
    assert not columns & set(SENSITIVE_COLUMNS)


def test_a_second_import_changes_nothing_and_keeps_what_citizens_added(vault, vault_url, small_population_dir):
    from features.vault.database import open_engine
    from features.vault.importer import import_population

    uri = _unheld_competency(vault, 5)
    vault.add_competency(citizen_id=5, competency_uri=uri, revision=vault.revision(citizen_id=5))
    engine = open_engine(vault_url)
    summary = import_population(engine=engine, store=_store(small_population_dir), progress=False)
    engine.dispose()
    assert (summary.imported, summary.already_there) == (0, summary.total)
    assert uri in {entry.competency_uri for entry in vault.entries(citizen_id=5)}


def test_importing_another_population_into_a_filled_vault_is_refused(vault_url, tmp_path):
    from features.errors import LoopbaanError
    from features.population import PopulationConfig, generate_to
    from features.vault.database import open_engine
    from features.vault.importer import import_population

    other = tmp_path / "other"
    generate_to(PopulationConfig(citizens=60, seed=3, vacancies=20, trainings=20), out=other, progress=False)
    engine = open_engine(vault_url)
    with pytest.raises(LoopbaanError, match="another population"):
        import_population(engine=engine, store=_store(other), progress=False)
    engine.dispose()


def test_an_export_of_an_unfinished_import_is_refused(vault_url, small_population_dir, tmp_path):
    from features.errors import LoopbaanError
    from features.vault.database import open_engine
    from features.vault.export import export_snapshot

    engine = create_engine(vault_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE import_runs SET finished_at = NULL"))
    engine.dispose()
    engine = open_engine(vault_url)
    with pytest.raises(LoopbaanError, match="did not finish.*loopbaan vault import"):
        export_snapshot(engine=engine, source=_store(small_population_dir), out=tmp_path / "snap", progress=False)
    engine.dispose()
    assert not (tmp_path / "snap").exists()


# -- contexts and career data --------------------------------------------------------------------------------

def test_the_vaults_contexts_equal_the_snapshots_for_every_unmodified_citizen(vault, small_population_dir):
    from features.citizens import contexts_from_store

    store = _store(small_population_dir)
    ids = store.table("citizens")["citizen_id"].to_numpy()
    for as_of in (vault.today, date(2019, 3, 1)):
        _assert_contexts_equal(vault.contexts(citizen_ids=ids, as_of=as_of),
                               contexts_from_store(store=store, taxonomy=vault.taxonomy, citizen_ids=ids, as_of=as_of))
    for citizen_id in ids[::97]:  # the one-citizen path the service takes
        _assert_contexts_equal(vault.context(citizen_id=int(citizen_id)),
                               contexts_from_store(store=store, taxonomy=vault.taxonomy,
                                                   citizen_ids=np.array([citizen_id]), as_of=vault.today))


def test_the_career_data_page_equals_the_snapshots_and_carries_the_revision(vault, small_population_dir):
    from features.career_data import CareerRecords

    records = CareerRecords.of(store=_store(small_population_dir), taxonomy=vault.taxonomy)
    for citizen_id in range(1, 1500, 149):
        for language in ("nl", "en"):
            page = vault.career_data(citizen_id=citizen_id, language=language)
            assert page.career == records.citizen(citizen_id, as_of=vault.today, language=language)
            assert page.revision == 0


def test_an_unknown_citizen_is_refused(vault):
    from features.vault.errors import UnknownCitizen

    for call in (lambda: vault.context(citizen_id=999_999), lambda: vault.revision(citizen_id=999_999),
                 lambda: vault.opted_out(citizen_id=999_999), lambda: vault.feedback(citizen_id=999_999),
                 lambda: vault.add_competency(citizen_id=999_999, competency_uri=vault.taxonomy.competencies["uri"][0],
                                              revision=0)):
        with pytest.raises(UnknownCitizen, match="999999 is not in the vault"):
            call()


# -- what the citizen adds ---------------------------------------------------------------------------------

def test_a_self_declared_competency_joins_the_context_and_its_removal_restores_it(vault, small_population_dir):
    from features.citizens import contexts_from_store

    store = _store(small_population_dir)
    before = contexts_from_store(store=store, taxonomy=vault.taxonomy, citizen_ids=np.array([12]), as_of=vault.today)
    uri = _unheld_competency(vault, 12)
    change = vault.add_competency(citizen_id=12, competency_uri=uri, revision=0)
    assert change.revision == 1
    column = vault.taxonomy.competency_index.get_loc(uri)
    after = vault.context(citizen_id=12)
    assert after.profile[0, column] == 1 and (after.profile != before.profile).nnz == 1
    page = vault.career_data(citizen_id=12)
    added = next(entry for entry in page.career.competencies if entry["id"] == uri)
    assert added["sources"] == [{"source": "self-declared", "reference": "zelf opgegeven",
                                 "date": vault.today.isoformat(), "proficiency": None}]
    assert [entry.entry_id for entry in page.entries if entry.competency_uri == uri] == [change.entry_id]
    removed = vault.remove_entry(citizen_id=12, entry_id=change.entry_id, revision=1)
    assert removed.revision == 2
    _assert_contexts_equal(vault.context(citizen_id=12), before)


def test_a_competency_declared_after_the_context_date_does_not_count_before_it(vault):
    uri = _unheld_competency(vault, 20)
    vault.add_competency(citizen_id=20, competency_uri=uri, revision=0, on=date(2024, 5, 1))
    column = vault.taxonomy.competency_index.get_loc(uri)
    assert vault.context(citizen_id=20, as_of=date(2024, 4, 30)).profile[0, column] == 0
    assert vault.context(citizen_id=20, as_of=date(2024, 5, 1)).profile[0, column] == 1


def test_records_the_citizen_adds_give_self_declared_evidence(vault, small_population_dir):
    from features.vault import AssessmentResult, CompletedCourse, DiplomaObtained

    store = _store(small_population_dir)
    taught = store.table("training_competencies")
    training = int(taught["training_id"].iloc[0])
    teaches = set(taught.loc[taught["training_id"] == training, "competency_uri"])
    diploma = int(store.table("diploma_competencies")["diploma_id"].iloc[0])
    low, high = _unheld_competency(vault, 30), vault.taxonomy.competencies["uri"].iloc[7]
    revision = 0
    for record in (CompletedCourse(training_id=training, completed_on=date(2025, 1, 10)),
                   DiplomaObtained(diploma_id=diploma, obtained_on=date(2020, 6, 30)),
                   AssessmentResult(name="oriëntatietest", competency_uri=low, proficiency=1,
                                    taken_on=date(2026, 1, 2)),
                   AssessmentResult(name="oriëntatietest", competency_uri=high, proficiency=3,
                                    taken_on=date(2026, 1, 2))):
        revision = vault.add_record(citizen_id=30, record=record, revision=revision).revision
    page = vault.career_data(citizen_id=30)
    sources = {(entry["id"], part["source"], part["reference"]) for entry in page.career.competencies
               for part in entry["sources"]}
    title = store.table("trainings").set_index("training_id").at[training, "title_nl"]
    assert {(uri, "self-declared", title) for uri in teaches} <= sources
    assert (high, "self-declared", "zelf opgegeven") in sources
    assert not any(uri == low and source == "self-declared" for uri, source, _ in sources)  # proficiency 1 is not held
    assert training in [entry["training_id"] for entry in page.career.trainings]
    assert {entry.record_type for entry in page.entries} >= {"training", "diploma", "assessment"}


def test_what_the_citizen_added_is_exported_as_self_declared_evidence(vault, vault_url, small_population_dir,
                                                                      tmp_path):
    from features.vault import CompletedCourse
    from features.vault.database import open_engine
    from features.vault.export import export_snapshot

    store = _store(small_population_dir)
    uri = _unheld_competency(vault, 40)
    vault.add_competency(citizen_id=40, competency_uri=uri, revision=0)
    training = int(store.table("training_competencies")["training_id"].iloc[0])
    vault.add_record(citizen_id=40, record=CompletedCourse(training_id=training, completed_on=date(2025, 2, 2)),
                     revision=1)
    vault.record_consent(citizen_id=40, opted_out=True)
    engine = open_engine(vault_url)
    exported = _store(export_snapshot(engine=engine, source=store, out=tmp_path / "snap", progress=False).folder)
    engine.dispose()
    declared = exported.table("self_declared")
    assert ((declared["citizen_id"] == 40) & (declared["competency_uri"] == uri)).sum() == 1
    pd.testing.assert_frame_equal(exported.table("training_records"), store.table("training_records"))
    profiles = exported.table("profiles")
    mine = profiles[(profiles["citizen_id"] == 40) & (profiles["source"] == "self-declared")]
    assert {uri, *store.table("training_competencies").query("training_id == @training")["competency_uri"]} \
        == set(mine["competency_uri"].astype(str))
    assert bool(exported.table("citizens").set_index("citizen_id").at[40, "ai_opt_out"])
    pd.testing.assert_frame_equal(exported.table("job_outcomes"), store.table("job_outcomes"))


# -- bad input -----------------------------------------------------------------------------------------------

def _counts(url: str) -> tuple[int, int, int]:
    engine = create_engine(url)
    with engine.connect() as connection:
        counts = tuple(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                       for table in ("career_records", "competency_evidence", "audit_trail"))
    engine.dispose()
    return counts


def test_bad_entries_are_refused_clearly_and_change_nothing(vault, vault_url, monkeypatch):
    from features.vault import AssessmentResult, AuditLine, CompletedCourse, DiplomaObtained
    from features.vault import errors as vault_errors
    from features.vault import store as vault_store

    uri = _unheld_competency(vault, 50)
    vault.add_competency(citizen_id=50, competency_uri=uri, revision=0)
    before = _counts(vault_url)
    audit = AuditLine(endpoint="me.competencies", status=200, citizen_id=50)
    tomorrow = vault.today + timedelta(days=1)
    refused = [
        (vault_errors.InvalidEntry, "unknown competency id", lambda: vault.add_competency(
            citizen_id=50, competency_uri="http://data.europa.eu/esco/skill/not-a-skill", revision=1, audit=audit)),
        (vault_errors.DuplicateEntry, "already added", lambda: vault.add_competency(
            citizen_id=50, competency_uri=uri, revision=1, audit=audit)),
        (vault_errors.InvalidEntry, "after today", lambda: vault.add_competency(
            citizen_id=50, competency_uri=vault.taxonomy.competencies["uri"].iloc[3], revision=1, on=tomorrow)),
        (vault_errors.InvalidEntry, "before 1940", lambda: vault.add_competency(
            citizen_id=50, competency_uri=vault.taxonomy.competencies["uri"].iloc[3], revision=1,
            on=date(1900, 1, 1))),
        (vault_errors.EntryTooLarge, "at most 200", lambda: vault.add_record(
            citizen_id=50, revision=1, record=AssessmentResult(name="x" * 201, competency_uri=uri, proficiency=3,
                                                               taken_on=date(2025, 1, 1)))),
        (vault_errors.InvalidEntry, "0 to 4", lambda: vault.add_record(
            citizen_id=50, revision=1, record=AssessmentResult(name="t", competency_uri=uri, proficiency=9,
                                                               taken_on=date(2025, 1, 1)))),
        (vault_errors.InvalidEntry, "not in the training catalogue", lambda: vault.add_record(
            citizen_id=50, revision=1, record=CompletedCourse(training_id=10**9, completed_on=date(2025, 1, 1)))),
        (vault_errors.InvalidEntry, "not in the diploma catalogue", lambda: vault.add_record(
            citizen_id=50, revision=1, record=DiplomaObtained(diploma_id=10**9, obtained_on=date(2025, 1, 1)))),
        (vault_errors.InvalidEntry, "is not in your career data", lambda: vault.remove_entry(
            citizen_id=50, entry_id=10**12, revision=1)),
    ]
    for error, message, call in refused:
        with pytest.raises(error, match=message):
            call()
    monkeypatch.setattr(vault_store, "MAX_OWN_ENTRIES", 1)
    with pytest.raises(vault_errors.EntryTooLarge, match="the most the vault keeps"):
        vault.add_competency(citizen_id=50, competency_uri=vault.taxonomy.competencies["uri"].iloc[3], revision=1)
    assert _counts(vault_url) == before
    assert vault.revision(citizen_id=50) == 1


def test_only_what_the_citizen_added_can_be_removed(vault, vault_url):
    from features.vault.errors import NotRemovable

    engine = create_engine(vault_url)
    with engine.connect() as connection:
        work = connection.execute(text("SELECT id FROM career_records WHERE citizen_id = 1 AND "
                                       "record_type = 'work_period' LIMIT 1")).scalar_one()
    engine.dispose()
    with pytest.raises(NotRemovable, match="came from authentic"):
        vault.remove_entry(citizen_id=1, entry_id=work, revision=0)
    assert vault.revision(citizen_id=1) == 0


def test_an_imported_self_declared_competency_can_be_removed_with_its_evidence(vault, small_population_dir):
    declared = _store(small_population_dir).table("self_declared")
    citizen_id, uri = int(declared["citizen_id"].iloc[0]), declared["competency_uri"].iloc[0]
    column = vault.taxonomy.competency_index.get_loc(uri)
    entry = next(entry for entry in vault.entries(citizen_id=citizen_id) if entry.competency_uri == uri)
    evidence = [part for item in vault.career_data(citizen_id=citizen_id).career.competencies if item["id"] == uri
                for part in item["sources"]]
    vault.remove_entry(citizen_id=citizen_id, entry_id=entry.entry_id, revision=0)
    remaining = [part for item in vault.career_data(citizen_id=citizen_id).career.competencies if item["id"] == uri
                 for part in item["sources"]]
    assert [part for part in evidence if part["source"] != "self-declared"] == remaining
    assert vault.context(citizen_id=citizen_id).profile[0, column] == (1 if remaining else 0)


# -- two tabs ------------------------------------------------------------------------------------------------

def test_a_stale_revision_gets_a_conflict_and_loses_nothing(vault, vault_url):
    from features.vault.errors import RevisionConflict

    first, second = _unheld_competency(vault, 60), vault.taxonomy.competencies["uri"].iloc[11]
    opened = vault.revision(citizen_id=60)  # both tabs read the page at this revision
    vault.add_competency(citizen_id=60, competency_uri=first, revision=opened)
    before = _counts(vault_url)
    with pytest.raises(RevisionConflict, match="changed elsewhere.*Reload") as refused:
        vault.add_competency(citizen_id=60, competency_uri=second, revision=opened)
    assert refused.value.current == opened + 1
    assert _counts(vault_url) == before
    assert [entry.competency_uri for entry in vault.entries(citizen_id=60)
            if entry.record_type == "competency"][-1] == first


def test_two_tabs_writing_at_the_same_moment_one_wins_the_other_is_told(vault):
    from features.vault.errors import RevisionConflict

    uris = [vault.taxonomy.competencies["uri"].iloc[column] for column in (21, 22, 23, 24)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(uris))

    def tab(uri: str) -> None:
        barrier.wait()
        try:
            vault.add_competency(citizen_id=70, competency_uri=uri, revision=0)
            outcomes.append("saved")
        except RevisionConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=tab, args=(uri,)) for uri in uris]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["conflict"] * 3 + ["saved"]
    assert vault.revision(citizen_id=70) == 1


# -- consent, feedback, audit --------------------------------------------------------------------------------

def test_the_consent_choice_defaults_to_the_population_and_the_latest_choice_holds(vault, small_population_dir):
    citizens = _store(small_population_dir).table("citizens").set_index("citizen_id")["ai_opt_out"]
    opted = int(citizens[citizens].index[0])
    assert vault.opted_out(citizen_id=opted) is True
    assert vault.opted_out(citizen_id=2) is bool(citizens[2])
    vault.record_consent(citizen_id=2, opted_out=True)
    vault.record_consent(citizen_id=2, opted_out=False)
    vault.record_consent(citizen_id=opted, opted_out=False)
    assert (vault.opted_out(citizen_id=2), vault.opted_out(citizen_id=opted)) == (False, False)


def test_feedback_is_kept_per_citizen_kind_and_item_and_can_be_taken_back(vault):
    from features.vault.errors import DuplicateEntry, EntryTooLarge, InvalidEntry

    vault.record_feedback(citizen_id=80, kind="jobs", item_id="17", reason="too_far")
    vault.record_feedback(citizen_id=80, kind="trainings", item_id="17", reason="other", note="te duur")
    vault.record_feedback(citizen_id=81, kind="jobs", item_id="17", reason="not_interested")
    assert vault.dismissed(citizen_id=80, kind="jobs") == {"17"}
    assert [(item.kind, item.reason, item.note) for item in vault.feedback(citizen_id=80)] == [
        ("jobs", "too_far", None), ("trainings", "other", "te duur")]
    with pytest.raises(DuplicateEntry, match="already said why"):
        vault.record_feedback(citizen_id=80, kind="jobs", item_id="17", reason="tried_before")
    with pytest.raises(InvalidEntry, match="unknown reason"):
        vault.record_feedback(citizen_id=80, kind="jobs", item_id="18", reason="boring")
    with pytest.raises(InvalidEntry, match="unknown kind"):
        vault.record_feedback(citizen_id=80, kind="houses", item_id="18", reason="other")
    with pytest.raises(EntryTooLarge, match="the note"):
        vault.record_feedback(citizen_id=80, kind="jobs", item_id="18", reason="other", note="x" * 501)
    vault.delete_feedback(citizen_id=80, kind="jobs", item_id="17")
    assert vault.dismissed(citizen_id=80, kind="jobs") == frozenset()
    with pytest.raises(InvalidEntry, match="no feedback of yours"):
        vault.delete_feedback(citizen_id=80, kind="jobs", item_id="17")
    assert vault.dismissed(citizen_id=81, kind="jobs") == {"17"}


def test_feedback_is_exported_without_its_note(vault, vault_url, small_population_dir, tmp_path):
    from features.vault.database import open_engine
    from features.vault.export import export_snapshot
    from features.vault.snapshot import read_feedback

    vault.record_feedback(citizen_id=90, kind="jobs", item_id="5", reason="other", note="mijn buurman werkt daar")
    engine = open_engine(vault_url)
    folder = export_snapshot(engine=engine, source=_store(small_population_dir), out=tmp_path / "s",
                             progress=False).folder
    engine.dispose()
    feedback = read_feedback(folder)
    assert feedback.to_dict("records") == [{"citizen_id": 90, "kind": "jobs", "item_id": "5", "reason": "other",
                                            "given_date": vault.today}]
    assert b"buurman" not in (folder / "feedback.parquet").read_bytes()


def test_the_audit_trail_holds_pseudonyms_and_refuses_update_and_delete(vault, vault_url):
    from features.vault import AuditLine, pseudonym

    vault.append_audit(AuditLine(endpoint="suggestions", status=200, citizen_id=123, kind="jobs",
                                 models={"jobs": "3"}, items=10, personalised=True, request_id="r1"))
    uri = _unheld_competency(vault, 123)
    vault.add_competency(citizen_id=123, competency_uri=uri, revision=0,
                         audit=AuditLine(endpoint="me.competencies", status=201, citizen_id=123))
    engine = create_engine(vault_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT endpoint, citizen FROM audit_trail ORDER BY id")).all()
    assert rows == [("suggestions", pseudonym(123, key=KEY)), ("me.competencies", pseudonym(123, key=KEY))]
    assert all("123" != citizen for _, citizen in rows)
    for statement in ("UPDATE audit_trail SET status = 500", "DELETE FROM audit_trail",
                      *(["TRUNCATE audit_trail"] if vault_url.startswith("postgresql") else [])):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_trail WHERE status IN (200, 201)")).scalar() == 2
    engine.dispose()


def test_a_refused_write_writes_no_audit_line_either(vault, vault_url):
    from features.vault import AuditLine
    from features.vault.errors import RevisionConflict

    before = _counts(vault_url)
    with pytest.raises(RevisionConflict):
        vault.add_competency(citizen_id=124, competency_uri=_unheld_competency(vault, 124), revision=5,
                             audit=AuditLine(endpoint="me.competencies", status=201, citizen_id=124))
    assert _counts(vault_url) == before
