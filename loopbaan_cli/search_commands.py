"""`loopbaan occupations search` and `loopbaan competencies search`: typed text → taxonomy concepts, thin calls into
``features.search`` (the index) and ``models.encoder_training`` (which registered encoder embeds the queries)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from features.errors import LoopbaanError
from features.settings import Settings
from loopbaan_cli._errors import user_errors

BATCH_CHUNK = 256
MAX_LINE_CHARS = 100_000  # a longer line is reported as too long, not searched

ERR_QUERY_OR_INPUT = "give either a QUERY or --input FILE (one query per line), not {what}"
ERR_UNREADABLE = "cannot read the input file {path}: {reason}"
ERR_NOT_TEXT = "the input file {path} is not UTF-8 text (byte {position}); save it as UTF-8, one query per line"

occupations_app = typer.Typer(
    help="Find occupations by what people type, in Dutch or English ('lasser', 'poetsvrouw', 'welder').",
    no_args_is_help=True)
competencies_app = typer.Typer(
    help="Find competencies (skills, knowledge) by typed text, in Dutch or English ('heftruck besturen', 'Java').",
    no_args_is_help=True)


class ModeChoice(str, Enum):
    hybrid = "hybrid"
    lexical = "lexical"
    semantic = "semantic"


QueryArgument = Annotated[str | None, typer.Argument(
    help="What to look for, e.g. 'lasser' or 'chauffeur C/CE'. Leave out with --input.", show_default=False)]
LangOption = Annotated[str, typer.Option(
    "--lang", help="Language of the labels shown: nl or en. The search itself reads both languages.")]
KOption = Annotated[int, typer.Option("-k", "--top", help="How many concepts to return (1-100).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (one line per query) instead of a table.")]
InputOption = Annotated[Path | None, typer.Option(
    "--input", help="Batch: a UTF-8 file with one query per line ('-' reads standard input); prints one JSON line "
                    "per non-blank line with the top-k URIs, labels and scores.", show_default=False)]
ModeOption = Annotated[ModeChoice, typer.Option(
    help="'hybrid' fuses both matchers; 'lexical' compares characters only (fast, no encoder); 'semantic' uses the "
         "encoder only.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or notes on standard error.")]


@occupations_app.command("search")
@user_errors
def occupations_search(query: QueryArgument = None, lang: LangOption = "nl", k: KOption = 5,
                       as_json: JsonOption = False, input_file: InputOption = None,
                       mode: ModeOption = ModeChoice.hybrid, quiet: QuietOption = False) -> None:
    """Search occupations by a typed job title, robust to spelling variants and gender forms.

    Hybrid search: character n-grams over every Dutch and English label, fused with the newest registered
    `loopbaan-encoder` (the champion when one is set; the untuned MiniLM, with a note, when none is registered).
    """
    _search("occupations", query=query, lang=lang, k=k, as_json=as_json, input_file=input_file, mode=mode,
            quiet=quiet)


@competencies_app.command("search")
@user_errors
def competencies_search(query: QueryArgument = None, lang: LangOption = "nl", k: KOption = 5,
                        as_json: JsonOption = False, input_file: InputOption = None,
                        mode: ModeOption = ModeChoice.hybrid, quiet: QuietOption = False) -> None:
    """Search competencies (skills and knowledge) by typed text in Dutch or English.

    Same hybrid search as `loopbaan occupations search`, over the competency labels.
    """
    _search("competencies", query=query, lang=lang, k=k, as_json=as_json, input_file=input_file, mode=mode,
            quiet=quiet)


def _search(kind: str, *, query: str | None, lang: str, k: int, as_json: bool, input_file: Path | None,
            mode: ModeChoice, quiet: bool) -> None:
    from features.search import single_threaded

    with single_threaded():
        _run(kind, query=query, lang=lang, k=k, as_json=as_json, input_file=input_file, mode=mode, quiet=quiet)


def _run(kind: str, *, query: str | None, lang: str, k: int, as_json: bool, input_file: Path | None,
         mode: ModeChoice, quiet: bool) -> None:
    from features.search.queries import check_k, clean_query
    from features.taxonomy import check_language

    if (query is None) == (input_file is None):
        raise LoopbaanError(ERR_QUERY_OR_INPUT.format(what="both" if query is not None else "neither"))
    check_language(lang)
    check_k(k)
    if query is not None:
        clean_query(query)  # a bad query fails before anything is loaded
        searcher = _searcher(kind, mode=mode, quiet=quiet)
        result = searcher.search_batch([query], lang=lang, k=k, mode=mode.value)[0]
        if as_json:
            typer.echo(json.dumps(_record(result, kind=kind, lang=lang, line=None), ensure_ascii=False))
        else:
            _print_table(result.hits, kind=kind)
        return
    lines = _read_lines(input_file)
    searcher = _searcher(kind, mode=mode, quiet=quiet)
    searched = failed = 0
    for chunk in _chunks(lines):
        results = searcher.search_batch([text for _, text in chunk], lang=lang, k=k, mode=mode.value)
        for (number, _), result in zip(chunk, results, strict=True):
            typer.echo(json.dumps(_record(result, kind=kind, lang=lang, line=number), ensure_ascii=False))
            searched += 1
            failed += result.error is not None
    if not quiet:
        typer.echo(f"searched {searched:,} queries ({failed:,} could not be searched; see their \"error\")", err=True)


def _searcher(kind: str, *, mode: ModeChoice, quiet: bool):
    from features.imported_labels import home_taxonomy
    from features.search import build_searcher
    from features.search.fusion import ALPHA

    settings = Settings()
    encoder, alpha = None, ALPHA
    if mode is not ModeChoice.lexical:
        from models.encoder_registry import search_encoder

        resolved = search_encoder(settings=settings)
        encoder, alpha = resolved.encoder, resolved.alphas.get(kind, ALPHA)
        if resolved.note and not quiet:
            typer.secho(resolved.note, err=True, fg=typer.colors.YELLOW)
    return build_searcher(kind, taxonomy=home_taxonomy(settings), encoder=encoder, cache_dir=settings.cache_dir,
                          alpha=alpha, progress=not quiet)


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based line numbers; unreadable or non-UTF-8 input is a clear error."""
    try:
        payload = sys.stdin.buffer.read() if str(path) == "-" else Path(path).read_bytes()
    except OSError as error:
        raise LoopbaanError(ERR_UNREADABLE.format(path=path, reason=error.strerror or error)) from None
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise LoopbaanError(ERR_NOT_TEXT.format(path=path, position=error.start)) from None
    return [(number, line[:MAX_LINE_CHARS]) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _chunks(lines: list[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    for start in range(0, len(lines), BATCH_CHUNK):
        yield lines[start:start + BATCH_CHUNK]


def _record(result, *, kind: str, lang: str, line: int | None) -> dict:
    record = {"query": result.query, "kind": kind, "lang": lang,
              "results": [hit.as_dict() for hit in result.hits], "error": result.error}
    return record if line is None else {"line": line, **record}


def _print_table(hits, *, kind: str) -> None:
    if not hits:
        typer.echo(f"no {kind} match this query")
        return
    for hit in hits:
        matched = "" if hit.matched_label.casefold() == hit.label.casefold() else f"  (matched '{hit.matched_label}')"
        typer.echo(f"{hit.rank:>2d}. {hit.score:6.3f}  {hit.label}{matched}")
        typer.echo(f"    {hit.uri}")
