"""Bottom layer: taxonomy, population data, competency profiles, settings. Imports no other project package."""

from features.errors import LoopbaanError
from features.settings import Settings

__all__ = ["LoopbaanError", "Settings"]
