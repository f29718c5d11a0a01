"""What the board decides reaches citizens at once: the service follows the registry while it answers (promotion,
rollback, withdrawal), loads what it reports, and writes exactly one audit line per request whatever its status.

The registry moves here are made directly, standing in for the fairness gate (``assessments/`` moves ``champion``
and records a withdrawal with the tags of :mod:`models.tracking`).
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from features import model_tags
from features.errors import LoopbaanError
from features.keys import signing_key
from features.population import PopulationStore
from features.settings import Settings
from models import tracking
from serving import schemas
from serving.auth import mint_admin_token, mint_token
from tests.conftest import audit_records, home_with_champions, start_service, stop_service

pytestmark = pytest.mark.slow

SWITCH_WITHIN_S = 30
WITHDRAWN = ("recurring assessment a-test of version 1 failed outcome_parity, and no earlier champion passes the "
             "gate under the policy in force")


@pytest.fixture(scope="module")
def live_home(trained_home: Path, small_population_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Jobs and careers with a champion (v1), trainings with only a challenger (not served: no fallback here)."""
    return home_with_champions(trained_home, small_population_dir, tmp_path_factory.mktemp("live") / "home")


@pytest.fixture(scope="module")
def live(live_home: Path):
    process, client = start_service(live_home, env={"LOOPBAAN_RELOAD_SECONDS": "1",
                                                         "LOOPBAAN_ALLOW_CHALLENGER": "false",
                                                         "LOOPBAAN_SERVICE_WORKERS": "2"}, log_name="live.log")
    yield client
    stop_service(process, client)


@pytest.fixture(scope="module")
def key(live_home: Path) -> bytes:
    return signing_key(Settings(home=live_home))


@pytest.fixture(scope="module")
def people(live_home: Path) -> dict[str, int]:
    citizens = PopulationStore(live_home / "data" / "population").table("citizens")
    ids = citizens.loc[~citizens["ai_opt_out"], "citizen_id"]
    return {"citizen": int(ids.iloc[5]), "other": int(ids.iloc[6]),
            "opted_out": int(citizens.loc[citizens["ai_opt_out"], "citizen_id"].iloc[2])}


def _audit_lines(home: Path) -> list[dict]:
    return audit_records(home)


