"""The assessment report for the ethics board: one self-contained HTML page (inline CSS, inline PNG plots),
rendered from the Jinja2 template ``templates/report.html.j2``; this module gives it the figures and formats.

Written for readers without code: every section says in plain words what was measured and what it means,
starting with the go/no-go decision. Sections (their ids are stable): decision, purpose, ai-act, datasheet,
performance, fairness, labour-market, metrics, trend, explanations, mitigation, oversight, model-card, glossary.
The template reads the :class:`~assessments.document.AssessmentDocument`; the helpers here and the plots read
its JSON objects (``AssessmentDocument.to_dict``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from html import escape

import jinja2
from markupsafe import Markup

from assessments import _plots
from assessments.document import AssessmentDocument, worst_finding
from assessments.metric_catalogue import METRIC_BY_NAME
from features.feature_definitions import FEATURE_BY_NAME
from features.vocabulary import NDCG_AT_K

TEMPLATE = "report.html.j2"
SECTIONS = ("decision", "purpose", "ai-act", "datasheet", "performance", "fairness", "labour-market", "metrics",
            "trend", "explanations", "mitigation", "oversight", "model-card", "glossary")
_RULES = {"gap_vs_reference": "model's lowest/highest ratio ÷ reference's ≥",
          "group_vs_reference": "each group: model ÷ reference ≥",
          "excess_over_reference": "each group: model − reference ≤",
          "min_ratio": "lowest/highest group ≥", "max_value": "each group ≤", "max_overall": "catalogue ≤"}
_KIND_WORDS = {"jobs": "job vacancies", "trainings": "trainings", "careers": "next career steps (occupations)"}
_STATUS = {"pass": ("PASS", "ok"), "fail": ("FAIL", "bad"), "inconclusive": ("INCONCLUSIVE", "warn"),
           "not_judged": ("NOT JUDGED", "muted"), "not_applicable": ("N/A", "muted")}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1080px;margin:2em auto;padding:0 1em;
color:#212121;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #e0e0e0;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em;width:100%}th,td{border:1px solid #e0e0e0;
padding:.3em .5em;text-align:left;vertical-align:top}th{background:#f5f5f5}
.ok{color:#2e7d32;font-weight:600}.bad{color:#c62828;font-weight:600}.warn{color:#ef6c00;font-weight:600}
.muted{color:#757575}.banner{padding:1em;border-radius:6px;margin:1em 0;font-size:1.1em}
.go{background:#e8f5e9;border:2px solid #2e7d32}.nogo{background:#ffebee;border:2px solid #c62828}
.alert{background:#fff3e0;border:2px solid #ef6c00}.synthetic{background:#e3f2fd;border:1px solid #1565c0;
padding:.7em;border-radius:6px}.small{font-size:.85em}img{max-width:100%}code{background:#f5f5f5;padding:0 .2em}
.card{border:1px solid #e0e0e0;border-radius:6px;padding:.6em 1em;margin:.5em 0}
"""


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if METRIC_BY_NAME[metric].percent else f"{value:.3f}"


def _ci(metric: str, interval: list | None) -> str:
    if not interval or interval[0] is None:
        return "–"
    return f"{_fmt(metric, interval[0])} – {_fmt(metric, interval[1])}"


def _status(status: str) -> Markup:
    label, css = _STATUS.get(status, (status, "muted"))
    return Markup(f'<span class="{css}">{label}</span>')


def _bias_sentence(config: dict) -> Markup:
    bias = config.get("bias") or {}
    if not bias:
        return Markup("The bias settings of these data are not recorded.")
    if all(float(value) == 0 for value in bias.values()):
        return Markup("Historical-bias knobs: <b>all set to 0</b> (no historical bias was put into the hiring "
                      "outcomes).")
    parts = ", ".join(f"{escape(name.replace('_', ' '))} {float(value):.2f}" for name, value in bias.items())
    return Markup(f"Historical-bias knobs (penalty on the log-odds of being hired after applying): <b>{parts}</b>. "
                  "These put discrimination by employers into the synthetic hiring records on purpose, so that the "
                  "gate has real work to do.")


