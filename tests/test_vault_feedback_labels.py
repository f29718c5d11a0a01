"""Feedback as labels: "niet voor mij" in the vault, exported with the snapshot, makes the dismissed item an explicit
negative of that citizen's list when `loopbaan train` builds its ranking data."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.vault_fixtures import pg_cluster, vault, vault_template, vault_url  # noqa: F401 - fixtures


def test_a_dismissal_turns_a_logged_item_into_a_negative_and_adds_an_unseen_one():
    from models.datasets import with_dismissals

    outcomes = pd.DataFrame({"citizen_id": [1, 1, 1, 2, 2], "vacancy_id": [10, 11, 12, 10, 13],
                             "position": [1, 2, 3, 1, 2], "shown_date": [date(2026, 1, 1)] * 5,
                             "label": [1, 2, 0, 1, 0], "item": [0, 1, 2, 0, 3]})
    dismissed = pd.DataFrame({"citizen_id": [1, 1, 1, 9], "item": [0, 1, 4, 0],
                              "given_date": [date(2026, 6, 1)] * 4})
    labelled = with_dismissals(outcomes, dismissed, id_column="vacancy_id",
                               catalogue_ids=np.array([10, 11, 12, 13, 14]))
    assert labelled[["citizen_id", "vacancy_id", "position", "label"]].values.tolist() == [
        [1, 10, 1, 0],  # applied, then dismissed: an explicit negative
        [1, 11, 2, 2],  # hired: the strongest outcome stands
        [1, 12, 3, 0], [2, 10, 1, 1], [2, 13, 2, 0],  # untouched, citizen 2's own list too
        [1, 14, 4, 0],  # dismissed without being in the log: joins the list as a negative
    ]
    assert labelled["shown_date"].iloc[-1] == date(2026, 6, 1)
    assert with_dismissals(outcomes, dismissed.iloc[:0], id_column="vacancy_id",
                           catalogue_ids=np.arange(5)).equals(outcomes)


def _rows(data, role: str) -> pd.DataFrame:
    ranking = data.sets[role]
    return pd.DataFrame({"citizen_id": ranking.citizen_ids, "item": ranking.item_positions, "label": ranking.labels})


@pytest.mark.slow
@pytest.mark.parametrize("vault_template", ["sqlite"], indirect=True)
def test_feedback_recorded_in_the_vault_becomes_labels_of_the_exported_snapshot(vault, vault_url,
                                                                                small_population_dir, tmp_path):
    from features.population import PopulationStore
    from features.settings import Settings
    from features.vault.database import open_engine
    from features.vault.export import export_snapshot
    from models.datasets import build_ranking_data
    from models.resources import load_resources

    settings = Settings()
    source = PopulationStore(small_population_dir)
    resources = load_resources("jobs", store=source, settings=settings, taxonomy=vault.taxonomy)
    before = build_ranking_data(resources, seed=42)
    rows = _rows(before, "train")
    catalogue_ids = resources.catalogue.ids
    positives = rows[rows["label"] > 0].groupby("citizen_id").size()
    applied = rows[(rows["label"] == 1) & rows["citizen_id"].isin(positives.index[positives >= 2])].iloc[0]
    hired = rows[(rows["label"] == 2) & (rows["citizen_id"] != applied["citizen_id"])].iloc[0]
    other = rows[~rows["citizen_id"].isin([applied["citizen_id"], hired["citizen_id"]])]
    unseen_citizen = int(other["citizen_id"].iloc[0])
    unseen_item = int(np.setdiff1d(np.arange(len(catalogue_ids)), rows.loc[rows["citizen_id"] == unseen_citizen,
                                                                            "item"])[0])
    for citizen, item, reason in ((applied["citizen_id"], applied["item"], "too_far"),
                                  (hired["citizen_id"], hired["item"], "other"),
                                  (unseen_citizen, unseen_item, "not_interested")):
        vault.record_feedback(citizen_id=int(citizen), kind="jobs", item_id=str(catalogue_ids[int(item)]),
                              reason=reason)
    vault.record_feedback(citizen_id=unseen_citizen, kind="careers", item_id="http://example.org/x", reason="other")
    engine = open_engine(vault_url)
    snapshot = export_snapshot(engine=engine, source=source, out=tmp_path / "snapshot", progress=False).folder
    engine.dispose()

    after = build_ranking_data(load_resources("jobs", store=PopulationStore(snapshot), settings=settings,
                                              taxonomy=vault.taxonomy), seed=42)
    assert after.feedback_labels == 3 and before.feedback_labels == 0
    labelled = _rows(after, "train")

    def label(frame, citizen, item):
        return frame.loc[(frame["citizen_id"] == citizen) & (frame["item"] == item), "label"].tolist()

    assert label(rows, applied["citizen_id"], applied["item"]) == [1]  # the check fails on the data without feedback
    assert label(labelled, applied["citizen_id"], applied["item"]) == [0]
    assert label(labelled, hired["citizen_id"], hired["item"]) == [2]
    assert label(labelled, unseen_citizen, unseen_item) == [0] and label(rows, unseen_citizen, unseen_item) == []
    untouched = ~labelled["citizen_id"].isin([applied["citizen_id"], unseen_citizen])
    pd.testing.assert_frame_equal(labelled[untouched].reset_index(drop=True),
                                  rows[~rows["citizen_id"].isin([applied["citizen_id"], unseen_citizen])]
                                  .reset_index(drop=True))
    for role in ("valid", "test"):  # nothing of the train citizens leaks into another split
        pd.testing.assert_frame_equal(_rows(after, role), _rows(before, role))
    assert Path(snapshot / "feedback.parquet").is_file()
