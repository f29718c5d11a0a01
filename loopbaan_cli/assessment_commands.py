"""`loopbaan assess`, `promote`, `review` and `schedule`: the fairness gate's commands, thin calls into ``assessments``.

Exit codes: 0 passed / promoted / recorded, 1 the gate said no (failed assessment, refused promotion),
2 bad input (one line on stderr), 130 interrupted.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from features.errors import LoopbaanError
from features.settings import Settings
from features.vocabulary import KINDS
from loopbaan_cli._errors import user_errors
from loopbaan_cli.model_commands import _mlflow_errors

EXIT_GATE_SAYS_NO = 1
ERR_KIND_NEEDED = "give --kind jobs|trainings|careers (only --recurring goes over every kind by itself)"
ERR_RECURRING_ALONE = "--recurring re-assesses each champion; it takes no --version, --alias or --mitigate"
ERR_ONE_DECISION = "choose exactly one of --approve or --reject"


Kind = Enum("Kind", {kind: kind for kind in KINDS}, type=str, module=__name__)


class Alias(str, Enum):
    challenger = "challenger"
    champion = "champion"


PolicyOption = Annotated[Path | None, typer.Option(
    "--policy", help="Policy file (default: assessments/policy.yaml, the policy in force).")]
DataOption = Annotated[Path | None, typer.Option(
    help="Population folder to assess on (default: <home>/data/population, the newest data).")]


def _echo(enabled: bool):
    return typer.echo if enabled else (lambda line: None)


def _print_outcome(outcome, *, as_json: bool) -> None:
    if as_json:
        return
    verdict = "PASSED" if outcome.passed else f"FAILED: {', '.join(outcome.failed_checks)}"
    typer.echo(f"{outcome.kind} v{outcome.version}: {verdict}")
    for check in outcome.document.checks:
        if check.status in ("fail", "inconclusive") and check.enforce:
            typer.echo(f"  {check.name} {check.status}: {check.summary}")
    if outcome.inconclusive_checks:
        typer.echo(f"  inconclusive (not blocking): {', '.join(outcome.inconclusive_checks)}")
    typer.echo(f"  assessment {outcome.assessment_id}; report {outcome.report}")


@user_errors
def assess(
    kind: Annotated[Kind | None, typer.Option(help="Which ranker to assess.")] = None,
    version: Annotated[str | None, typer.Option(help="Registered version number to assess.")] = None,
    alias: Annotated[Alias | None, typer.Option(help="Assess the version holding this alias (default: challenger).")] = None,
    recurring: Annotated[bool, typer.Option(
        "--recurring", help="Re-assess every kind's champion on the newest data; alert and (per policy) roll back.")] = False,
    mitigate: Annotated[bool, typer.Option(
        "--mitigate", help="If the version fails, try the fairness re-ranker, show the trade-off, and register "
                           "the chosen setting as a new version that goes through the same gate.")] = False,
    data: DataOption = None,
    policy: PolicyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the assessment id, passed and the failed checks as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Assess a ranker's fairness on held-out data against the policy, and record the result.

    Computes every fairness metric per group and intersection with bootstrap confidence intervals, judges the
    policy's checks, writes assessment.json and a self-contained HTML report for the ethics board under
    <home>/reports/<kind>/<assessment id>/, logs the metrics and the report to the version's MLflow run and tags
    the version (fairness.passed, fairness.failed_checks, ...). Exit code 1 when the gate fails.
    """
    from assessments.policy import load_policy

    settings = Settings()
    rules = load_policy(policy, settings=settings)
    echo = _echo(not (quiet or as_json))
    if recurring:
        if version is not None or alias is not None or mitigate:
            raise LoopbaanError(ERR_RECURRING_ALONE)
        from assessments.recurring import recurring_assessment

        kinds = (kind.value,) if kind else KINDS
        entries = _mlflow_errors(lambda: recurring_assessment(settings=settings, policy=rules, data=data,
                                                              kinds=kinds, echo=echo))
        if as_json:
            typer.echo(json.dumps(entries, default=str))
        if any(entry["assessed"] and not entry["passed"] for entry in entries):
            raise typer.Exit(EXIT_GATE_SAYS_NO)
        return
    if kind is None:
        raise LoopbaanError(ERR_KIND_NEEDED)
    alias_name = alias.value if alias else None
    if mitigate:
        from assessments.mitigation import mitigate as run_mitigation

        result = _mlflow_errors(lambda: run_mitigation(kind=kind.value, settings=settings, policy=rules, data=data,
                                                       version=version, alias=alias_name, echo=echo))
        if as_json:
            typer.echo(json.dumps({"base": result.base.summary(),
                                   "mitigated": result.mitigated.summary() if result.mitigated else None,
                                   "message": result.message}))
        else:
            _print_outcome(result.base, as_json=False)
            if result.mitigated:
                _print_outcome(result.mitigated, as_json=False)
            typer.echo(result.message)
        final = result.mitigated or result.base
        if not final.passed:
            raise typer.Exit(EXIT_GATE_SAYS_NO)
        return
    from assessments.run import run_assessment

    outcome = _mlflow_errors(lambda: run_assessment(kind=kind.value, settings=settings, policy=rules, data=data,
                                                    version=version, alias=alias_name, echo=echo))
    if as_json:
        typer.echo(json.dumps(outcome.summary()))
    _print_outcome(outcome, as_json=as_json)
    if not outcome.passed:
        raise typer.Exit(EXIT_GATE_SAYS_NO)