def test_every_request_writes_exactly_one_audit_line(live, live_home, key, people) -> None:
    """Every bad input of the service, and good ones, each with its own request id: one line each, with its status,
    and no raw id anywhere; the static site and the health endpoints write none."""
    citizen, other, opted_out = people["citizen"], people["other"], people["opted_out"]
    mine = {"Authorization": f"Bearer {mint_token(citizen_id=citizen, key=key)}"}
    theirs = {"Authorization": f"Bearer {mint_token(citizen_id=opted_out, key=key)}"}
    admin = {"Authorization": f"Bearer {mint_admin_token(key=key)}"}
    unknown = {"Authorization": f"Bearer {mint_token(citizen_id=99_999_999, key=key)}"}
    listed = live.post("/suggestions", json={"kind": "jobs", "citizen_id": citizen, "k": 3}, headers=mine).json()
    item = listed["suggestions"][0]["item_id"]
    requests = [
        (200, "POST", "/suggestions", {"kind": "jobs", "job_title": "lasser", "k": 3}, {}),
        (200, "POST", "/suggestions", {"kind": "careers", "citizen_id": citizen}, mine),
        (200, "POST", "/compare", {"kind": "jobs", "citizen_id": citizen, "item_a": item,
                                   "item_b": listed["suggestions"][2]["item_id"]}, mine),
        (200, "GET", "/metadata", None, {}),
        (200, "GET", "/me", None, mine),
        (200, "PUT", "/me/opt-out", {"opted_out": False}, mine),
        (200, "POST", "/admin/reload", None, admin),
        (400, "POST", "/suggestions", {"kind": "jobs", "job_title": "lasser", "k": "ten"}, {}),
        (400, "POST", "/suggestions", b"{not json", {"Content-Type": "application/json"}),
        (400, "POST", "/suggestions", {"kind": "jobs", "job_title": "lasser", "colour": "red"}, {}),
        (400, "POST", "/compare", {"kind": "jobs", "citizen_id": citizen}, mine),
        (400, "GET", "/me?language=fr", None, mine),
        (400, "PUT", "/me/opt-out", {"opted_out": 0}, mine),
        (401, "POST", "/suggestions", {"kind": "jobs", "citizen_id": citizen}, {}),
        (401, "POST", "/suggestions", {"kind": "jobs", "citizen_id": citizen}, {"Authorization": "Bearer lb1.1.1.x"}),
        (401, "GET", "/me", None, {}),
        (401, "PUT", "/me/opt-out", {"opted_out": True}, {}),
        (401, "POST", "/admin/reload", None, {}),
        (403, "POST", "/suggestions", {"kind": "jobs", "citizen_id": other}, mine),
        (403, "POST", "/admin/reload", None, mine),
        (404, "POST", "/suggestions", {"kind": "jobs", "citizen_id": 99_999_999}, unknown),
        (404, "POST", "/compare", {"kind": "jobs", "citizen_id": citizen, "item_a": item, "item_b": "nope"}, mine),
        (404, "GET", "/me", None, unknown),
        (404, "GET", "/no-such-endpoint", None, {}),
        (405, "DELETE", "/suggestions", None, {}),
        (409, "POST", "/compare", {"kind": "jobs", "citizen_id": opted_out, "item_a": item, "item_b": item}, theirs),
        (413, "POST", "/suggestions", {"kind": "jobs", "competencies": ["x" * 1000] * 100}, {}),
        (422, "POST", "/suggestions", {"kind": "jobs", "competencies": ["urn:unknown"]}, {}),
        (422, "POST", "/suggestions", {"kind": "jobs", "job_title": "?!"}, {}),
        (503, "POST", "/suggestions", {"kind": "trainings", "job_title": "lasser"}, {}),
        (503, "POST", "/compare", {"kind": "trainings", "job_title": "lasser", "item_a": "1", "item_b": "2"}, {}),
    ]
    sent = {}
    for status, method, path, body, headers in requests:
        request_id = uuid.uuid4().hex
        content = body if isinstance(body, bytes) else None
        response = live.request(method, path, json=None if content is not None else body, content=content,
                                headers={**headers, "X-Request-ID": request_id})
        assert response.status_code == status, (method, path, body, response.text)
        assert response.headers["x-request-id"] == request_id
        if status >= 400 and path != "/no-such-endpoint":
            schemas.ErrorResponse.model_validate(response.json())
        sent[request_id] = (status, path)
    quiet = uuid.uuid4().hex
    for path in ("/healthz", "/readyz", "/site/", "/docs.json"):
        assert live.get(path, headers={"X-Request-ID": quiet}).status_code == 200
    lines = _audit_lines(live_home)
    for request_id, (status, path) in sent.items():
        found = [line for line in lines if line["request_id"] == request_id]
        assert len(found) == 1, (path, status, found)
        assert found[0]["status"] == status
    assert not [line for line in lines if line["request_id"] == quiet]
    assert {status for status, _ in sent.values()} >= {200, 400, 401, 403, 404, 413, 422, 503}
    for line in lines:  # the citizen only ever as a pseudonym
        assert line["citizen"] is None or (len(line["citizen"]) == 24 and not line["citizen"].isdigit())
        assert set(line) == {"id", "at", "request_id", "endpoint", "kind", "citizen", "models", "items", "personalised",
                             "status", "refusal", "partner"}
    refused = next(line for line in lines if line["request_id"] in sent and sent[line["request_id"]][0] == 401
                   and line["endpoint"] == "suggestions")
    assert refused["citizen"] and len(refused["citizen"]) == 24  # the pseudonym of the citizen asked for


