"""``loopbaan assess --mitigate``: when a version fails, try the re-ranker, draw the trade-off, register the
chosen setting as its own version and put that version through the same gate.

How a re-ranked model stays a normal model version: the mitigated version registers the *same* LightGBM
booster (so ``models.tracking.load_model`` loads it and every SHAP explanation stays exact) in a new run whose
parameters are the base run's plus ``mitigation.*``, with the complete re-ranker (method, strength, the
good-opportunity criterion and, for jobs and trainings, the blind chance-of-success model) in the artifact
``mitigation/reranker.json`` and summarised in the version's ``mitigation.*`` tags. The assessment applies it
through :meth:`models.rerank.Reranker.select`; the service applies the same pure function (it reads no
sensitive attribute) to the model's best ``depth`` candidates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from assessments import registry
from assessments.evidence import collect
from assessments.policy import Policy
from assessments.run import AssessmentOutcome, evaluate_evidence, run_assessment
from features.errors import LoopbaanError
from features.settings import Settings
from models import tracking
from models.rerank import ARTIFACT as RERANKER_ARTIFACT
from models.rerank import Reranker

logger = logging.getLogger(__name__)
ERR_ALREADY_MITIGATED = ("version {version} is already a mitigated version (of version {base}); mitigate the base "
                         "version instead: `loopbaan assess --kind {kind} --version {base} --mitigate`")
ERR_NO_CRITERION = ("no good-opportunity criterion exists for {kind} on these data (no outcome records and no quality "
                    "index), so the re-ranker has nothing to promote")
WHY_OUTCOME = ("The remaining gap lies in the recorded outcomes, not in the order of the suggestions: in the records, "
               "citizens of these groups with the same qualifications succeeded less often (hired after applying, or "
               "completed after enrolling), through bias of employers or course providers or through factors the "
               "records do not show. A re-ranker that never sees sensitive attributes can only steer every citizen "
               "towards the opportunities they are best qualified for, which narrows such a penalty but cannot remove "
               "one that applies whatever is suggested. Measures outside the model are needed (employer engagement, "
               "anonymised applications, support during courses), or a decision of the board.")


@dataclass(frozen=True)
class MitigationOutcome:
    base: AssessmentOutcome
    mitigated: AssessmentOutcome | None
    message: str


def _fairness(checks: list[dict], focus: str) -> float:
    check = next(check for check in checks if check["name"] == focus)
    values = [finding["value"] for finding in check["findings"] if finding.get("judged")]
    if not values:
        return float("nan")
    return min(values) if check["rule"] == "min_ratio" else max(values)


def _point(proportion: float, results: dict, checks: list[dict], passed: bool, failed: list[str],
           focus: str) -> dict:
    return {"proportion": proportion, "ndcg_at_10": results.get("ndcg_at_10", {}).get("overall", {}).get("value"),
            "recall_at_10": results.get("recall_at_10", {}).get("overall", {}).get("value"),
            "fairness": _fairness(checks, focus), "passed": passed, "failed": failed,
            "worst": {check["name"]: _fairness(checks, check["name"]) for check in checks if check["enforce"]}}


def _template(base: AssessmentOutcome, policy: Policy) -> Reranker:
    prepared = base.prepared
    settings = policy.mitigation
    if prepared.goodness.criterion == "chance":
        return Reranker(proportion=settings.proportions[0], significance=settings.significance, depth=settings.depth,
                        criterion="chance", chance=prepared.outcome.blind)
    if prepared.goodness.criterion == "quality":
        return Reranker(proportion=settings.proportions[0], significance=settings.significance, depth=settings.depth,
                        criterion="quality", quality_threshold=prepared.goodness.quality_threshold)
    raise LoopbaanError(ERR_NO_CRITERION.format(kind=base.kind))


def tradeoff(base: AssessmentOutcome, *, policy: Policy) -> tuple[list[dict], Reranker, str]:
    """The unmitigated point and one point per re-ranking strength; the chosen re-ranker; the check followed."""
    template = _template(base, policy)
    focus = base.failed_checks[0]
    document = base.document
    points = [_point(0.0, document["results"], document["checks"], base.passed, base.failed_checks, focus)]
    seed = int(document["model"]["seed"])
    for proportion in policy.mitigation.proportions:
        evidence = collect(base.prepared, reranker=template.with_proportion(proportion))
        results, checks, passed, failed = evaluate_evidence(evidence, policy=policy, kind=base.kind, seed=seed)
        points.append(_point(proportion, results, checks, passed, failed, focus))
    tried = points[1:]
    passing = [point for point in tried if point["passed"]]
    ratio = next(check for check in document["checks"] if check["name"] == focus)["rule"] == "min_ratio"
    if passing:
        chosen = passing[0]
    else:
        chosen = min(tried, key=lambda point: (len(point["failed"]),
                                               -point["fairness"] if ratio else point["fairness"]))
    chosen["chosen"] = True
    return points, template.with_proportion(chosen["proportion"]), focus


def register_mitigated(*, base: AssessmentOutcome, reranker: Reranker, settings: Settings) -> str:
    """Register the base booster with the re-ranker as a new version of the kind (alias challenger)."""
    import mlflow
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    from models.training import PIP_REQUIREMENTS

    client = tracking.configure(settings)
    kind = base.kind
    base_ref = registry.resolve(client, kind, version=base.version)
    base_run = client.get_run(base_ref.run_id)
    model = base.prepared.model
    example = base.prepared.data.sets["valid"].features[model.feature_names].head(5)
    experiment_id = tracking.ensure_experiment(client, kind, settings)
    name = tracking.registered_name(kind)
    with mlflow.start_run(experiment_id=experiment_id,
                          run_name=f"{kind}-mitigated-v{base.version}-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.log_params({**dict(base_run.data.params), "mitigation.method": reranker.method,
                           "mitigation.proportion": reranker.proportion, "mitigation.significance": reranker.significance,
                           "mitigation.depth": reranker.depth, "mitigation.criterion": reranker.criterion,
                           "mitigation.base_version": base.version, "mitigation.base_run_id": base_ref.run_id})
        mlflow.set_tags({"kind": kind, "synthetic_data": "true", "mitigated": "true",
                         "mitigation.base_version": base.version})
        mlflow.log_dict(reranker.to_dict(), RERANKER_ARTIFACT)
        info = mlflow.lightgbm.log_model(model.booster, name="model",
                                         signature=infer_signature(example, model.predict(example)),
                                         input_example=example, pip_requirements=PIP_REQUIREMENTS,
                                         registered_model_name=name)
        version = str(info.registered_model_version)
        logger.info("%s: mitigated version %s registered (run %s)", kind, version, run.info.run_id)
    tags = {**reranker.tags(), "mitigation.base_version": base.version,
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
    base = run_assessment(kind=kind, settings=settings, policy=policy, data=data, version=ref.version, echo=echo)
    if base.passed:
        return MitigationOutcome(base=base, mitigated=None,
                                 message=f"version {base.version} passes the gate; no mitigation needed")
    echo(f"{kind} v{base.version} failed {', '.join(base.failed_checks)}; trying the re-ranker at "
         f"p = {', '.join(f'{share:g}' for share in policy.mitigation.proportions)}")
    points, chosen, focus = tradeoff(base, policy=policy)
    best = next(point for point in points if point.get("chosen"))
    unmitigated = points[0]
    if best["passed"]:
        conclusion = (f"p={best['proportion']:g} passes every enforced check, at an NDCG@10 of "
                      f"{best['ndcg_at_10']:.3f} against {unmitigated['ndcg_at_10']:.3f} unmitigated.")
    else:
        moved = f"{unmitigated['fairness']:.3f} → {best['fairness']:.3f}"
        conclusion = (f"No strength passes. The closest, p={best['proportion']:g}, still fails "
                      f"{', '.join(best['failed'])} ({focus}: {moved}), at an NDCG@10 of {best['ndcg_at_10']:.3f} "
                      f"against {unmitigated['ndcg_at_10']:.3f} unmitigated. ")
        if any(name in ("outcome_parity",) for name in best["failed"]):
            conclusion += WHY_OUTCOME
        else:
            conclusion += "The failing checks measure something the re-ranker does not change."
    check = next(check for check in base.document["checks"] if check["name"] == focus)
    info = {"base_version": base.version, "base_assessment_id": base.assessment_id, "base_failed": base.failed_checks,
            "points": points, "focus": focus, "threshold": check["threshold"],
            "fairness_label": f"{focus}: worst {'ratio' if check['rule'] == 'min_ratio' else 'value'}",
            "conclusion": conclusion, "method": chosen.describe()}
    new_version = register_mitigated(base=base, reranker=chosen, settings=settings)
    echo(f"{kind}: registered the re-ranked model as version {new_version} (p={chosen.proportion:g}); assessing it")
    mitigated = run_assessment(kind=kind, settings=settings, policy=policy, data=data, version=new_version,
                               trigger="mitigation", mitigation=info, echo=echo)
    status = "passes" if mitigated.passed else f"fails {', '.join(mitigated.failed_checks)}"
    return MitigationOutcome(base=base, mitigated=mitigated,
                             message=f"mitigated version {new_version} {status}; {conclusion}")

