"""``loopbaan assess --mitigate``: when a version fails, choose a re-ranking setting on the *tuning* citizens,
draw the trade-off, register the chosen setting as its own version and judge that version on the *judging*
citizens, whom nothing was tuned on.

The re-ranker is tried for every variant of the policy's ``mitigation.guarantees`` (good opportunities; good
opportunities and, separately, ready items) at every ``mitigation.proportions``, each judged by the gate on the
tuning part of the held-out citizens (:mod:`assessments.holdout`); of the settings that pass there, those that
leave the fewest enforced checks inconclusive, and of these the one that keeps the highest ranking quality
(NDCG@10 on the tuning citizens' logged lists), is chosen. The judging citizens are never looked at while
choosing: the mitigated version's verdict on them is new evidence, and its report shows its tuning figures (in
sample for the choice) beside its judging ones.

How a re-ranked model stays a normal model version: the mitigated version registers the *same* LightGBM
booster (so ``models.tracking.load_model`` loads it and every SHAP explanation stays exact) in a new run whose
parameters are the base run's plus ``mitigation.*``, with the complete re-ranker (method, strength, the
good-opportunity criterion and, for jobs and trainings, the blind chance-of-success model) in the artifact
``mitigation/reranker.json``, summarised in the version's ``mitigation.*`` tags, and a lineage record that adds
the tuning citizens to the base's training and validation citizens. The assessment applies it through
:meth:`models.rerank.Reranker.select`; the service applies the same pure function (it reads no sensitive
attribute) to the model's best ``depth`` candidates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from assessments import registry
from assessments.document import worst_finding
from assessments.evidence import collect
from assessments.gate import INCONCLUSIVE
from assessments.holdout import JUDGING, TUNING
from assessments.policy import Policy
from assessments.run import AssessmentOutcome, judge, run_assessment
from features.errors import LoopbaanError
from features.settings import Settings
from features.vocabulary import NDCG_AT_K
from models import tracking
from models.lineage import log_lineage
from models.rerank import ARTIFACT as RERANKER_ARTIFACT
from models.rerank import Reranker

logger = logging.getLogger(__name__)
ERR_ALREADY_MITIGATED = ("version {version} is already a mitigated version (of version {base}); mitigate the base "
                         "version instead: `loopbaan assess --kind {kind} --version {base} --mitigate`")
ERR_NO_CRITERION = ("no good-opportunity criterion exists for {kind} on these data (no outcome records and no quality "
                    "index), so the re-ranker has nothing to promote")


@dataclass(frozen=True)
class MitigationOutcome:
    base: AssessmentOutcome
    mitigated: AssessmentOutcome | None
    message: str


def _worst(checks: list[dict], name: str) -> float:
    check = next(check for check in checks if check["name"] == name)
    worst = worst_finding(check["findings"], floor=check["floor"])
    return float("nan") if worst is None else worst["value"]


def _point(reranker: Reranker | None, verdict, focus: str) -> dict:
    overall = verdict.results.get(NDCG_AT_K, {}).get("overall", {})
    return {"proportion": reranker.proportion if reranker else 0.0,
            "guarantees": list(reranker.guarantees) if reranker else [],
            "label": reranker.label if reranker else "unmitigated",
            "inconclusive": [check["name"] for check in verdict.checks
                             if check["enforce"] and check["status"] == INCONCLUSIVE],
            NDCG_AT_K: overall.get("model"), "fairness": _worst(verdict.checks, focus), "passed": verdict.passed,
            "failed": verdict.failed,
            "worst": {check["name"]: _worst(verdict.checks, check["name"]) for check in verdict.checks
                      if check["enforce"]}}


def _variants(base: AssessmentOutcome, policy: Policy) -> list[Reranker]:
    """One re-ranker per guarantees variant of the policy that the kind's data can support."""
    prepared = base.prepared
    settings = policy.mitigation
    criterion = prepared.goodness.criterion
    usable = [variant for variant in settings.guarantees if criterion != "none" or "good" not in variant]
    if not usable:
        raise LoopbaanError(ERR_NO_CRITERION.format(kind=base.kind))
    good = ({"chance": prepared.outcome.blind} if criterion == "chance"
            else {"quality_threshold": prepared.goodness.quality_threshold} if criterion == "quality" else {})
    return [Reranker(proportion=settings.proportions[0], significance=settings.significance, depth=settings.depth,
                     criterion=criterion, guarantees=tuple(variant), **good) for variant in usable]


