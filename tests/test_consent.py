"""The citizen's AI choice on every path and keys that can rotate: the consent store (latest choice, snapshot as of a
moment, merged with the population's default), the pseudonym key apart from the signing key, and a rotation of the
signing key that keeps every choice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.consent import (NO_CHOICE, OPTED_IN, OPTED_OUT, Consent, JsonlConsentStore, consent_store, merged,
                              opted_out_ids)
from features.errors import LoopbaanError
from features.keys import key_id, pseudonym, pseudonym_key, signing_key
from features.population import PopulationStore
from features.settings import Settings
from tests.conftest import home_with_champions


def test_the_latest_choice_wins_and_a_snapshot_sees_only_what_was_chosen_by_then(tmp_path: Path) -> None:
    store = JsonlConsentStore(tmp_path / "choices.jsonl", key=b"k")
    assert store.choice(1) is None
    store.record(1, opted_out=True)
    between = datetime.now(UTC)
    store.record(1, opted_out=False)
    store.record(2, opted_out=True)
    assert store.choice(1) is False and store.choice(2) is True and store.choice(3) is None
    assert list(store.snapshot(as_of=between).choices(np.array([1, 2, 3]))) == [OPTED_OUT, NO_CHOICE, NO_CHOICE]
    later = store.snapshot(as_of=datetime.now(UTC) + timedelta(seconds=1)).choices(np.array([1, 2, 3]))
    assert list(later) == [OPTED_IN, OPTED_OUT, NO_CHOICE]
    assert list(merged(later, np.array([True, False, True]))) == [False, True, True]  # a choice beats the default
    text = (tmp_path / "choices.jsonl").read_text()
    assert '"citizen":1' not in text and pseudonym(1, key=b"k") in text  # pseudonymised, never the id
    with (tmp_path / "choices.jsonl").open("a") as handle:
        handle.write('{"time": "2026-')  # a line cut short by a crash is skipped
    assert store.choice(2) is True


def test_a_choice_is_a_boolean(tmp_path: Path) -> None:
    store = JsonlConsentStore(tmp_path / "choices.jsonl", key=b"k")
    for value in (0, 1, "true", None):
        with pytest.raises(LoopbaanError, match="not"):
            store.record(1, opted_out=value)
    assert not (tmp_path / "choices.jsonl").exists()


def test_choices_under_a_lost_key_are_refused_loudly_not_forgotten(tmp_path: Path) -> None:
    JsonlConsentStore(tmp_path / "choices.jsonl", key=b"the old key").record(7, opted_out=True)
    other = JsonlConsentStore(tmp_path / "choices.jsonl", key=b"a new key")
    with pytest.raises(LoopbaanError, match=f"key id {key_id(b'the old key')}.*restore that key"):
        other.choice(7)
    with pytest.raises(LoopbaanError, match="another pseudonym key"):
        other.snapshot(as_of=datetime.now(UTC))


def test_a_home_from_before_the_split_keeps_its_choices(tmp_path: Path) -> None:
    """Its pseudonyms were keyed with the signing key: the pseudonym key starts as that key, and the signing key can
    then rotate alone."""
    settings = Settings(home=tmp_path / "home")
    old = signing_key(settings)
    settings.consent_log.parent.mkdir(parents=True)
    legacy = {"time": datetime.now(UTC).isoformat(), "citizen": pseudonym(5, key=old), "opted_out": True}
    settings.consent_log.write_text(json.dumps(legacy) + "\n")
    assert pseudonym_key(settings) == old
    assert consent_store(settings).choice(5) is True
    (settings.home / "secret.key").unlink()  # the signing key rotates
    assert signing_key(settings) != old and pseudonym_key(settings) == old
    assert consent_store(settings).choice(5) is True


def test_a_fresh_home_has_two_different_keys(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    assert pseudonym_key(settings) != signing_key(settings)
    assert (settings.home / "pseudonym.key").stat().st_mode & 0o777 == 0o600
    assert Settings(home=tmp_path / "home", pseudonym_key="set").pseudonym_key.get_secret_value() == "set"


def test_opted_out_ids_merge_the_store_with_the_population_default(small_population_dir: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    population = PopulationStore(small_population_dir)
    citizens = population.table("citizens")
    defaults = pd.Series(citizens["ai_opt_out"].to_numpy(), index=citizens["citizen_id"].to_numpy())
    switched_off = int(defaults.index[~defaults.to_numpy()][0])
    switched_on = int(defaults.index[defaults.to_numpy()][0])
    start = datetime.now(UTC)
    assert np.array_equal(opted_out_ids(settings, population, start), np.sort(defaults.index[defaults.to_numpy()]))
    store = consent_store(settings)
    store.record(switched_off, opted_out=True)
    store.record(switched_on, opted_out=False)
    assert np.array_equal(opted_out_ids(settings, population, start), np.sort(defaults.index[defaults.to_numpy()]))
    now = opted_out_ids(settings, population, datetime.now(UTC))
    assert switched_off in now and switched_on not in now
    assert len(now) == int(defaults.sum())
    consent = Consent.of(settings, population)
    assert consent.opted_out(switched_off) and not consent.opted_out(switched_on) and not consent.opted_out(None)


@pytest.mark.slow
def test_rotating_the_signing_key_keeps_every_opt_out(trained_home: Path, small_population_dir: Path,
                                                     tmp_path: Path) -> None:
    from models.batch_run import run_batch
    from models.batch_read import read_partitions
    from serving import schemas
    from serving.auth import mint_token
    from serving.core import RequestError, ServiceCore

    home = home_with_champions(trained_home, small_population_dir, tmp_path / "home")
    citizens = PopulationStore(small_population_dir).table("citizens")
    off = [int(value) for value in citizens.loc[~citizens["ai_opt_out"], "citizen_id"].iloc[:3]]
    on = int(citizens.loc[citizens["ai_opt_out"], "citizen_id"].iloc[0])
    before = ServiceCore(settings=Settings(home=home, secret="the signing key of last year"))
    for citizen in off:
        token = f"Bearer {mint_token(citizen_id=citizen, key=before.key)}"
        assert before.me.set_opt_out(authorization=token, opted_out=True).opted_out is True
    assert before.me.set_opt_out(authorization=f"Bearer {mint_token(citizen_id=on, key=before.key)}",
                                 opted_out=False).opted_out is False
    old_token = f"Bearer {mint_token(citizen_id=off[0], key=before.key)}"
    pseudonyms = [pseudonym(citizen, key=pseudonym_key(Settings(home=home))) for citizen in (*off, on)]

    after = ServiceCore(settings=Settings(home=home, secret="this year's signing key"))
    with pytest.raises(RequestError) as refused:
        after.token_holder(old_token)
    assert refused.value.status == 401  # the rotation did what it is for
    for citizen in off:
        token = f"Bearer {mint_token(citizen_id=citizen, key=after.key)}"
        assert after.me.career_data(authorization=token).opted_out is True
        answer = after.suggestions(schemas.SuggestionRequest(kind="jobs", citizen_id=citizen, k=3), authorization=token)
        assert answer.personalised is False
    token = f"Bearer {mint_token(citizen_id=on, key=after.key)}"
    assert after.suggestions(schemas.SuggestionRequest(kind="jobs", citizen_id=on, k=3),
                             authorization=token).personalised is True
    assert [pseudonym(citizen, key=pseudonym_key(Settings(home=home))) for citizen in (*off, on)] == pseudonyms
    result = run_batch("careers", store=PopulationStore(small_population_dir),
                       settings=Settings(home=home, secret="this year's signing key"), progress=False)
    stored = set(np.concatenate([table["citizen_id"].to_numpy()
                                 for table in read_partitions(result.info, columns=["citizen_id"])]).tolist())
    assert not stored & set(off) and on in stored