def _lowest(result: dict) -> list[tuple[str, str, float, int]]:
    out = []
    for key, breakdown in result.get("breakdowns", {}).items():
        judged = [group for group in breakdown["groups"] if group["judged"] and group["model"] is not None]
        if judged:
            worst = min(judged, key=lambda group: group["model"])
            out.append((key, worst["group"], worst["model"], worst["n"]))
    return out


def _threshold(check: dict) -> str:
    if check["rule"] in ("gap_vs_reference", "group_vs_reference", "min_ratio"):
        return f"{check['threshold']:.2f}"
    if check["rule"] == "excess_over_reference":
        return f"{check['threshold']:+.2f}"
    return _fmt(check["metric"], check["threshold"])


def _p(finding: dict) -> str:
    if finding.get("p_adjusted") is not None:
        return f"{finding['p_adjusted']:.2g} (adjusted)"
    return "–" if finding.get("p") is None else f"{finding['p']:.2g}"


def _worst_finding(check: dict) -> Mapping | None:
    return worst_finding(check["findings"], floor=check["floor"])


def _range(interval: list | None) -> str:
    if not interval or interval[0] is None:
        return "–"
    return f"{interval[0]:.2f} – {interval[1]:.2f}"


def _singles(result: dict) -> list[str]:
    """The breakdowns of one feature (the plot shows those; the table every breakdown)."""
    return [key for key, breakdown in result["breakdowns"].items() if len(breakdown["features"]) == 1]


def _worst(checks: list[dict]) -> dict[str, float]:
    return {check["name"]: worst["value"] for check in checks if (worst := _worst_finding(check)) is not None}


def _mitigation_others(info: dict) -> list[str]:
    """The exposure and readiness checks every trade-off point has a worst value of, beside the one it follows."""
    return [name for name in ("good_opportunity_exposure", "readiness_parity")
            if name != info["focus"] and all(name in point.get("worst", {}) for point in info["points"])]


def _ndcg(part: dict) -> float | None:
    return part["results"].get(NDCG_AT_K, {}).get("overall", {}).get("model")


def render_report(document: AssessmentDocument) -> str:
    """The whole report as one HTML string."""
    doc = document.to_dict()
    trend_entries = [*doc.get("trend", []), {
        "assessment_id": doc["assessment_id"], "assessed_at": doc["assessed_at"], "version": doc["version"],
        "trigger": doc["trigger"], "passed": doc["passed"], "worst": _worst(doc["checks"])}]
    return _template().render(
        doc=document, title=f"Fairness assessment — {document.registered_model} v{document.version}",
        css=Markup(_CSS),
        kind_words=_KIND_WORDS, metrics=list(METRIC_BY_NAME.values()), metric_info=METRIC_BY_NAME,
        feature_info=FEATURE_BY_NAME, ndcg_at_k=NDCG_AT_K, nan=float("nan"), fmt=_fmt, ci=_ci, lowest=_lowest,
        checks=doc["checks"], worst_finding=_worst_finding, threshold=_threshold, p=_p, rules=_RULES, plots=_plots,
        status=_status, range=_range,
        trend_entries=trend_entries, worst_now=_worst(doc["checks"]),
        enforced=[check["name"] for check in doc["checks"] if check["enforce"]], singles=_singles,
        tuning_checks={check["name"]: check for check in (doc.get("tuning") or {}).get("checks", [])},
        mitigation_others=_mitigation_others,
        side_by_side_ndcg=[_ndcg(doc["tuning"]), _ndcg(doc)] if doc.get("tuning") else [],
        bias_sentence=_bias_sentence)


class _Loader(jinja2.PackageLoader):
    """The package's templates with each line break and the indentation after it removed: the report is one line
    of HTML, as it always was, and the template stays readable."""

    def get_source(self, environment: jinja2.Environment, template: str):
        source, filename, uptodate = super().get_source(environment, template)
        return re.sub(r"\n[ \t]*", "", source), filename, uptodate


def _escaped(value: object) -> Markup:
    """Every value the template prints, escaped as the report always escaped it (``html.escape``)."""
    return value if isinstance(value, Markup) else Markup(escape(str(value)))


@functools.cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(loader=_Loader("assessments", "templates"), autoescape=True,
                                     finalize=_escaped, undefined=jinja2.StrictUndefined)
    environment.filters["f"] = format  # {{ value | f(",") }}: Python's format specification
    return environment.get_template(TEMPLATE)
