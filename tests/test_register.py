"""The data register (features/register.py, features/reads.py, the hook in PopulationStore.table): the guard fails
when a processing reads a table it does not declare and passes when it reads only what it declares; model training
reads exactly what it declares (the site's and the partners' vault reads: tests/test_vault_shares.py); the document
counts the active grants (withholding small counts) and the public page renders it."""

from __future__ import annotations

import contextvars
import threading
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from features import register, sharing
from features.errors import LoopbaanError
from features.population.schema import SCHEMAS
from features.population.store import PopulationStore
from features.reads import UndeclaredRead, active_scope, record_read
from features.register import (
    FAIRNESS_ASSESSMENT,
    MODEL_TRAINING,
    PROCESSINGS,
    Processing,
    check_reads,
    processing,
    sharing_processing_key,
)
from features.register_document import SMALL_COUNT, RegisterDocument, build_register
from features.register_page import render_register_page

NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)


def declared(key: str, reads: set[str]) -> dict[str, Processing]:
    """A register with one processing of our own, declaring ``reads``."""
    base = PROCESSINGS[MODEL_TRAINING]
    return {key: Processing(key, base.name, base.purpose, frozenset(reads), base.recipient, base.receives,
                            base.legal_bases, base.retention, base.stakeholders)}


# --- the guard -----------------------------------------------------------------------------------------------------


def test_a_processing_that_reads_an_undeclared_table_fails_strictly_at_the_read(small_population_dir: Path) -> None:
    store = PopulationStore(small_population_dir)
    test_register = declared("matching_test", {"citizens", "profiles"})
    with pytest.raises(UndeclaredRead) as raised, processing("matching_test", register=test_register):
        store.table("citizens")
        store.table("profiles")
        store.table("sensitive")
    assert "'matching_test'" in str(raised.value) and "'sensitive'" in str(raised.value)
    assert "features/register.py" in str(raised.value)  # where to declare it


def test_a_lenient_run_notes_every_undeclared_table_and_the_check_fails(small_population_dir: Path) -> None:
    store = PopulationStore(small_population_dir)
    test_register = declared("matching_test", {"citizens"})
    with processing("matching_test", strict=False, register=test_register) as scope:
        store.table("citizens")
        store.table("sensitive")
        store.table("job_outcomes")
    assert scope.undeclared == {"sensitive", "job_outcomes"}
    with pytest.raises(UndeclaredRead) as raised:
        check_reads(scope)
    assert "'job_outcomes', 'sensitive'" in str(raised.value)


def test_a_processing_that_reads_only_what_it_declares_passes(small_population_dir: Path) -> None:
    store = PopulationStore(small_population_dir)
    test_register = declared("matching_test", {"citizens", "profiles", "sensitive"})
    with processing("matching_test", register=test_register) as scope:
        store.table("citizens")
        store.table("profiles")
    check_reads(scope)
    assert scope.read == {"citizens", "profiles"} and scope.unread == {"sensitive"}


def test_a_table_cached_by_an_earlier_processing_still_counts_as_read(small_population_dir: Path) -> None:
    store = PopulationStore(small_population_dir)
    store.table("sensitive")  # outside any processing: not guarded
    with pytest.raises(UndeclaredRead), processing("matching_test", register=declared("matching_test", {"citizens"})):
        store.table("sensitive")


def test_an_inner_processing_holds_its_own_reads_and_the_outer_resumes() -> None:
    outer_register = {**declared("outer", {"citizens"}), **declared("inner", {"sensitive"})}
    with processing("outer", register=outer_register) as outer:
        record_read("citizens")
        with processing("inner", register=outer_register) as inner:
            record_read("sensitive")
            assert active_scope() is inner
        record_read("citizens")
        with pytest.raises(UndeclaredRead):
            record_read("sensitive")
    assert outer.read == {"citizens", "sensitive"} and inner.read == {"sensitive"}
    assert active_scope() is None


def test_a_processing_opened_again_inside_itself_is_one_run() -> None:
    """Code that guards itself (training, the batch) called by a caller that opened the same processing: the
    caller's scope sees every read, and the declaration still holds inside."""
    register_of = {**declared("training", {"citizens"})}
    with processing("training", register=register_of) as outer:
        with processing("training", register=register_of) as inner:
            assert inner is outer
            record_read("citizens")
            with pytest.raises(UndeclaredRead):
                record_read("sensitive")
    assert outer.read == {"citizens", "sensitive"} and active_scope() is None


def test_the_scope_follows_a_thread_started_with_a_copied_context() -> None:
    with processing("outer", strict=False, register=declared("outer", {"citizens"})) as scope:
        context = contextvars.copy_context()
        worker = threading.Thread(target=context.run, args=(record_read, "transitions"))
        worker.start()
        worker.join()
    assert scope.undeclared == {"transitions"}


def test_reads_outside_any_processing_are_not_guarded() -> None:
    record_read("sensitive")
    assert active_scope() is None


def test_an_unknown_processing_is_refused_with_the_known_ones() -> None:
    with pytest.raises(LoopbaanError) as raised, processing("marketing"):
        pass
    assert MODEL_TRAINING in str(raised.value)
    with pytest.raises(LoopbaanError):
        sharing_processing_key("data_broker")


