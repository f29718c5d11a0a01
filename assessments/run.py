"""One assessment end to end: the version → evidence on held-out data → metrics per group → the gate →
``assessment.json`` + ``report.html`` under the settings' reports folder → metrics, report and result tags in
MLflow. Thin callers: ``loopbaan assess``, the recurring run, the mitigation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assessments import governance, registry, store
from assessments.aggregate import aggregate
from assessments.evidence import Evidence, Prepared, collect, prepare
from assessments.gate import INCONCLUSIVE, decide, evaluate
from assessments.policy import Policy
from assessments.report import render_report
from features.population.store import PopulationStore
from features.settings import Settings
from models import tracking
from models.datasets import build_ranking_data
from models.rerank import Reranker
from models.resources import load_resources
from models.suggest import Suggester

logger = logging.getLogger(__name__)
EXPLANATION_ROWS = 2_000
SAMPLE_EXPLANATIONS = 2


@dataclass(frozen=True)
class AssessmentOutcome:
    assessment_id: str
    kind: str
    version: str
    passed: bool
    failed_checks: list[str]
    inconclusive_checks: list[str]
    folder: Path
    report: Path
    document: dict
    prepared: Prepared | None = None
    reranker: Reranker | None = None

    def summary(self) -> dict:
        return {"assessment_id": self.assessment_id, "kind": self.kind, "version": self.version,
                "passed": self.passed, "failed_checks": self.failed_checks,
                "inconclusive_checks": self.inconclusive_checks, "report": str(self.report)}


def evaluate_evidence(evidence: Evidence, *, policy: Policy, kind: str, seed: int) -> tuple[dict, list[dict], bool,
                                                                                              list[str]]:
    results = aggregate(evidence, policy=policy, kind=kind, seed=seed)
    checks = evaluate(results, policy=policy, kind=kind)
    passed, failed = decide(checks, policy=policy)
    return results, [check.to_dict() for check in checks], passed, failed


def _explanations(prepared: Prepared, evidence: Evidence, ref: registry.VersionRef,
                  reranker: Reranker | None) -> dict:
    """Additivity of every explanation of the shown top 10s (up to EXPLANATION_ROWS) and two samples as a
    citizen sees them (no citizen id, nothing that identifies the person)."""
    model = prepared.model
    deep = prepared.deep
    chosen = set(zip(evidence.top_rows.tolist(), evidence.top_items.tolist(), strict=True))
    rows = [index for index, pair in enumerate(zip(deep.query_rows.tolist(), deep.item_positions.tolist(),
                                                   strict=True)) if pair in chosen][:EXPLANATION_ROWS]
    features = deep.features.iloc[rows]
    contributions = model.contributions(features)
    error = float(np.max(np.abs(contributions.sum(axis=1) - model.predict(features)))) if rows else 0.0
    samples = []
    if len(prepared.context):
        suggester = Suggester(resources=prepared.resources, model=model,
                              model_info={"name": ref.name, "version": ref.version}, reranker=reranker)
        picks = np.arange(min(SAMPLE_EXPLANATIONS, len(prepared.context)))
        for language in ("nl", "en"):
            for suggestions in suggester.suggest(prepared.context.take(picks), k=3, language=language):
                samples.append({"language": language, "suggestions": [{
                    "rank": item.rank, "title": item.title, "readiness": item.readiness, "score": item.score,
                    "summary": item.explanation.summary, "base_value": item.explanation.base_value,
                    "contribution_sum": sum(part.contribution for part in item.explanation.contributions),
                    "reasons": [{"sentence": part.sentence, "contribution": part.contribution}
                                for part in item.explanation.contributions[:4]],
                    "barriers": [barrier["detail"] for barrier in item.barriers],
                    "missing": [competency["label"] for competency in item.missing_competencies[:4]],
                } for item in suggestions]})
    return {"rows_checked": len(rows), "additivity_max_error": error, "additive": error <= 1e-6, "samples": samples}


def _oversight(settings: Settings, client, kind: str, version: str) -> dict:
    history = governance.promotion_history(settings, kind=kind)
    champion = registry.aliases_of(client, kind).get(tracking.CHAMPION)
    moves = [record for record in history if record["action"] in ("promote", "rollback")]
    overrides = []
    if champion is not None and (not moves or str(moves[-1]["to_version"]) != champion):
        overrides.append(f"the champion alias points at version {champion}, but the promotion history "
                         f"{'ends with version ' + str(moves[-1]['to_version']) if moves else 'is empty'}: "
                         "the alias was moved outside the gate")
    return {"champion": champion, "reviews": governance.reviews(settings, kind=kind, version=version),
            "promotions": history[-20:], "overrides": overrides}


def _trend(settings: Settings, kind: str) -> list[dict]:
    out = []
    for document in store.assessments_of(settings, kind)[-20:]:
        worst = {}
        for check in document.get("checks", []):
            values = [finding["value"] for finding in check.get("findings", []) if finding.get("judged")]
            if values:
                worst[check["name"]] = min(values) if check["rule"] == "min_ratio" else max(values)
        out.append({"assessment_id": document["assessment_id"], "assessed_at": document["assessed_at"],
                    "version": document["version"], "trigger": document.get("trigger"),
                    "passed": document["passed"], "worst": worst,
                    "overall": {metric: {"value": result.get("overall", {}).get("value")}
                                for metric, result in document.get("results", {}).items()}})
    return out


def run_assessment(*, kind: str, settings: Settings, policy: Policy, data: Path | None = None,
                   version: str | None = None, alias: str | None = None, trigger: str = "manual",
                   mitigation: dict | None = None, reranker: Reranker | None = None,
                   echo: Callable[[str], None] = lambda line: None) -> AssessmentOutcome:
    """Assess one registered version on held-out data and record the result everywhere it belongs."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    client = tracking.configure(settings)
    ref = registry.resolve(client, kind, version=version, alias=alias)
    population = PopulationStore(data or settings.population_dir)
    model = registry.load_booster(ref, settings)
    reranker = reranker or registry.load_reranker(client, ref)
    params = registry.run_params(client, ref)
    seed = int(params.get("seed", settings.seed))
    same_data = ref.tags.get("dataset_digest") == population.digest()
    resources = load_resources(kind, store=population, settings=settings)
    ranking = build_ranking_data(resources, seed=seed)
    timings["data_s"] = time.perf_counter() - started
    echo(f"{kind} v{ref.version}: held-out data ready ({ranking.sets['test'].n_groups:,} test lists)")

    started = time.perf_counter()
    prepared = prepare(resources=resources, model=model, data=ranking, policy=policy, seed=seed, same_data=same_data)
    timings["rank_s"] = time.perf_counter() - started
    started = time.perf_counter()
    evidence = collect(prepared, reranker=reranker)
    results, checks, passed, failed = evaluate_evidence(evidence, policy=policy, kind=kind, seed=seed)
    timings["metrics_s"] = time.perf_counter() - started
    echo(f"{kind} v{ref.version}: {len(prepared.sample_ids):,} citizens' suggestions assessed, "
         f"{policy.bootstrap_samples} bootstrap samples")

    started = time.perf_counter()
    moment = store.now_utc()
    assessment_id = store.new_id(kind, ref.version, moment)
    manifest = population.manifest
    document = {
        "assessment_id": assessment_id, "kind": kind, "version": ref.version, "registered_model": ref.name,
        "run_id": ref.run_id, "aliases": list(ref.aliases), "trigger": trigger, "assessed_at": store.iso(moment),
        "passed": passed, "failed_checks": failed,
        "inconclusive_checks": [check["name"] for check in checks if check["status"] == INCONCLUSIVE],
        "policy": {"version": policy.policy_version, "digest": policy.digest, "owner": policy.owner,
                   "decision_basis": policy.decision_basis, "min_group_size": policy.min_group_size,
                   "bootstrap_samples": policy.bootstrap_samples, "confidence_level": policy.confidence_level,
                   "sign_off_required": policy.sign_off_required, "rollback_on_failure": policy.rollback_on_failure,
                   "sensitive_features": dict(policy.sensitive_features),
                   "intersections": [list(pair) for pair in policy.intersections]},
        "data": {"folder": str(population.folder), "digest": population.digest(),
                 "config": manifest.get("config", {}), "synthetic": bool(manifest.get("synthetic", True)),
                 "generator_version": manifest.get("generator_version"), "taxonomy": manifest.get("taxonomy"),
                 **prepared.facts},
        "model": {"seed": seed, "training": registry.training_facts(client, ref),
                  "mitigation": reranker.to_dict() if reranker else None,
                  "mitigation_text": reranker.describe() if reranker else None,
                  "feature_names": model.feature_names},
        "goodness": {"criterion": prepared.goodness.criterion, "description": prepared.goodness.description},
        "outcome_model": None if prepared.outcome is None else {
            "records": prepared.outcome.records, "success_rate": prepared.outcome.success_rate,
            "sensitive_log_odds": prepared.outcome.coefficients()},
        "results": results, "checks": checks,
        "explanations": _explanations(prepared, evidence, ref, reranker),
        "trend": _trend(settings, kind), "oversight": _oversight(settings, client, kind, ref.version),
        "mitigation": mitigation,
    }
    timings["explain_s"] = time.perf_counter() - started
    document["timings_s"] = timings
    started = time.perf_counter()
    json_path, report_path = store.save(settings, document, render_report(document))
    step = len(store.assessments_of(settings, kind, version=ref.version))
    registry.log_results(client, ref, metrics=registry.flat_metrics(results, checks), step=step, report=report_path,
                         assessment=json_path, assessment_id=assessment_id)
    registry.set_result_tags(client, ref, assessment_id=assessment_id, passed=passed,
                             assessed_at=document["assessed_at"], policy_version=policy.policy_version, failed=failed)
    timings["record_s"] = time.perf_counter() - started
    logger.info("%s version %s assessed (%s): %s", kind, ref.version, assessment_id,
                "passed" if passed else f"failed {', '.join(failed)}")
    return AssessmentOutcome(assessment_id=assessment_id, kind=kind, version=ref.version, passed=passed,
                             failed_checks=failed, inconclusive_checks=document["inconclusive_checks"],
                             folder=json_path.parent, report=report_path, document=document, prepared=prepared,
                             reranker=reranker)
