"""Helpers for the fairness-gate tests: policy files with changes, a Typer app with the gate's commands."""

from __future__ import annotations

from pathlib import Path

import yaml

from assessments.policy import DEFAULT_POLICY


def policy_data() -> dict:
    return yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))


def write_policy(folder: Path, name: str, *, checks: list[dict] | None = None, **changes) -> Path:
    """The shipped policy with top-level ``changes`` (and, when given, only these ``checks``) as a new file, under a
    version of its own (changed content under a released version is refused)."""
    data = policy_data()
    data["policy_version"] = f"{data['policy_version']}-{name}"
    data.update(changes)
    if checks is not None:
        data["checks"] = checks
    path = Path(folder) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def advisory(*names: str) -> list[dict]:
    """Every shipped check, advisory except ``names``."""
    return [{**check, "enforce": check["name"] in names} for check in policy_data()["checks"]]


def gate_app():
    import typer

    from loopbaan_cli.assessment_commands import assess, promote, review, schedule

    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    app.command("assess")(assess)
    app.command("promote")(promote)
    app.command("review")(review)
    app.command("schedule")(schedule)
    return app
