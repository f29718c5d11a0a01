"""Build the compact taxonomy copy the project carries (``features/taxonomy_data``).

Reads the ESCO CSV exports in ``../shared/data`` (v1.1.1 for concepts and relations, v1.2.1 for the
Dutch labels; concept URIs are stable across versions) and writes zstd-compressed Parquet tables.
Run by maintainers only (``make taxonomy-bundle``); users never need ``../shared``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.esco import ATTRIBUTION
from features.taxonomy import split_labels


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _first_by_uri(frame: pd.DataFrame, column: str = "conceptUri") -> pd.DataFrame:
    return frame.drop_duplicates(subset=column, keep="first").set_index(column)


def _skill_labels_nl(nl_dir: Path) -> pd.DataFrame:
    """Dutch skill labels exist only in the v1.2.1 skill collections."""
    frames = [
        _read(path)[["conceptUri", "preferredLabel", "altLabels", "description"]]
        for path in sorted(nl_dir.glob("*SkillsCollection_nl.csv"))
    ]
    return _first_by_uri(pd.concat(frames, ignore_index=True))


def _first_skill_group(hierarchy: pd.DataFrame, group_uris: set[str]) -> dict[str, str]:
    """Walk each skill up the pillar until the first skill group (breadth first, deterministic)."""
    parents: dict[str, list[str]] = {}
    for child, parent in zip(hierarchy["conceptUri"], hierarchy["broaderUri"], strict=True):
        parents.setdefault(child, []).append(parent)
    for value in parents.values():
        value.sort()
    found: dict[str, str] = {}
    for start in parents:
        frontier, seen = list(parents[start]), set()
        while frontier:
            uri = frontier.pop(0)
            if uri in group_uris:
                found[start] = uri
                break
            if uri not in seen:
                seen.add(uri)
                frontier.extend(parents.get(uri, []))
    return found


def _write(frame: pd.DataFrame, path: Path) -> str:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, compression="zstd", compression_level=19)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(source: Path, out: Path) -> dict[str, int]:
    v111, nl = source / "esco-v1.1.1", source / "esco-v1.2.1" / "nl"
    occ_en = _read(v111 / "occupations_en.csv")
    occ_nl = _first_by_uri(_read(nl / "occupations_nl.csv"))
    occupations = pd.DataFrame(
        {
            "uri": occ_en["conceptUri"],
            "code": occ_en["code"],
            "isco_group": occ_en["iscoGroup"],
            "label_en": occ_en["preferredLabel"],
            "label_nl": occ_en["conceptUri"].map(occ_nl["preferredLabel"]).replace("", None),
            "alt_labels_en": occ_en["altLabels"].map(split_labels),
            "alt_labels_nl": occ_en["conceptUri"].map(occ_nl["altLabels"]).fillna("").map(split_labels),
            "description_en": occ_en["description"],
            "description_nl": occ_en["conceptUri"].map(occ_nl["description"]).replace("", None),
        }
    )

    skill_hierarchy = _read(v111 / "broaderRelationsSkillPillar.csv")
    groups_en = _read(v111 / "skillGroups_en.csv")
    groups_nl = _first_by_uri(_read(nl / "skillGroups_nl.csv"))
    skill_groups = pd.DataFrame(
        {
            "uri": groups_en["conceptUri"],
            "code": groups_en["code"],
            "label_en": groups_en["preferredLabel"],
            "label_nl": groups_en["conceptUri"].map(groups_nl["preferredLabel"]).replace("", None),
        }
    )
    group_of = _first_skill_group(skill_hierarchy, set(skill_groups["uri"]))
    group_label = skill_groups.set_index("uri")

    skills_en = _read(v111 / "skills_en.csv")
    skills_nl = _skill_labels_nl(nl)
    group_uri = skills_en["conceptUri"].map(group_of)
    competencies = pd.DataFrame(
        {
            "uri": skills_en["conceptUri"],
            "skill_type": skills_en["skillType"],
            "reuse_level": skills_en["reuseLevel"],
            "label_en": skills_en["preferredLabel"],
            "label_nl": skills_en["conceptUri"].map(skills_nl["preferredLabel"]).replace("", None),
            "alt_labels_en": skills_en["altLabels"].map(split_labels),
            "alt_labels_nl": skills_en["conceptUri"].map(skills_nl["altLabels"]).fillna("").map(split_labels),
            "description_en": skills_en["description"],
            "description_nl": skills_en["conceptUri"].map(skills_nl["description"]).replace("", None),
            "group_uri": group_uri,
            "group_label_en": group_uri.map(group_label["label_en"]),
            "group_label_nl": group_uri.map(group_label["label_nl"]),
        }
    )

    relations_raw = _read(v111 / "occupationSkillRelations.csv")
    relations = pd.DataFrame(
        {
            "occupation_uri": relations_raw["occupationUri"],
            "competency_uri": relations_raw["skillUri"],
            "relation": relations_raw["relationType"],
            "skill_type": relations_raw["skillType"],
        }
    )

    occ_hierarchy_raw = _read(v111 / "broaderRelationsOccPillar.csv")
    occupation_hierarchy = pd.DataFrame(
        {
            "child_uri": occ_hierarchy_raw["conceptUri"],
            "child_type": occ_hierarchy_raw["conceptType"],
            "parent_uri": occ_hierarchy_raw["broaderUri"],
            "parent_type": occ_hierarchy_raw["broaderType"],
        }
    )
    skill_hierarchy_table = pd.DataFrame(
        {
            "child_uri": skill_hierarchy["conceptUri"],
            "child_type": skill_hierarchy["conceptType"],
            "parent_uri": skill_hierarchy["broaderUri"],
            "parent_type": skill_hierarchy["broaderType"],
        }
    )
    isco_en = _read(v111 / "ISCOGroups_en.csv")
    isco_nl = _first_by_uri(_read(nl / "ISCOGroups_nl.csv"))
    isco_groups = pd.DataFrame(
        {
            "uri": isco_en["conceptUri"],
            "code": isco_en["code"],
            "label_en": isco_en["preferredLabel"],
            "label_nl": isco_en["conceptUri"].map(isco_nl["preferredLabel"]).replace("", None),
        }
    )

    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "occupations": occupations,
        "competencies": competencies,
        "relations": relations,
        "occupation_hierarchy": occupation_hierarchy,
        "skill_hierarchy": skill_hierarchy_table,
        "isco_groups": isco_groups,
        "skill_groups": skill_groups,
    }
    manifest = {"attribution": ATTRIBUTION, "esco_versions": {"concepts": "1.1.1", "dutch_labels": "1.2.1"},
                "tables": {}}
    for name, frame in tables.items():
        digest = _write(frame, out / f"{name}.parquet")
        manifest["tables"][name] = {"rows": len(frame), "sha256": digest}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return {name: len(frame) for name, frame in tables.items()}


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=Path("../shared/data"), help="folder with esco-v1.1.1/ and esco-v1.2.1/")
    parser.add_argument("--out", type=Path, default=Path("features/taxonomy_data"), help="where to write the Parquet tables")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not (args.source / "esco-v1.1.1" / "occupations_en.csv").is_file():
        print(f"error: {args.source} does not hold the ESCO exports (esco-v1.1.1/occupations_en.csv). "
              "Pass --source pointing at shared/data.", file=sys.stderr)
        return 2
    counts = build(args.source, args.out)
    for name, rows in counts.items():
        print(f"{name:22s} {rows:>8,d} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
