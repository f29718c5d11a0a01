"""The recurring assessment of every champion on the newest data, its alerts and rollback, and a scheduler.

``loopbaan assess --recurring`` re-assesses the champion of each kind on the population in the settings'
home (or ``--data``). A failure is recorded like any assessment (report with an alert banner, result tags,
metrics), logged as a warning, and — when the policy says so — every earlier champion is re-assessed on the same
data, newest first, and ``champion`` moves back to the first that passes again and was once approved by the
board (a rollback in the promotion history); when none does, the kind is withdrawn: ``champion`` is removed and
the registered model says why, so the service answers 503 instead of serving the failed version.

``loopbaan schedule --every-hours N`` runs it every N hours until stopped (Ctrl-C stops cleanly between or
during runs; every file is written atomically). The same job from cron, daily at 03:00::

    0 3 * * * cd /path/to/loopbaan && .venv/bin/loopbaan assess --recurring --json >> .loopbaan/recurring.log 2>&1
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from assessments import promotion, registry, store
from assessments.document import AssessmentDocument
from assessments.policy import Policy
from assessments.run import run_assessment
from features.errors import LoopbaanError
from features.settings import Settings
from features.vocabulary import KINDS
from models import tracking

logger = logging.getLogger(__name__)


def recurring_assessment(*, settings: Settings, policy: Policy, data=None, kinds: tuple[str, ...] = KINDS,
                         echo: Callable[[str], None] = lambda line: None) -> list[dict]:
    """Assess each kind's champion; on failure alert and (per policy) roll back or withdraw. One entry per kind."""
    client = tracking.configure(settings)
    entries = []
    for kind in kinds:
        champion = registry.aliases_of(client, kind).get(tracking.CHAMPION)
        if champion is None:
            echo(f"{kind}: no champion; nothing to re-assess")
            entries.append({"kind": kind, "version": None, "assessed": False})
            continue
        outcome = run_assessment(kind=kind, settings=settings, policy=policy, data=data, version=champion,
                                 trigger="recurring", echo=echo)
        entry = {"kind": kind, "version": champion, "assessed": True, **outcome.summary()}
        if outcome.passed:
            echo(f"{kind}: champion v{champion} still passes ({outcome.assessment_id})")
        else:
            logger.warning("ALERT: recurring assessment %s of the %s champion (version %s) failed: %s",
                           outcome.assessment_id, kind, champion, ", ".join(outcome.failed_checks))
            echo(f"ALERT {kind}: champion v{champion} fails {', '.join(outcome.failed_checks)}; report {outcome.report}")
            if policy.rollback_on_failure:
                def reassess(version: str, kind: str = kind) -> AssessmentDocument:
                    echo(f"{kind}: re-assessing v{version} on the current data before it may serve again")
                    return run_assessment(kind=kind, settings=settings, policy=policy, data=data, version=version,
                                          trigger="rollback", echo=echo).document

                record = promotion.rollback(kind=kind, failed_version=champion, settings=settings, policy=policy,
                                            assessment_id=outcome.assessment_id, reassess=reassess)
                entry["rollback"] = record
                if record["action"] == promotion.ROLLBACK:
                    echo(f"{kind}: champion rolled back to version {record['to_version']}")
                else:
                    echo(f"{kind}: no earlier version passes again; {kind} is withdrawn (the service answers 503) "
                         "until the board decides")
        entries.append(entry)
    return entries


def run_schedule(*, every_hours: float, job: Callable[[], object], runs: int | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 echo: Callable[[str], None] = lambda line: None) -> int:
    """Run ``job`` now and then every ``every_hours`` (``runs`` times, or until interrupted); returns runs done.

    A run that fails with a user error (e.g. no population yet) is reported and the schedule goes on.
    """
    done = 0
    while runs is None or done < runs:
        started = time.monotonic()
        try:
            job()
        except LoopbaanError as error:
            echo(f"recurring run failed: {error}")
        done += 1
        if runs is not None and done >= runs:
            break
        wait = max(every_hours * 3600.0 - (time.monotonic() - started), 0.0)
        echo(f"next run at {store.iso(store.now_utc() + timedelta(seconds=wait))} (Ctrl-C stops)")
        sleep(wait)
    return done
