"""Text folding shared by the index and the queries: case, accents, punctuation, Dutch gender forms."""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^0-9a-z]+")
_REPEATED = re.compile(r"(.)\1+")
_MIN_STEM = 3
# Feminine (and plural) endings of Dutch and French-derived person nouns, with the endings of the forms they pair
# with: "poetsvrouw"/"poetsman", "lasster"/"lasser", "busbestuurster"/"busbestuurder", "koerierster"/"koerier",
# "monteuse"/"monteur", "directrice"/"directeur", "technica"/"technicus", "assistente"/"assistent",
# "boerin"/"boer", "kokkin"/"kok", "lerares"/"leraar", "zangeres"/"zanger".
_PAIRED_ENDINGS = (
    ("vrouwen", ("mannen",)), ("vrouw", ("man",)), ("trice", ("teur", "tor")), ("euse", ("eur",)),
    ("ster", ("er", "der", "")), ("ica", ("icus",)), ("iste", ("ist",)), ("ante", ("ant",)), ("ente", ("ent",)),
    ("eute", ("eut",)), ("in", ("",)), ("es", ("", "er")), ("e", ("",)),
)


def fold(text: str) -> str:
    """Lower case, accents dropped (``ë`` → ``e``), anything but letters and digits a single space."""
    plain = text.lower()
    if not plain.isascii():  # ASCII is its own decomposition, without accents: almost every label
        plain = "".join(char for char in unicodedata.normalize("NFKD", plain) if not unicodedata.combining(char))
    return _NON_WORD.sub(" ", plain).strip()  # one space per run of anything else, so never two in a row


def gender_forms(word: str) -> set[str]:
    """The folded word and the forms it may pair with by gender, doubled letters collapsed.

    Not a stemmer: a feminine form yields its likely masculine forms and a masculine form just itself, so
    ``poetsvrouw`` and ``poetsman``, ``lasster`` and ``lasser``, ``verpleegster`` and ``verpleger`` have a form in
    common, while unrelated words almost never do. Collapsing doubled letters lets ``kapster`` meet ``kapper`` and
    ``lerares`` meet ``leraar``.
    """
    forms = {word}
    for ending, partners in _PAIRED_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= _MIN_STEM:
            forms.update(word[: -len(ending)] + partner for partner in partners)
    return {_REPEATED.sub(r"\1", form) for form in forms}


_OTHER_GENDER = (("vrouwen", ("mannen",)), ("mannen", ("vrouwen",)), ("vrouw", ("man",)), ("man", ("vrouw",)),
                 ("trice", ("teur",)), ("teur", ("trice",)), ("euse", ("eur",)), ("eur", ("euse",)),
                 ("ster", ("er", "der", "+er")), ("der", ("ster",)), ("er", ("ster",)))
MAX_VARIANTS = 3


def gender_variants(text: str) -> list[str]:
    """``text`` first, then up to ``MAX_VARIANTS`` copies with one word in its other gender form.

    "poetsman" gives "poetsvrouw", "lasser" gives "lasster", "kapster" gives "kaper", "kapder" and "kapper"; most
    guesses are no word at all, which is harmless: the lexical matcher only promotes a label equal to one.
    """
    words = fold(text).split()
    variants = [text]
    for position, word in enumerate(words):
        for ending, others in _OTHER_GENDER:
            if word.endswith(ending) and len(word) - len(ending) >= _MIN_STEM:
                stem = word[: -len(ending)]
                for other in others:
                    if other == "+er":  # kapster → kapper
                        form = stem + stem[-1] + "er"
                    elif other == "ster" and stem[-1] == stem[-2]:
                        form = stem[:-1] + other  # lasser → lasster
                    else:
                        form = stem + other
                    variants.append(" ".join([*words[:position], form, *words[position + 1:]]))
                break
        if len(variants) > MAX_VARIANTS:
            break
    return list(dict.fromkeys(variants))[: MAX_VARIANTS + 1]