# --- the declarations ----------------------------------------------------------------------------------------------


def test_every_population_table_says_what_it_holds() -> None:
    assert set(SCHEMAS) <= set(register.TABLE_CATEGORIES)
    vault = [table for table in register.TABLE_CATEGORIES if table not in SCHEMAS]
    assert all(table.startswith(register.VAULT_PREFIX) for table in vault)


def test_a_declaration_of_an_unknown_table_is_refused() -> None:
    with pytest.raises(ValueError, match="'salaries'"):
        declared("matching_test", {"citizens", "salaries"})


def test_the_register_declares_the_processings_of_the_issue() -> None:
    expected = {"suggestions", "nightly_batch", "model_training", "fairness_assessment", "sharing_employer",
                "sharing_hr_intermediary", "sharing_training_provider"}
    assert set(PROCESSINGS) == expected
    for kind in sharing.PARTNER_KINDS:
        assert PROCESSINGS[sharing_processing_key(kind)].partner_kind == kind


def test_only_the_fairness_assessment_reads_sensitive_attributes() -> None:
    readers = {key for key, entry in PROCESSINGS.items() if "sensitive" in entry.reads}
    assert readers == {FAIRNESS_ASSESSMENT}
    special = {key for key, entry in PROCESSINGS.items() if "special_categories" in entry.categories}
    assert special == {FAIRNESS_ASSESSMENT}
    assert any("9(2)(g)" in basis.article for basis in PROCESSINGS[FAIRNESS_ASSESSMENT].legal_bases)


def test_the_categories_follow_from_the_tables() -> None:
    training = PROCESSINGS[MODEL_TRAINING]
    assert {"circumstances", "career_data", "competency_profile", "outcomes", "catalogues"} <= set(training.categories)
    assert "contact_wish" in PROCESSINGS["sharing_employer"].categories
    assert "contact_wish" not in training.categories


# --- real processings read what they declare -----------------------------------------------------------------------


TINY = {"citizens": 400, "vacancies": 200, "trainings": 100}  # training cost is mostly per item, not per citizen


@pytest.fixture(scope="module")
def trained_under_guard(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, set[str]]:
    """A tiny population and a home where all three kinds were trained, each under ``processing("model_training")``
    (strict: an undeclared read fails the training at once); also every table the three trainings read."""
    from features.population import PopulationConfig, generate_to
    from features.settings import Settings
    from models.training import train_kind

    folder = tmp_path_factory.mktemp("guarded")
    population = folder / "population"
    generate_to(PopulationConfig(seed=11, **TINY), out=population, progress=False)
    settings = Settings(home=folder / "home")
    read: set[str] = set()
    for kind in ("jobs", "trainings", "careers"):
        with processing(MODEL_TRAINING) as scope:
            train_kind(kind, store=PopulationStore(population), settings=settings, progress=False,
                       params={"n_estimators": 20})
        check_reads(scope)
        read |= scope.read
    return population, settings.home, read


@pytest.mark.slow
def test_model_training_reads_exactly_what_it_declares(trained_under_guard) -> None:
    """Together the three kinds read every table the declaration names: it claims no more than training does."""
    _, _, read = trained_under_guard
    assert read == PROCESSINGS[MODEL_TRAINING].reads


@pytest.mark.slow
def test_the_fairness_assessment_reads_only_what_it_declares(trained_under_guard) -> None:
    from assessments.policy import load_policy
    from assessments.run import run_assessment
    from features.settings import Settings

    population, home, _ = trained_under_guard
    with processing(FAIRNESS_ASSESSMENT) as scope:
        run_assessment(kind="trainings", settings=Settings(home=home), policy=load_policy(), data=population,
                       alias="challenger")
    check_reads(scope)
    assert "sensitive" in scope.read and scope.read <= PROCESSINGS[FAIRNESS_ASSESSMENT].reads


# --- the document --------------------------------------------------------------------------------------------------

PARTNERS = {partner.partner_id: partner for partner in (
    sharing.Partner(partner_id="partner-hr-demo", kind=sharing.HR_INTERMEDIARY, name="Demo-HR-bemiddelaar"),
    sharing.Partner(partner_id="partner-hr-two", kind=sharing.HR_INTERMEDIARY, name="Tweede <b>bemiddelaar</b>"),
    sharing.Partner(partner_id="partner-werkgever-demo", kind=sharing.EMPLOYER, name="Demo-werkgever"),
)}


def hr_grant(partner_id: str = "partner-hr-demo", *, citizen: int = 1, start: datetime = NOW, days: int = 30,
             parts=(sharing.COMPETENCY_PROFILE,), pseudonymised: bool = False) -> sharing.Grant:
    return sharing.new_grant(citizen_id=citizen, partner=PARTNERS[partner_id], parts=parts,
                             purpose=sharing.JOB_MEDIATION, start=start, end=start + timedelta(days=days),
                             pseudonymised=pseudonymised, now=start)


def sharing_entry(document: RegisterDocument, kind: str):
    return next(entry for entry in document.processings if entry.key == sharing_processing_key(kind)).sharing


