"""Write the notebooks from their cell sources (maintainers: edit here, run, commit the .ipynb files)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

FOLDER = Path(__file__).resolve().parent.parent / "notebooks"

SETUP = '''import os
from pathlib import Path

from features.population import PopulationConfig, PopulationStore, generate_to
from features.settings import Settings

settings = Settings()
data = Path(DATA) if DATA else settings.population_dir
if not (data / "manifest.json").is_file():
    generate_to(PopulationConfig(citizens=CITIZENS, seed=7), out=data, progress=False)
store = PopulationStore(data)
print(f"population: {store.manifest['config']['citizens']:,} citizens in {data}")'''

RETRAIN = [
    new_markdown_cell(
        "# Retrain and compare\n\n"
        "Train a ranker with changed parameters, compare it with the registered versions and the baselines, "
        "and plot the metrics side by side. Everything here is a call into the `models` package; the CLI "
        "equivalent is `loopbaan train --kind K --param key=value` and `loopbaan compare`.\n\n"
        "The data are **synthetic** (see the population's `datasheet.md`): the figures show how the pipeline "
        "behaves, not how real citizens do."),
    new_code_cell(
        "# Parameters (small by default; the test suite runs this notebook with them)\n"
        "import os\n"
        "KIND = os.environ.get(\"LOOPBAAN_NOTEBOOK_KIND\", \"jobs\")\n"
        "CITIZENS = int(os.environ.get(\"LOOPBAAN_NOTEBOOK_CITIZENS\", \"3000\"))\n"
        "DATA = os.environ.get(\"LOOPBAAN_NOTEBOOK_DATA\")  # an existing population folder, or None\n"
        "CHANGED_PARAMS = {\"learning_rate\": 0.1, \"num_leaves\": 15, \"min_child_samples\": 80}"),
    new_code_cell(SETUP),
    new_markdown_cell("## Train\nIf the kind has no registered version yet, train one with the default parameters "
                      "first, so there is something to compare with. Each run registers a new version with the "
                      "alias `challenger`."),
    new_code_cell(
        "from models import tracking\n"
        "from models.training import train_kind\n\n"
        "client = tracking.configure(settings)\n"
        "if not tracking.model_versions(client, KIND):\n"
        "    baseline_run = train_kind(KIND, store=store, settings=settings, progress=False, echo=print)\n"
        "changed = train_kind(KIND, store=store, settings=settings, params=CHANGED_PARAMS, progress=False, echo=print)"),
    new_markdown_cell("## Compare with the registered versions"),
    new_code_cell(
        "import pandas as pd\n"
        "from models.comparison import comparison\n\n"
        "result = comparison((KIND,), settings=settings)[KIND]\n"
        "rows = [{\"scorer\": f\"v{v['version']} {','.join(v['aliases'])}\".strip(), **v[\"metrics\"]}\n"
        "        for v in result[\"versions\"]]\n"
        "rows += [{\"scorer\": f\"baseline: {name}\", **metrics} for name, metrics in result[\"baselines\"].items()]\n"
        "table = pd.DataFrame(rows).set_index(\"scorer\")\n"
        "table"),
    new_code_cell(
        "import matplotlib.pyplot as plt\n\n"
        "axis = table[[\"ndcg@10\", \"recall@10\", \"map\"]].plot.barh(figsize=(8, 0.6 * len(table) + 1.5))\n"
        "axis.set_xlabel(\"held-out citizens\")\n"
        "axis.set_title(f\"loopbaan-{KIND}: registered versions and baselines\")\n"
        "plt.tight_layout()\n"
        "plt.show()"),
    new_code_cell(
        "assert changed.version == result[\"versions\"][0][\"version\"]\n"
        "print(f\"new version {changed.version}: NDCG@10 {changed.metrics['ndcg_at_10']:.3f}; \"\n"
        "      \"promote it only through the fairness gate (`loopbaan assess`, `loopbaan promote`).\")"),
]

EXPLORE = [
    new_markdown_cell(
        "# Explore the population\n\n"
        "A look at the **synthetic** citizens the models learn from: their career data, the competency "
        "profiles built from it, and the outcomes. Sensitive attributes are not read here (only the fairness "
        "assessment does); the calibration against the real Flemish figures is in the population's "
        "`datasheet.md`."),
    new_code_cell(
        "# Parameters\nimport os\n"
        "CITIZENS = int(os.environ.get(\"LOOPBAAN_NOTEBOOK_CITIZENS\", \"3000\"))\n"
        "DATA = os.environ.get(\"LOOPBAAN_NOTEBOOK_DATA\")"),
    new_code_cell(SETUP),
    new_code_cell(
        "import pandas as pd\n\n"
        "pd.Series(store.manifest[\"rows\"], name=\"rows\").to_frame()"),
    new_markdown_cell("## Citizens and their competency profiles"),
    new_code_cell(
        "import matplotlib.pyplot as plt\n\n"
        "citizens = store.table(\"citizens\")\n"
        "profiles = store.table(\"profiles\")\n"
        "held = profiles.groupby(\"citizen_id\")[\"competency_uri\"].nunique().reindex(citizens[\"citizen_id\"], fill_value=0)\n"
        "figure, axes = plt.subplots(1, 3, figsize=(14, 3.5))\n"
        "citizens[\"status\"].value_counts().plot.bar(ax=axes[0], title=\"status\")\n"
        "held.plot.hist(bins=40, ax=axes[1], title=\"competencies held per citizen\")\n"
        "profiles[\"source\"].value_counts().plot.bar(ax=axes[2], title=\"evidence by source\")\n"
        "plt.tight_layout()\n"
        "plt.show()"),
    new_markdown_cell("## Outcomes the rankers learn from"),
    new_code_cell(
        "jobs = store.table(\"job_outcomes\")\n"
        "trainings = store.table(\"training_outcomes\")\n"
        "moves = store.table(\"transitions\")\n"
        "summary = pd.DataFrame({\n"
        "    \"shown\": [len(jobs), len(trainings)],\n"
        "    \"positive (applied / enrolled)\": [jobs[\"applied\"].mean(), trainings[\"enrolled\"].mean()],\n"
        "    \"strong (hired / completed)\": [jobs[\"hired\"].mean(), trainings[\"completed\"].mean()],\n"
        "}, index=[\"jobs\", \"trainings\"])\n"
        "print(f\"career moves: {len(moves):,}, to another occupation: \"\n"
        "      f\"{(moves['from_occupation_uri'] != moves['to_occupation_uri']).mean():.0%}\")\n"
        "summary"),
    new_code_cell(
        "by_position = jobs.groupby(\"position\")[\"applied\"].mean()\n"
        "axis = by_position.plot(marker=\"o\", figsize=(7, 3), title=\"application rate by position in the legacy list\")\n"
        "axis.set_ylabel(\"applied\")\n"
        "plt.tight_layout()\n"
        "plt.show()"),
]


def main() -> None:
    for name, cells in (("retrain_and_compare.ipynb", RETRAIN), ("explore_population.ipynb", EXPLORE)):
        notebook = new_notebook(cells=cells, metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}})
        nbformat.write(notebook, FOLDER / name)
        print(f"wrote {FOLDER / name}")


if __name__ == "__main__":
    main()