def _cost_order(point: dict) -> tuple:
    """Sort key among passing settings: the fewest enforced checks left inconclusive (a mitigation should remove
    doubt, not hide in it), then the highest ranking quality, then the fewest guarantees and the mildest strength."""
    ndcg = point[NDCG_AT_K] if point[NDCG_AT_K] is not None else float("-inf")
    return (len(point["inconclusive"]), -ndcg, len(point["guarantees"]), point["proportion"])


def tradeoff(base: AssessmentOutcome, *, policy: Policy) -> tuple[list[dict], Reranker, str]:
    """On the tuning citizens only: the unmitigated point and one point per guarantees variant and strength; the
    chosen re-ranker; the check the curve follows (the first that fails there, else the base's first failure)."""
    prepared = base.prepared
    seed = int(base.document.model.seed)
    unmitigated = judge(collect(prepared, part=TUNING), policy=policy, kind=base.kind, seed=seed)
    focus = (unmitigated.failed or base.failed_checks)[0]
    points = [_point(None, unmitigated, focus)]
    tried: list[tuple[dict, Reranker]] = []
    for template in _variants(base, policy):
        for proportion in policy.mitigation.proportions:
            reranker = template.with_proportion(proportion)
            verdict = judge(collect(prepared, part=TUNING, reranker=reranker), policy=policy, kind=base.kind,
                            seed=seed)
            point = _point(reranker, verdict, focus)
            points.append(point)
            tried.append((point, reranker))
    passing = [pair for pair in tried if pair[0]["passed"]]
    floor = next(check for check in unmitigated.checks if check["name"] == focus)["floor"]
    if passing:
        chosen, reranker = min(passing, key=lambda pair: _cost_order(pair[0]))
    else:
        chosen, reranker = min(tried, key=lambda pair: (len(pair[0]["failed"]),
                                                        -pair[0]["fairness"] if floor else pair[0]["fairness"]))
    chosen["chosen"] = True
    return points, reranker, focus


def register_mitigated(*, base: AssessmentOutcome, reranker: Reranker, settings: Settings) -> str:
    """Register the base booster with the re-ranker as a new version of the kind (alias challenger), its lineage
    being the base's plus the tuning citizens the setting was chosen on."""
    import mlflow
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    from models.training import PIP_REQUIREMENTS

    client = tracking.configure(settings)
    kind = base.kind
    base_ref = registry.resolve(client, kind, version=base.version)
    base_run = client.get_run(base_ref.run_id)
    model = base.prepared.model
    tuning = base.prepared.holdout.parts[TUNING]
    example = base.prepared.data.sets["test"].features[model.feature_names].head(5)
    experiment_id = tracking.ensure_experiment(client, kind, settings)
    name = tracking.registered_name(kind)
    with mlflow.start_run(experiment_id=experiment_id,
                          run_name=f"{kind}-mitigated-v{base.version}-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.log_params({**dict(base_run.data.params), "mitigation.method": reranker.method,
                           "mitigation.proportion": reranker.proportion, "mitigation.significance": reranker.significance,
                           "mitigation.depth": reranker.depth, "mitigation.criterion": reranker.criterion,
                           "mitigation.guarantees": reranker.label,
                           "mitigation.base_version": base.version, "mitigation.base_run_id": base_ref.run_id})
        mlflow.set_tags({"kind": kind, "synthetic_data": "true", "mitigated": "true",
                         "mitigation.base_version": base.version})
        mlflow.log_dict(reranker.to_dict(), RERANKER_ARTIFACT)
        lineage = log_lineage({**registry.lineage_of(client, base_ref), TUNING: tuning})
        info = mlflow.lightgbm.log_model(model.booster, name="model",
                                         signature=infer_signature(example, model.predict(example)),
                                         input_example=example, pip_requirements=PIP_REQUIREMENTS,
                                         registered_model_name=name)
        version = str(info.registered_model_version)
        logger.info("%s: mitigated version %s registered (run %s)", kind, version, run.info.run_id)
    tags = {**reranker.tags(), **lineage, "mitigation.base_version": base.version,
            "dataset_digest": base_ref.tags.get("dataset_digest", "")}
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, tracking.CHALLENGER, version)
    return version


