"""One assessment end to end: the version → its held-out citizens (by its lineage) → evidence per part →
metrics per group, model against reference → the gate on the judging part → ``assessment.json`` (an
:class:`~assessments.document.AssessmentDocument`) +
``report.html`` under the settings' reports folder → metrics, report and result tags in MLflow. Thin callers:
``loopbaan assess``, the recurring run, the mitigation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from assessments import governance, registry, store
from assessments._ranking import ModelScorer, Scorer
from assessments.aggregate import results_document, summarise
from assessments.document import AssessmentDocument
from assessments.evidence import Evidence, Prepared, collect, prepare
from assessments.gate import INCONCLUSIVE, decide, evaluate
from assessments.holdout import JUDGING, PARTS, TUNING, HoldoutRule, split_holdout
from assessments.labour_market import labour_market_finding
from assessments.policy import Policy
from assessments.report import render_report
from features.consent import opted_out_ids
from features.errors import LoopbaanError
from features.population.store import PopulationStore
from features.register import FAIRNESS_ASSESSMENT, processing
from features.settings import Settings
from features.vocabulary import LANGUAGES
from models import tracking
from models.datasets import build_ranking_data
from models.lineage import seen_citizens
from models.ranker import ScoringModel
from models.rerank import Reranker
from models.resources import KindResources, load_resources
from models.suggest import Suggester

logger = logging.getLogger(__name__)
ERR_LEAK = ("the {part} citizens of this assessment include citizens version {version} learnt from (its lineage "
            "record and the evidence disagree): re-run the assessment without re-using another version's evidence")
FORMAT = 2  # the assessment document's format (1: policy 1.x, absolute checks on the tuning data)
EXPLANATION_ROWS = 2_000
SAMPLE_EXPLANATIONS = 2


@dataclass(frozen=True)
class Verdict:
    """The gate's answer on one part's evidence."""

    results: dict
    checks: list[dict]
    passed: bool
    failed: list[str]

    @property
    def inconclusive(self) -> list[str]:
        return [check["name"] for check in self.checks if check["enforce"] and check["status"] == INCONCLUSIVE]

    def to_dict(self) -> dict:
        return {"results": self.results, "checks": self.checks, "passed": self.passed, "failed_checks": self.failed,
                "inconclusive_checks": self.inconclusive}


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
    document: AssessmentDocument
    prepared: Prepared | None = None
    reranker: Reranker | None = None

    def summary(self) -> dict:
        return {"assessment_id": self.assessment_id, "kind": self.kind, "version": self.version,
                "passed": self.passed, "failed_checks": self.failed_checks,
                "inconclusive_checks": self.inconclusive_checks, "report": str(self.report)}


def judge(evidence: Evidence, *, policy: Policy, kind: str, seed: int) -> Verdict:
    summaries = summarise(evidence, policy=policy, kind=kind, seed=seed)
    checks = evaluate(summaries, policy=policy, kind=kind)
    passed, failed = decide(checks, policy=policy)
    return Verdict(results=results_document(summaries, confidence=policy.confidence_level),
                   checks=[check.to_dict() for check in checks], passed=passed, failed=failed)


def prepare_version(*, resources: KindResources, model: ScoringModel, lineage: dict[str, np.ndarray],
                    policy: Policy, seed: int, time_cutoff: date | None, version: str, opted_out: np.ndarray,
                    parts: tuple[str, ...] = (JUDGING,), scorer: Scorer | None = None) -> Prepared:
    """The version's held-out citizens (everyone it never learnt from, by id) split into tuning and judging, and
    the evidence base of the requested parts; ``scorer`` ranks instead of the model (a constructed ranker judged
    on the very citizens of the version)."""
    population = resources.store
    holdout = split_holdout(population=population.table("citizens")["citizen_id"].to_numpy(),
                            seen=seen_citizens(lineage), opted_out=opted_out,
                            rule=HoldoutRule(salt=policy.holdout.salt, tuning_share=policy.holdout.tuning_share),
                            folder=str(population.folder), version=version, required=parts)
    split = {"train": lineage.get("train", np.zeros(0, np.int64)), "valid": lineage.get("valid", np.zeros(0, np.int64)),
             "test": np.concatenate([holdout.parts[part] for part in PARTS])}
    data = build_ranking_data(resources, seed=seed, split=split, time_cutoff=time_cutoff)
    return prepare(resources=resources, scorer=scorer or ModelScorer(model), model=model, data=data, policy=policy,
                   seed=seed, holdout=holdout, parts=parts)


def verify_holdout(prepared: Prepared, lineage: dict[str, np.ndarray], *, version: str) -> None:
    """No citizen of either part trained, validated or (for a judging citizen) tuned the version."""
    learnt = seen_citizens({role: ids for role, ids in lineage.items() if role != TUNING})
    tuned = lineage.get(TUNING, np.zeros(0, np.int64))
    for part, ids in prepared.holdout.parts.items():
        if np.isin(ids, learnt).any() or (part == JUDGING and np.isin(ids, tuned).any()):
            raise LoopbaanError(ERR_LEAK.format(version=version, part=part))


def _explanations(prepared: Prepared, evidence: Evidence, reranker: Reranker | None) -> dict:
    """Additivity of every explanation of the shown top 10s (up to EXPLANATION_ROWS) and two samples as a
    citizen sees them (no citizen id, nothing that identifies the person)."""
    model = prepared.model
    part = prepared.parts[evidence.part]
    deep = part.ranked.deep
    chosen = set(zip(*(values.tolist() for values in evidence.shown["model"]), strict=True))
    rows = [index for index, pair in enumerate(zip(deep.query_rows.tolist(), deep.item_positions.tolist(),
                                                   strict=True)) if pair in chosen][:EXPLANATION_ROWS]
    features = deep.features.iloc[rows]
    contributions = model.contributions(features)
    error = float(np.max(np.abs(contributions.sum(axis=1) - model.predict(features)))) if rows else 0.0
    samples = []
    if len(part.context):
        suggester = Suggester(resources=prepared.resources, model=model, reranker=reranker)
        picks = np.arange(min(SAMPLE_EXPLANATIONS, len(part.context)))
        for language in LANGUAGES:
            for suggestions in suggester.suggest(part.context.take(picks), k=3, language=language):
                samples.append({"language": language, "suggestions": [{
                    "rank": item.rank, "title": item.title, "readiness": item.readiness, "score": item.score,
                    "summary": item.explanation.summary, "base_value": item.explanation.base_value,
                    "contribution_sum": sum(part.contribution for part in item.explanation.contributions),
                    "reasons": [{"sentence": part.sentence, "contribution": part.contribution}
                                for part in item.explanation.contributions[:4]],
                    "barriers": [barrier.detail for barrier in item.barriers],
                    "missing": [competency.label for competency in item.missing_competencies[:4]],
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
        if document.format != FORMAT:
            continue  # made under a policy of another format: its figures are not comparable
        worst = {check.name: check.worst["value"] for check in document.checks if check.worst is not None}
        out.append({"assessment_id": document.assessment_id, "assessed_at": document.assessed_at,
                    "version": document.version, "trigger": document.trigger,
                    "passed": document.passed, "worst": worst,
                    "overall": {metric: {"value": result.get("overall", {}).get("model")}
                                for metric, result in document.results.items()}})
    return out


def _time_cutoff(params: dict) -> date | None:
    value = params.get("time_cutoff")
    return date.fromisoformat(value) if value and value != "None" else None


def run_assessment(*, kind: str, settings: Settings, policy: Policy, data: Path | None = None,
                   version: str | None = None, alias: str | None = None, trigger: str = "manual",
                   mitigation: dict | None = None, reranker: Reranker | None = None,
                   prepared: Prepared | None = None, parts: tuple[str, ...] = (JUDGING,),
                   echo: Callable[[str], None] = lambda line: None) -> AssessmentOutcome:
    """Assess one registered version on its held-out citizens and record the result everywhere it belongs.

    The verdict comes from the judging part only. ``parts`` also prepares the tuning part (for a mitigation);
    ``prepared`` re-uses the evidence base of another version with the very same booster on the same data (a
    mitigated version and its base): its tuning figures are then shown beside the judging ones.
    """
    with processing(FAIRNESS_ASSESSMENT):
        return _run_assessment(kind=kind, settings=settings, policy=policy, data=data, version=version, alias=alias,
                               trigger=trigger, mitigation=mitigation, reranker=reranker, prepared=prepared,
                               parts=parts, echo=echo)


def _run_assessment(*, kind: str, settings: Settings, policy: Policy, data: Path | None, version: str | None,
                    alias: str | None, trigger: str, mitigation: dict | None, reranker: Reranker | None,
                    prepared: Prepared | None, parts: tuple[str, ...],
                    echo: Callable[[str], None]) -> AssessmentOutcome:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    client = tracking.configure(settings)
    ref = registry.resolve(client, kind, version=version, alias=alias)
    population = PopulationStore(data or settings.population_dir)
    model = registry.load_booster(ref, settings)
    reranker = reranker or registry.load_reranker(client, ref)
    params = registry.run_params(client, ref)
    seed = int(params.get("seed", settings.seed))
    lineage = registry.lineage_of(client, ref)
    digest = registry.booster_digest(model)
    if prepared is not None and (prepared.facts.get("booster_digest") != digest
                                 or prepared.resources.store.digest() != population.digest()):
        prepared = None  # another booster or other data: the evidence must be built anew
    if prepared is None:
        resources = load_resources(kind, store=population, settings=settings)
        timings["data_s"] = time.perf_counter() - started
        started = time.perf_counter()
        consent_as_of = datetime.now(UTC)
        prepared = prepare_version(resources=resources, model=model, lineage=lineage, policy=policy, seed=seed,
                                   time_cutoff=_time_cutoff(params), version=ref.version, parts=parts,
                                   opted_out=opted_out_ids(settings, population, consent_as_of))
        prepared.facts.update(booster_digest=digest, consent_as_of=consent_as_of.isoformat(timespec="seconds"))
        timings["rank_s"] = time.perf_counter() - started
    verify_holdout(prepared, lineage, version=ref.version)
    echo(f"{kind} v{ref.version}: {prepared.holdout.heldout:,} held-out citizens "
         f"({', '.join(f'{name} {len(ids):,}' for name, ids in prepared.holdout.parts.items())})")

    started = time.perf_counter()
    evidence = {part: collect(prepared, part=part, reranker=reranker) for part in prepared.parts}
    verdicts = {part: judge(found, policy=policy, kind=kind, seed=seed) for part, found in evidence.items()}
    judging = verdicts[JUDGING]
    timings["metrics_s"] = time.perf_counter() - started
    echo(f"{kind} v{ref.version}: {prepared.facts['sampled_citizens'][JUDGING]:,} judging citizens' suggestions "
         f"assessed against the reference ranking, {policy.bootstrap_samples} bootstrap samples")

    started = time.perf_counter()
    finding = labour_market_finding(kind=kind, outcome=prepared.outcome, resources=prepared.resources,
                                    materiality=policy.labour_market.materiality, seed=seed)
    timings["market_s"] = time.perf_counter() - started
    started = time.perf_counter()
    moment = store.now_utc()
    assessment_id = store.new_id(kind, ref.version, moment)
    manifest = population.manifest
    explanations = _explanations(prepared, evidence[JUDGING], reranker)
    trend, oversight = _trend(settings, kind), _oversight(settings, client, kind, ref.version)
    timings["explain_s"] = time.perf_counter() - started
    document = AssessmentDocument.model_validate({
        "format": FORMAT, "assessment_id": assessment_id, "kind": kind, "version": ref.version,
        "registered_model": ref.name, "run_id": ref.run_id, "aliases": list(ref.aliases), "trigger": trigger,
        "assessed_at": store.iso(moment), "passed": judging.passed, "failed_checks": judging.failed,
        "inconclusive_checks": judging.inconclusive,
        "policy": {"version": policy.policy_version, "digest": policy.digest, "owner": policy.owner,
                   "reference": policy.reference, "decision_basis": policy.decision_basis,
                   "multiplicity": policy.multiplicity, "min_group_size": policy.min_group_size,
                   "bootstrap_samples": policy.bootstrap_samples, "confidence_level": policy.confidence_level,
                   "sign_off_required": policy.sign_off_required, "rollback_on_failure": policy.rollback_on_failure,
                   "sensitive_features": dict(policy.sensitive_features),
                   "intersections": [list(pair) for pair in policy.intersections]},
        "data": {"folder": str(population.folder), "digest": population.digest(),
                 "config": manifest.get("config", {}), "synthetic": bool(manifest.get("synthetic", True)),
                 "generator_version": manifest.get("generator_version"), "taxonomy": manifest.get("taxonomy"),
                 **{key: value for key, value in prepared.facts.items() if key != "booster_digest"}},
        "model": {"seed": seed, "training": registry.training_facts(client, ref),
                  "booster_digest": digest, "content_digest": registry.content_digest(model, reranker),
                  "lineage": {role: len(ids) for role, ids in lineage.items()},
                  "mitigation": reranker.to_dict() if reranker else None,
                  "mitigation_text": reranker.describe() if reranker else None,
                  "feature_names": model.feature_names},
        "goodness": {"criterion": prepared.goodness.criterion, "description": prepared.goodness.description},
        "outcome_model": None if prepared.outcome is None else {
            "records": prepared.outcome.records, "success_rate": prepared.outcome.success_rate,
            "sensitive_log_odds": prepared.outcome.coefficients()},
        "labour_market": finding,
        "results": judging.results, "checks": judging.checks,
        "tuning": verdicts[TUNING].to_dict() if TUNING in verdicts else None,
        "explanations": explanations, "trend": trend, "oversight": oversight, "mitigation": mitigation,
        "timings_s": timings,
    })
    started = time.perf_counter()
    json_path, report_path = store.save(settings, document, render_report(document))
    step = len(store.assessments_of(settings, kind, version=ref.version))
    registry.log_results(client, ref, metrics=registry.flat_metrics(judging.results, judging.checks), step=step,
                         report=report_path, assessment=json_path, assessment_id=assessment_id)
    registry.set_result_tags(client, ref, assessment_id=assessment_id, passed=judging.passed,
                             assessed_at=document.assessed_at, policy_version=policy.policy_version,
                             failed=judging.failed)
    document.timings_s["record_s"] = time.perf_counter() - started  # in memory only, as the benchmark reads it
    logger.info("%s version %s assessed (%s): %s", kind, ref.version, assessment_id,
                "passed" if judging.passed else f"failed {', '.join(judging.failed)}")
    return AssessmentOutcome(assessment_id=assessment_id, kind=kind, version=ref.version, passed=judging.passed,
                             failed_checks=judging.failed, inconclusive_checks=judging.inconclusive,
                             folder=json_path.parent, report=report_path, document=document, prepared=prepared,
                             reranker=reranker)