def test_the_register_counts_only_active_grants_and_withholds_small_counts() -> None:
    grants = [hr_grant(citizen=citizen, pseudonymised=citizen % 2 == 0,
                       parts=(sharing.COMPETENCY_PROFILE, sharing.WORK_HISTORY) if citizen < 3
                       else (sharing.COMPETENCY_PROFILE,)) for citizen in range(6)]
    grants.append(hr_grant("partner-hr-two"))
    grants.append(sharing.revoke(hr_grant(citizen=90), at=NOW))
    grants.append(hr_grant(citizen=91, start=NOW - timedelta(days=60)))  # expired by NOW
    grants.append(hr_grant(citizen=92, start=NOW + timedelta(days=1)))  # not yet valid at NOW
    document = build_register(grants=grants, partners=PARTNERS, at=NOW)
    hr = sharing_entry(document, sharing.HR_INTERMEDIARY)
    assert hr.active_grants == 7
    assert [(partner.partner_id, partner.active_grants) for partner in hr.partners] == [
        ("partner-hr-demo", 6), ("partner-hr-two", None)]
    counts = {count.key: count.count for count in hr.parts}
    assert counts == {sharing.COMPETENCY_PROFILE: 7, sharing.WORK_HISTORY: None, sharing.DIPLOMAS_AND_TRAININGS: 0,
                      sharing.CONTACT_WISH: 0}
    assert hr.pseudonymised is None  # 3 of 7: fewer than SMALL_COUNT
    employer = sharing_entry(document, sharing.EMPLOYER)
    assert employer.active_grants == 0 and employer.partners == []
    assert SMALL_COUNT == document.small_count == 5


def test_the_register_document_round_trips_as_json_without_any_citizen_id() -> None:
    document = build_register(grants=[hr_grant(citizen=987_654_321)], partners=PARTNERS, at=NOW)
    text = document.model_dump_json()
    assert RegisterDocument.model_validate_json(text) == document
    assert "987654321" not in text
    assert [entry.key for entry in document.processings] == list(PROCESSINGS)
    training = next(entry for entry in document.processings if entry.key == MODEL_TRAINING)
    assert training.tables == sorted(PROCESSINGS[MODEL_TRAINING].reads) and training.sharing is None


class _Tags(HTMLParser):
    VOID = {"meta", "br", "link", "img", "input", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag) -> None:
        if not self.open or self.open.pop() != tag:
            self.problems.append(tag)


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_public_page_is_one_self_contained_document_in_the_chosen_language(language: str) -> None:
    grants = [hr_grant(citizen=citizen) for citizen in range(5)] + [hr_grant("partner-hr-two")]
    document = build_register(grants=grants, partners=PARTNERS, at=NOW)
    page = render_register_page(document, language=language, switch_href="/register/page?lang={language}")
    parser = _Tags()
    parser.feed(page)
    assert parser.problems == [] and parser.open == []
    assert not [tag for tag, attrs in parser.tags if tag in {"script", "link", "img", "iframe"}]
    assert f'<html lang="{language}">' in page
    other = "en" if language == "nl" else "nl"
    assert f'href="/register/page?lang={other}"' in page
    for entry in PROCESSINGS.values():
        assert entry.name.in_(language).replace("'", "&#x27;") in page
    assert "Tweede &lt;b&gt;bemiddelaar&lt;/b&gt;" in page and "<b>bemiddelaar" not in page
    assert ("minder dan 5" if language == "nl" else "fewer than 5") in page  # partner-hr-two's single grant
    assert ("Gegevensregister" if language == "nl" else "Data register") in page
    assert "10 " + ("maart" if language == "nl" else "March") + " 2025, 09:30 UTC" in page


def test_the_page_refuses_an_unknown_language() -> None:
    with pytest.raises(ValueError):
        render_register_page(build_register(grants=[], partners={}, at=NOW), language="fr")


def test_the_vaults_statements_are_noted_as_vault_tables() -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from features.reads import record_sql_reads

    engine = sqlalchemy.create_engine("sqlite://")
    metadata = sqlalchemy.MetaData()
    shares = sqlalchemy.Table("shares", metadata, sqlalchemy.Column("id", sqlalchemy.Integer, primary_key=True),
                              sqlalchemy.Column("citizen_id", sqlalchemy.Integer))
    citizens = sqlalchemy.Table("citizens", metadata,
                                sqlalchemy.Column("citizen_id", sqlalchemy.Integer, primary_key=True))
    metadata.create_all(engine)
    record_sql_reads(engine)
    vault_register = declared("vault_test", {"vault.shares"})
    with engine.begin() as connection:
        with processing("vault_test", register=vault_register) as scope:
            connection.execute(shares.insert().values(id=1, citizen_id=7))
            connection.execute(sqlalchemy.select(shares.c.id))
        assert scope.read == {"vault.shares"}
        with pytest.raises(UndeclaredRead, match="'vault.citizens'"), processing("vault_test", register=vault_register):
            connection.execute(sqlalchemy.select(shares.c.id).join(citizens,
                                                                    shares.c.citizen_id == citizens.c.citizen_id))