class _Stream:
    """Several clients asking for suggestions without pause (a new connection per request, so that every worker
    of the service answers some), recording what each response names."""

    def __init__(self, base_url: str, key: bytes, citizen: int, *, clients: int = 3) -> None:
        self.base_url, self.key, self.citizen = base_url, key, citizen
        self.records: list[tuple[float, float, int, str | None, str | None, str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(index,), daemon=True) for index in range(clients)]

    def __enter__(self) -> _Stream:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _run(self, index: int) -> None:
        token = {"Authorization": f"Bearer {mint_token(citizen_id=self.citizen, key=self.key)}"}
        bodies = [({"kind": "jobs", "job_title": "lasser", "k": 3}, {}),
                  ({"kind": "jobs", "citizen_id": self.citizen, "k": 5, "precomputed": True}, token)]
        count = 0
        with httpx.Client(base_url=self.base_url, timeout=60, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while not self._stop.is_set():
                body, headers = bodies[(count + index) % 2]
                count += 1
                sent = time.monotonic()
                try:
                    response = client.post("/suggestions", json=body, headers=headers)
                except httpx.HTTPError as error:
                    self.records.append((sent, time.monotonic(), -1, None, None, repr(error)))
                    continue
                data = response.json()
                if response.status_code == 200:
                    batch = (data["batch"] or {}).get("batch_id")
                    self.records.append((sent, time.monotonic(), 200, data["model"]["version"], batch, ""))
                else:
                    self.records.append((sent, time.monotonic(), response.status_code, None, None, data["error"]))

    def after(self, moment: float) -> list[tuple]:
        return [record for record in list(self.records) if record[0] >= moment]

    def wait_until(self, moment: float, settled, *, timeout_s: float = SWITCH_WITHIN_S + 15) -> float:
        """Wait until the responses settle after a move at ``moment`` (five seconds of only settled answers); returns
        how long after the move the last unsettled request was sent (fails past the timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(0.5)
            records = self.after(moment)
            last_wrong = max((record[0] for record in records if not settled(record)), default=moment)
            if time.monotonic() - last_wrong > 5 and any(record[0] > last_wrong + 2 for record in records):
                return last_wrong - moment
        pytest.fail(f"not settled {timeout_s} s after the move: {self.after(moment)[-5:]}")

    def between(self, start: float, stop: float) -> list[tuple]:
        return [record for record in self.records if start <= record[0] < stop]


def test_promotion_rollback_and_withdrawal_reach_a_running_service(live, live_home, key, people) -> None:
    from models.batch_run import run_batch

    settings = Settings(home=live_home)
    client = tracking.configure(settings)
    name = tracking.registered_name("jobs")
    first = client.get_model_version(name, "1")
    second = str(client.create_model_version(name, source=first.source, run_id=first.run_id).version)
    batch = run_batch("jobs", store=PopulationStore(settings.population_dir), settings=settings, progress=False)
    assert batch.info.model_version == "1"
    since = live.get("/metadata").json()["models"]["jobs"]["serving_since"]

    phases = []
    with _Stream(str(live.base_url), key, people["citizen"]) as stream:
        time.sleep(3)
        assert all(record[3] == "1" for record in stream.records if record[2] == 200)
        promoted = time.monotonic()
        client.set_registered_model_alias(name, tracking.CHAMPION, second)
        on = lambda record: record[3] == second  # noqa: E731
        lag = stream.wait_until(promoted, on)
        assert lag <= SWITCH_WITHIN_S, lag
        phases.append((promoted + lag, on))
        moved = live.get("/metadata").json()["models"]["jobs"]
        assert moved["version"] == second and moved["serving_since"] > since
        on_second = [record for record in stream.after(promoted + lag + 0.1) if record[3] == second]
        assert on_second and all(record[4] is None for record in on_second)  # v1's nightly lists are never answered

        rolled_back = time.monotonic()
        client.set_registered_model_alias(name, tracking.CHAMPION, "1")
        back = lambda record: record[3] == "1"  # noqa: E731
        lag = stream.wait_until(rolled_back, back)
        assert lag <= SWITCH_WITHIN_S, lag
        phases.append((rolled_back + lag, back))
        assert any(record[4] == batch.info.batch_id for record in stream.after(rolled_back + lag + 0.1))

        withdrawn = time.monotonic()  # in the gate's order (assessments.registry.withdraw): the reason, then the
        # champion removed, so that no poll sees a kind with neither
        client.set_registered_model_tag(name, model_tags.TAG_WITHDRAWN_REASON, WITHDRAWN)
        client.set_registered_model_tag(name, model_tags.TAG_WITHDRAWN_AT, datetime.now(UTC).isoformat())
        client.delete_registered_model_alias(name, tracking.CHAMPION)
        refused = lambda record: record[2] == 503 and WITHDRAWN in record[5]  # noqa: E731
        lag = stream.wait_until(withdrawn, refused)
        assert lag <= SWITCH_WITHIN_S, lag
        phases.append((withdrawn + lag, refused))
        assert live.get("/metadata").json()["withdrawn"]["jobs"]["reason"] == WITHDRAWN

        restored = time.monotonic()  # a promotion through the gate: champion set, then the withdrawal cleared
        client.set_registered_model_alias(name, tracking.CHAMPION, "1")
        client.delete_registered_model_tag(name, model_tags.TAG_WITHDRAWN_REASON)
        client.delete_registered_model_tag(name, model_tags.TAG_WITHDRAWN_AT)
        stream.wait_until(restored, back)
    moves = [rolled_back, withdrawn, restored]
    for (settled_at, settled), next_move in zip(phases, moves, strict=True):
        late = [record for record in stream.between(settled_at + 0.01, next_move) if not settled(record)]
        assert not late, late[:3]  # once switched, every later response names the new state until the next move
    records = stream.records
    failed = [record for record in records if record[2] != 200 and not (record[2] == 503 and WITHDRAWN in record[5])]
    assert not failed, failed[:5]  # no request failed during any swap
    assert len(records) > 100


# -- in-process: load by number, withdrawal, the reload marker ----------------------------------------------------


@pytest.fixture(scope="module")
def core_home(trained_home: Path, small_population_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return home_with_champions(trained_home, small_population_dir, tmp_path_factory.mktemp("core") / "home")


def _other_booster(settings: Settings, kind: str):
    """A deliberately different booster with the kind's features (trained on noise), registered as a new version."""
    import lightgbm as lgb
    import mlflow
    import mlflow.lightgbm
    import pandas as pd

    from models.training import PIP_REQUIREMENTS

    loaded = tracking.load_model(kind, alias=tracking.CHAMPION, settings=settings)
    names = loaded.model.feature_names
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.random((400, len(names))), columns=names)
    booster = lgb.train({"objective": "regression", "verbose": -1, "num_leaves": 4}, lgb.Dataset(features, rng.random(400)),
                        num_boost_round=5)
    client = tracking.configure(settings)
    with mlflow.start_run(experiment_id=tracking.ensure_experiment(client, kind, settings), run_name="noise"):
        info = mlflow.lightgbm.log_model(booster, name="model", pip_requirements=PIP_REQUIREMENTS,
                                         registered_model_name=tracking.registered_name(kind))
    return str(info.registered_model_version), booster, features


