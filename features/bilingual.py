"""A text in the two languages of the site: Dutch (the default) and English."""

from __future__ import annotations

from typing import NamedTuple

from features.vocabulary import ERR_UNKNOWN_LANGUAGE, LANGUAGES


class Text(NamedTuple):
    nl: str
    en: str

    def in_(self, language: str) -> str:
        """The text in ``language`` (``nl`` or ``en``)."""
        if language not in LANGUAGES:
            raise ValueError(ERR_UNKNOWN_LANGUAGE.format(language=language))
        return self.nl if language == "nl" else self.en

    def as_json(self) -> dict[str, str]:
        return {"nl": self.nl, "en": self.en}