@user_errors
def promote(
    kind: Annotated[Kind, typer.Option(help="Which ranker.")],
    version: Annotated[str, typer.Option(help="The registered version to make champion.")],
    policy: PolicyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Make a version the champion — only through the gate.

    Moves the 'champion' alias only if the version's latest assessment passed under the policy in force and,
    when the policy requires it, the ethics board approved that assessment; a rejection blocks the version for
    good. Otherwise refuses and says which checks failed. Every promotion and refusal is appended to
    <home>/governance/promotions.jsonl. Exit code 1 on refusal.
    """
    from assessments.policy import load_policy
    from assessments.promotion import promote as run_promotion

    settings = Settings()
    rules = load_policy(policy, settings=settings)
    decision = _mlflow_errors(lambda: run_promotion(kind=kind.value, version=version, settings=settings, policy=rules))
    if as_json:
        typer.echo(json.dumps({"promoted": decision.promoted, "kind": decision.kind, "version": decision.version,
                               "assessment_id": decision.assessment_id, "previous_champion": decision.previous_champion,
                               "reviewer": decision.reviewer, "reasons": decision.reasons}))
    elif decision.promoted:
        typer.echo(f"{kind.value} v{decision.version} is now champion (was {decision.previous_champion or 'none'}); "
                   f"assessment {decision.assessment_id}, approved by {decision.reviewer or 'no sign-off required'}")
    else:
        typer.echo(f"refused: {kind.value} v{decision.version} stays out of production")
        for reason in decision.reasons:
            typer.echo(f"  - {reason}")
    if not decision.promoted:
        raise typer.Exit(EXIT_GATE_SAYS_NO)


@user_errors
def review(
    assessment: Annotated[str, typer.Option("--assessment", help="The assessment id (printed by `loopbaan assess`).")],
    reviewer: Annotated[str, typer.Option(help="Name of the board member deciding.")],
    comment: Annotated[str, typer.Option(help="The reason for the decision, for the record.")],
    approve: Annotated[bool, typer.Option("--approve", help="Approve the assessment (it must have passed).")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject: this model (booster and re-ranker) can never be "
                                                          "promoted, whatever version holds it.")] = False,
    acknowledge: Annotated[list[str] | None, typer.Option(
        "--acknowledge", help="The labour-market finding the report names (LM-...): an approval must acknowledge "
                              "it.")] = None,
) -> None:
    """Record the ethics board's decision on an assessment (append-only, final).

    An approval is needed for promotion when the policy requires sign-off; it must acknowledge the assessment's
    labour-market finding, if the report names one. A rejection binds the model's content: no version holding the
    same booster and re-ranker is ever promoted. Each assessment is reviewed once; the record goes to
    <home>/governance/reviews.jsonl.
    """
    from assessments.governance import APPROVE, PAST, REJECT, record_review

    if approve == reject:
        raise LoopbaanError(ERR_ONE_DECISION)
    record = record_review(Settings(), assessment_id=assessment, decision=APPROVE if approve else REJECT,
                           reviewer=reviewer, comment=comment, acknowledge=acknowledge or [])
    typer.echo(f"recorded: {record['reviewer']} {PAST[record['decision']]} assessment {assessment} "
               f"({record['kind']} v{record['version']})")


@user_errors
def schedule(
    every_hours: Annotated[float, typer.Option(min=0.01, help="Hours between two recurring assessments.")] = 24.0,
    kind: Annotated[Kind | None, typer.Option(help="Only this kind (default: every kind with a champion).")] = None,
    data: DataOption = None,
    policy: PolicyOption = None,
    runs: Annotated[int | None, typer.Option(min=1, help="Stop after this many runs (default: until Ctrl-C).")] = None,
) -> None:
    """Run the recurring assessment now and then every N hours, until Ctrl-C.

    Each run is `loopbaan assess --recurring`: every champion on the newest data, an alert (log + report) on
    failure and, when the policy says so, a rollback to the last version that passed. Cron instead:
    `0 3 * * * cd /path/to/loopbaan && .venv/bin/loopbaan assess --recurring --json >> .loopbaan/recurring.log 2>&1`
    """
    from assessments.policy import load_policy
    from assessments.recurring import recurring_assessment, run_schedule

    settings = Settings()
    load_policy(policy, settings=settings)  # a malformed policy stops the schedule before its first run
    kinds = (kind.value,) if kind else KINDS

    def job() -> None:
        rules = load_policy(policy, settings=settings)  # each run: the policy in force then (the board may change it)
        _mlflow_errors(lambda: recurring_assessment(settings=settings, policy=rules, data=data, kinds=kinds,
                                                    echo=typer.echo))

    done = run_schedule(every_hours=every_hours, job=job, runs=runs, echo=typer.echo)
    typer.echo(f"schedule finished after {done} run(s)")


policy_app = typer.Typer(help="The fairness policy in force: its version, content digest and release.",
                         no_args_is_help=True)


@policy_app.command("show")
@user_errors
def policy_show(
    policy: PolicyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print version, digest and release as JSON.")] = False,
) -> None:
    """Validate the policy and print its version, its content digest and whether that version is released.

    A new policy version is released by adding its digest to assessments/policy_releases.json (a reviewed
    commit); changed content under a released version is refused on every load.
    """
    from assessments.policy import load_policy, released_digests

    rules = load_policy(policy)
    released = released_digests().get(rules.policy_version) == rules.digest
    if as_json:
        typer.echo(json.dumps({"policy_version": rules.policy_version, "digest": rules.digest, "released": released}))
        return
    typer.echo(f"policy {rules.policy_version}: digest {rules.digest}")
    typer.echo("released with the project" if released else
               f"not released: to release it, add \"{rules.policy_version}\": \"{rules.digest}\" to "
               "assessments/policy_releases.json in a reviewed commit")