def test_the_version_served_is_the_version_loaded_even_when_the_alias_moves_meanwhile(core_home, monkeypatch) -> None:
    from serving.core import ServiceCore

    settings = Settings(home=core_home, allow_challenger=True)
    core = ServiceCore(settings=settings)
    served_models = core.served_models
    client = tracking.configure(settings)
    name = tracking.registered_name("jobs")
    version, booster, features = _other_booster(settings, "jobs")
    client.set_registered_model_alias(name, tracking.CHAMPION, version)
    real = tracking.load_version

    def alias_moves_back_first(kind, **kwargs):
        client.set_registered_model_alias(name, tracking.CHAMPION, "1")  # between the registry read and the load
        return real(kind, **kwargs)

    monkeypatch.setattr(tracking, "load_version", alias_moves_back_first)
    assert "now serving loopbaan-jobs/" + version in served_models.reload()["jobs"]
    monkeypatch.setattr(tracking, "load_version", real)
    served = served_models.kinds["jobs"]
    assert served.info.version == version  # it reports what it loaded ...
    assert np.array_equal(served.suggester.model.booster.predict(features), booster.predict(features))  # ... and serves it
    assert served_models.reload()["jobs"].startswith("now serving loopbaan-jobs/1@champion")  # and follows the move next
    assert not np.array_equal(served_models.kinds["jobs"].suggester.model.booster.predict(features), booster.predict(features))

    # a kind without champion: the challenger stands in (LOOPBAAN_ALLOW_CHALLENGER), unless the gate withdrew it
    client.delete_registered_model_alias(name, tracking.CHAMPION)
    served_models.reload()
    assert served_models.kinds["jobs"].info.alias == tracking.CHALLENGER and served_models.kinds["jobs"].info.fallback
    client.set_registered_model_tag(name, model_tags.TAG_WITHDRAWN_REASON, WITHDRAWN)
    client.set_registered_model_tag(name, model_tags.TAG_WITHDRAWN_AT, "2026-12-01T03:00:00+00:00")
    assert "stopped serving" in served_models.reload()["jobs"]
    assert "jobs" not in served_models.kinds and WITHDRAWN in served_models.unavailable["jobs"]
    request = schemas.SuggestionRequest(kind="jobs", job_title="lasser")
    from serving.core import RequestError

    with pytest.raises(RequestError) as refused:
        core.suggestions(request)
    assert refused.value.status == 503 and WITHDRAWN in refused.value.message
    assert tracking.withdrawal(client, "jobs").reason == WITHDRAWN

    from models.batch_run import run_batch

    with pytest.raises(LoopbaanError, match="withdrawn by the fairness gate"):
        run_batch("jobs", store=PopulationStore(settings.population_dir), settings=settings, progress=False)
    client.set_registered_model_alias(name, tracking.CHAMPION, "1")  # a promotion: the champion serves again
    assert tracking.withdrawal(client, "jobs") is None
    served_models.reload()
    assert served_models.kinds["jobs"].info.version == "1"


