"""What can be suggested, per kind: vacancies (jobs), trainings, occupations (careers), on one shape.

Every catalogue carries the essential and optional competencies of its items as sparse
items × competencies matrices aligned with the taxonomy, the occupation each item belongs to
(the anchor occupation for a training), and the attributes the pair features and barriers need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from features._sparse import binary_csr
from features.errors import LoopbaanError
from features.population.occupations import EDUCATION_LEVELS
from features.population.store import PopulationStore
from features.taxonomy import Taxonomy
from features.vocabulary import ERR_UNKNOWN_KIND

ERR_EMPTY_CATALOGUE = "the {kind} catalogue in {folder} is empty: regenerate the population with `loopbaan data generate`"


@dataclass(frozen=True)
class ItemCatalogue:
    kind: str
    ids: np.ndarray  # vacancy_id / training_id (int64) or occupation URI (str)
    titles: pd.DataFrame  # title_nl, title_en
    essential: sparse.csr_matrix  # items × competencies (for a training: what it teaches)
    optional: sparse.csr_matrix
    occupation: np.ndarray  # position in taxonomy.occupations (-1 when unknown)
    attributes: pd.DataFrame  # lat, lon, education_level, dutch_level_required, driving_licence_required,
    #                           irregular_hours, full_time, duration_hours, online, quality

    def __len__(self) -> int:
        return len(self.ids)

    def position_of(self, item_ids) -> np.ndarray:
        """Positions of ``item_ids`` in the catalogue (-1 where unknown)."""
        return pd.Index(self.ids).get_indexer(pd.Index(item_ids))


def _links_matrix(links: pd.DataFrame, id_column: str, ids: np.ndarray, taxonomy: Taxonomy) -> sparse.csr_matrix:
    rows = pd.Index(ids).get_indexer(links[id_column])
    cols = taxonomy.competency_index.get_indexer(links["competency_uri"])
    return binary_csr(rows, cols, (len(ids), len(taxonomy.competencies)))


def _occupation_education(taxonomy: Taxonomy) -> np.ndarray:
    from features.population.occupations import build_occupation_model

    return build_occupation_model(taxonomy).frame["education_level"].to_numpy()


def vacancy_catalogue(store: PopulationStore, taxonomy: Taxonomy) -> ItemCatalogue:
    items = store.table("vacancies")
    if items.empty:
        raise LoopbaanError(ERR_EMPTY_CATALOGUE.format(kind="vacancy", folder=store.folder))
    links = store.table("vacancy_competencies")
    ids = items["vacancy_id"].to_numpy()
    essential = _links_matrix(links[links["relation"] == "essential"], "vacancy_id", ids, taxonomy)
    optional = _links_matrix(links[links["relation"] != "essential"], "vacancy_id", ids, taxonomy)
    attributes = pd.DataFrame({
        "lat": items["lat"].to_numpy(), "lon": items["lon"].to_numpy(),
        "education_level": pd.Index(EDUCATION_LEVELS).get_indexer(items["education_required"]),
        "dutch_level_required": items["dutch_level_required"].to_numpy().astype(np.int8),
        "driving_licence_required": items["driving_licence_required"].to_numpy(),
        "irregular_hours": items["irregular_hours"].to_numpy(), "full_time": items["full_time"].to_numpy(),
        "duration_hours": np.nan, "online": False, "quality": items["quality"].to_numpy(),
    })
    return ItemCatalogue(kind="jobs", ids=ids, titles=items[["title_nl", "title_en"]].reset_index(drop=True),
                         essential=essential, optional=optional,
                         occupation=taxonomy.occupation_index.get_indexer(items["occupation_uri"]),
                         attributes=attributes)


def training_catalogue(store: PopulationStore, taxonomy: Taxonomy) -> ItemCatalogue:
    items = store.table("trainings")
    if items.empty:
        raise LoopbaanError(ERR_EMPTY_CATALOGUE.format(kind="training", folder=store.folder))
    ids = items["training_id"].to_numpy()
    taught = _links_matrix(store.table("training_competencies"), "training_id", ids, taxonomy)
    attributes = pd.DataFrame({
        "lat": items["lat"].to_numpy(), "lon": items["lon"].to_numpy(), "education_level": 0,
        "dutch_level_required": items["dutch_level_required"].to_numpy().astype(np.int8),
        "driving_licence_required": False, "irregular_hours": False,
        "full_time": items["format"].to_numpy() != "online",
        "duration_hours": items["duration_hours"].to_numpy().astype(np.float64),
        "online": items["format"].to_numpy() == "online", "quality": np.nan,
    })
    return ItemCatalogue(kind="trainings", ids=ids, titles=items[["title_nl", "title_en"]].reset_index(drop=True),
                         essential=taught, optional=sparse.csr_matrix(taught.shape, dtype=np.float32),
                         occupation=taxonomy.occupation_index.get_indexer(items["anchor_occupation_uri"]),
                         attributes=attributes)


def occupation_catalogue(taxonomy: Taxonomy) -> ItemCatalogue:
    """Every occupation with at least one essential competency (a career step must be describable)."""
    essential = taxonomy.relation_matrix("essential")
    usable = np.flatnonzero(np.diff(essential.indptr) > 0)
    occupations = taxonomy.occupations.iloc[usable].reset_index(drop=True)
    titles = pd.DataFrame({"title_nl": taxonomy.occupation_labels("nl").to_numpy()[usable],
                           "title_en": taxonomy.occupation_labels("en").to_numpy()[usable]})
    attributes = pd.DataFrame({
        "lat": np.nan, "lon": np.nan, "education_level": _occupation_education(taxonomy)[usable],
        "dutch_level_required": np.int8(0), "driving_licence_required": False, "irregular_hours": False,
        "full_time": False, "duration_hours": np.nan, "online": True, "quality": np.nan,
    }, index=range(len(usable)))
    return ItemCatalogue(kind="careers", ids=occupations["uri"].to_numpy(), titles=titles,
                         essential=essential[usable].tocsr(),
                         optional=taxonomy.relation_matrix("optional")[usable].tocsr(),
                         occupation=usable.astype(np.int64), attributes=attributes)


def catalogue_for(kind: str, *, store: PopulationStore, taxonomy: Taxonomy) -> ItemCatalogue:
    if kind == "jobs":
        return vacancy_catalogue(store, taxonomy)
    if kind == "trainings":
        return training_catalogue(store, taxonomy)
    if kind == "careers":
        return occupation_catalogue(taxonomy)
    raise LoopbaanError(ERR_UNKNOWN_KIND.format(kind=kind))
