"""Everything a kind needs besides its booster, built once: catalogue, match space, featurizer, gap analyzer."""

from __future__ import annotations

from dataclasses import dataclass

from features.minilm import competency_embeddings
from features.esco import load_esco
from features.items import ItemCatalogue, catalogue_for, training_catalogue
from features.match_space import MatchSpace
from features.pair_features import PairFeaturizer
from features.population.store import PopulationStore
from features.settings import Settings
from features.taxonomy import Taxonomy
from models.gap import GapAnalyzer


@dataclass(frozen=True)
class KindResources:
    kind: str
    store: PopulationStore
    taxonomy: Taxonomy
    catalogue: ItemCatalogue
    trainings: ItemCatalogue
    space: MatchSpace
    featurizer: PairFeaturizer
    gaps: GapAnalyzer


def load_resources(kind: str, *, store: PopulationStore, settings: Settings,
                   taxonomy: Taxonomy | None = None) -> KindResources:
    taxonomy = taxonomy or load_esco()
    catalogue = catalogue_for(kind, store=store, taxonomy=taxonomy)
    trainings = catalogue if kind == "trainings" else training_catalogue(store, taxonomy)
    embeddings = competency_embeddings(taxonomy, cache_dir=settings.cache_dir)
    space = MatchSpace(catalogue=catalogue, taxonomy=taxonomy, competency_embeddings=embeddings)
    return KindResources(kind=kind, store=store, taxonomy=taxonomy, catalogue=catalogue, trainings=trainings,
                         space=space, featurizer=PairFeaturizer(space=space, taxonomy=taxonomy),
                         gaps=GapAnalyzer(trainings=trainings))
