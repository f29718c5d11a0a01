"""What a typed query may be: not empty, at least one letter or digit, not a pasted document."""

from __future__ import annotations

from features.errors import LoopbaanError
from features.search._text import fold

MAX_QUERY_CHARS = 300
MAX_K = 100

ERR_EMPTY_QUERY = "the query is empty: type a job title or a competency, e.g. 'lasser' or 'welding'"
ERR_NO_WORDS = ("the query {query!r} has no letters (a-z) or digits: type a job title or a competency, "
                "e.g. 'poetsvrouw' or 'cleaning'")
ERR_TOO_LONG = ("the query is {length:,} characters long; at most {limit} are searched: type a job title or a "
                "competency, not a whole text")
ERR_BAD_K = "k must be between 1 and {limit}; got {k}"


def clean_query(text: str | None) -> str:
    """The query without surrounding blanks, or a :class:`LoopbaanError` that says what to type instead."""
    query = (text or "").strip()
    if not query:
        raise LoopbaanError(ERR_EMPTY_QUERY)
    if len(query) > MAX_QUERY_CHARS:
        raise LoopbaanError(ERR_TOO_LONG.format(length=len(query), limit=MAX_QUERY_CHARS))
    if not fold(query):
        shown = query if len(query) <= 40 else query[:37] + "..."
        raise LoopbaanError(ERR_NO_WORDS.format(query=shown))
    return query


def check_k(k: int) -> int:
    if not 1 <= int(k) <= MAX_K:
        raise LoopbaanError(ERR_BAD_K.format(limit=MAX_K, k=k))
    return int(k)