def test_the_batch_reports_the_version_it_loaded_even_when_the_alias_moves_meanwhile(core_home, monkeypatch) -> None:
    """The nightly batch picks its model by the service's rule (:func:`models.tracking.served_version`) and loads
    that version by number: the champion moving between the registry read and the load changes nothing."""
    from models import batch_run

    settings = Settings(home=core_home, allow_challenger=True)
    client = tracking.configure(settings)
    name = tracking.registered_name("careers")
    before = tracking.kind_state(client, "careers").aliases[tracking.CHAMPION]
    version, booster, features = _other_booster(settings, "careers")
    client.set_registered_model_alias(name, tracking.CHAMPION, version)
    real = tracking.load_version

    def alias_moves_back_first(kind, **kwargs):
        client.set_registered_model_alias(name, tracking.CHAMPION, before)  # between the registry read and the load
        return real(kind, **kwargs)

    monkeypatch.setattr(tracking, "load_version", alias_moves_back_first)
    try:
        loaded, fallback = batch_run._load_model("careers", None, settings)
    finally:
        monkeypatch.setattr(tracking, "load_version", real)
        client.set_registered_model_alias(name, tracking.CHAMPION, before)
    assert (loaded.version, loaded.alias, fallback) == (version, tracking.CHAMPION, False)
    assert np.array_equal(loaded.model.booster.predict(features), booster.predict(features))
    assert batch_run._load_model("careers", None, settings)[0].version == before  # the next run follows the move


def test_an_admin_reload_reaches_every_process_through_the_marker(core_home) -> None:
    """A process that looks at the registry only hourly follows a moved alias within seconds once the marker (which
    `POST /admin/reload` touches in another process) changes."""
    from serving.core import ServiceCore

    settings = Settings(home=core_home, reload_seconds=3600)
    core = ServiceCore(settings=settings, watch=True)
    served_models = core.served_models
    try:
        client = tracking.configure(settings)
        name = tracking.registered_name("careers")
        current = served_models.kinds["careers"].info.version
        first = client.get_model_version(name, current)
        moved = str(client.create_model_version(name, source=first.source, run_id=first.run_id).version)
        client.set_registered_model_alias(name, tracking.CHAMPION, moved)
        time.sleep(2)
        assert served_models.kinds["careers"].info.version == current  # nobody asked yet, and an hour has not passed
        served_models.reload_marker.parent.mkdir(parents=True, exist_ok=True)
        served_models.reload_marker.touch()
        deadline = time.monotonic() + 20
        while served_models.kinds["careers"].info.version != moved and time.monotonic() < deadline:
            time.sleep(0.2)
        assert served_models.kinds["careers"].info.version == moved
    finally:
        core.close()