def mitigate(*, kind: str, settings: Settings, policy: Policy, data=None, version: str | None = None,
             alias: str | None = None, echo: Callable[[str], None] = lambda line: None) -> MitigationOutcome:
    client = tracking.configure(settings)
    ref = registry.resolve(client, kind, version=version, alias=alias)
    if ref.mitigated:
        raise LoopbaanError(ERR_ALREADY_MITIGATED.format(version=ref.version, kind=kind,
                                                         base=ref.tags.get("mitigation.base_version", "?")))
    base = run_assessment(kind=kind, settings=settings, policy=policy, data=data, version=ref.version,
                          parts=(TUNING, JUDGING), echo=echo)
    if base.passed:
        return MitigationOutcome(base=base, mitigated=None,
                                 message=f"version {base.version} passes the gate; no mitigation needed")
    variants = "; ".join(" + ".join(variant) for variant in policy.mitigation.guarantees)
    echo(f"{kind} v{base.version} failed {', '.join(base.failed_checks)}; choosing a re-ranker on the "
         f"{len(base.prepared.holdout.parts[TUNING]):,} tuning citizens, guaranteeing {variants} at "
         f"p = {', '.join(f'{share:g}' for share in policy.mitigation.proportions)}")
    points, chosen, focus = tradeoff(base, policy=policy)
    best = next(point for point in points if point.get("chosen"))
    unmitigated = points[0]
    setting = f"p={best['proportion']:g} guaranteeing {best['label']}"
    if best["passed"]:
        doubt = (f" ({', '.join(best['inconclusive'])} inconclusive: no passing setting settles it)"
                 if best["inconclusive"] else "")
        conclusion = (f"On the tuning citizens, {setting} passes every enforced check{doubt}, at an NDCG@10 of "
                      f"{best[NDCG_AT_K]:.3f} against {unmitigated[NDCG_AT_K]:.3f} unmitigated: of the passing "
                      "settings that leave the fewest checks inconclusive, the one that keeps the most ranking "
                      "quality. Its verdict comes from the judging citizens, whom the choice never looked at.")
    else:
        moved = f"{unmitigated['fairness']:.3f} → {best['fairness']:.3f}"
        conclusion = (f"On the tuning citizens no setting passes. The closest, {setting}, still fails "
                      f"{', '.join(best['failed'])} ({focus}: {moved}), at an NDCG@10 of {best[NDCG_AT_K]:.3f} "
                      f"against {unmitigated[NDCG_AT_K]:.3f} unmitigated. The failing checks measure something "
                      "the re-ranker does not change: retrain, or the board decides.")
    check = base.document.check(focus)
    info = {"base_version": base.version, "base_assessment_id": base.assessment_id, "base_failed": base.failed_checks,
            "points": points, "focus": focus, "threshold": check.threshold, "chosen_on": TUNING,
            "fairness_label": f"{focus}: worst {'ratio' if check.floor else 'value'} (tuning citizens)",
            "conclusion": conclusion, "method": chosen.describe()}
    new_version = register_mitigated(base=base, reranker=chosen, settings=settings)
    echo(f"{kind}: registered the re-ranked model as version {new_version} (p={chosen.proportion:g}, guaranteeing "
         f"{chosen.label}); judging it on the {len(base.prepared.holdout.parts[JUDGING]):,} judging citizens")
    mitigated = run_assessment(kind=kind, settings=settings, policy=policy, data=data, version=new_version,
                               trigger="mitigation", mitigation=info, prepared=base.prepared, echo=echo)
    status = "passes" if mitigated.passed else f"fails {', '.join(mitigated.failed_checks)}"
    return MitigationOutcome(base=base, mitigated=mitigated,
                             message=f"mitigated version {new_version} {status} on the judging citizens; {conclusion}")
