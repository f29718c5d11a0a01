"""Which language a taxonomy label is shown in.

The site asks for Dutch, but the ESCO copy has Dutch labels for only part of the competencies (and a few
occupations): the label shown is then the English one (:meth:`features.taxonomy.Taxonomy.competency_labels`). Every
label the service sends carries ``label_lang``, so that the site marks an untranslated label with ``lang="en"``.
Neither the taxonomy's label lookups nor the search's hits say which language they gave, so it is derived here,
once per taxonomy, from the same rule: the asked language where the taxonomy holds a label in it, else the other.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.taxonomy import Taxonomy, has_label


@dataclass(frozen=True)
class LabelLanguages:
    """Per competency and occupation URI, whether the taxonomy holds a Dutch and an English label."""

    competency_nl: dict[str, bool]
    competency_en: dict[str, bool]
    occupation_nl: dict[str, bool]
    occupation_en: dict[str, bool]

    @classmethod
    def of(cls, taxonomy: Taxonomy) -> LabelLanguages:
        """The taxonomy's label languages, derived once per taxonomy object (the service core and every
        suggester of a process share them)."""
        known = _BY_TAXONOMY.get(taxonomy)
        if known is None:
            known = _BY_TAXONOMY[taxonomy] = cls._derive(taxonomy)
        return known

    @classmethod
    def _derive(cls, taxonomy: Taxonomy) -> LabelLanguages:
        competencies, occupations = taxonomy.competencies, taxonomy.occupations
        return cls(
            competency_nl=dict(zip(competencies["uri"], has_label(competencies["label_nl"]), strict=True)),
            competency_en=dict(zip(competencies["uri"], has_label(competencies["label_en"]), strict=True)),
            occupation_nl=dict(zip(occupations["uri"], has_label(occupations["label_nl"]), strict=True)),
            occupation_en=dict(zip(occupations["uri"], has_label(occupations["label_en"]), strict=True)))

    def competency(self, uri: str, language: str) -> str:
        """The language of the competency's label shown in ``language``."""
        return _shown(language, self.competency_nl.get(uri, False), self.competency_en.get(uri, True))

    def occupation(self, uri: str, language: str) -> str:
        return _shown(language, self.occupation_nl.get(uri, False), self.occupation_en.get(uri, True))


_BY_TAXONOMY: weakref.WeakKeyDictionary[Taxonomy, LabelLanguages] = weakref.WeakKeyDictionary()


def _shown(language: str, has_nl: bool, has_en: bool) -> str:
    if language == "nl":
        return "nl" if has_nl else "en"
    return "en" if has_en or not has_nl else "nl"
