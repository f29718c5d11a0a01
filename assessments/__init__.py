"""Fairness assessment of rankings, the promotion gate and the ethics-board reports (imports models/, features/).

The only package that may read sensitive attributes. Entry points:

- :func:`assessments.policy.load_policy` — the policy in force (``assessments/policy.yaml``), validated;
- :func:`assessments.run.run_assessment` — assess one registered version on held-out data;
- :class:`assessments.document.AssessmentDocument` — what one assessment found (``assessment.json``), typed;
- :func:`assessments.promotion.promote` — move ``champion`` only through the gate; its refusals are
  :class:`assessments.promotion.Refusal` flags;
- :func:`assessments.governance.record_review` — the ethics board's decision on an assessment;
- :func:`assessments.recurring.recurring_assessment` / :func:`assessments.recurring.run_schedule`;
- :func:`assessments.mitigation.mitigate` — the re-ranker, its trade-off curve, a mitigated version.
"""
