"""The data register as a public web page: one self-contained HTML document in Dutch or English.

No script, no outside resource: the page is the register document rendered once, with a link to the same page in
the other language and one to the JSON it was made from.
"""

from __future__ import annotations

from html import escape

from features.bilingual import Text
from features.register_document import (
    CategoryOut,
    CountOut,
    ProcessingOut,
    RegisterDocument,
    SharingOut,
    TextOut,
)
from features.vocabulary import ERR_UNKNOWN_LANGUAGE, LANGUAGES

_MONTHS = {"nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
                  "oktober", "november", "december"),
           "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                  "November", "December")}

_WORDS = {key: Text(*value) for key, value in {
    "title": ("Gegevensregister van Mijn loopbaan", "Data register of Mijn loopbaan"),
    "intro": ("Wat de dienst met je gegevens doet: per verwerking welke gegevens, uit welke bron, voor wie, waarvoor, "
              "op welke rechtsgrond, hoe lang ze bewaard worden en wie het raakt. Deze pagina wordt gemaakt uit wat "
              "de programmacode zelf over elke verwerking verklaart en uit de delingen die nu actief zijn; een test "
              "faalt zodra een verwerking gegevens leest die hier niet staan.",
              "What the service does with your data: per processing which data, from which source, for whom, what "
              "for, on which legal basis, how long it is kept and whom it affects. This page is made from what the "
              "program code itself declares about each processing and from the shares active now; a test fails as "
              "soon as a processing reads data that is not listed here."),
    "synthetic": ("In deze versie van de dienst zijn alle burgergegevens synthetisch: er zijn geen echte burgers.",
                  "In this version of the service all citizens' data is synthetic: there are no real citizens."),
    "updated": ("Bijgewerkt op", "Updated on"),
    "switch": ("English", "Nederlands"),
    "overview": ("Overzicht", "Overview"),
    "processing": ("Verwerking", "Processing"),
    "purpose": ("Doel", "Purpose"),
    "data": ("Gegevens", "Data"),
    "source": ("bron", "source"),
    "special": ("bijzonder persoonsgegeven", "special category"),
    "not_personal": ("geen persoonsgegevens", "no personal data"),
    "tables": ("Gelezen tabellen", "Tables read"),
    "recipient": ("Aan wie", "To whom"),
    "receives": ("Wat die krijgt", "What they receive"),
    "basis": ("Rechtsgrond", "Legal basis"),
    "retention": ("Bewaring", "Retention"),
    "not_enforced": ("Deze regel wordt nog niet automatisch toegepast.", "This rule is not yet applied automatically."),
    "affected": ("Wie het raakt", "Who is affected"),
    "active": ("Actieve delingen", "Active shares"),
    "none_active": ("Nu geen actieve delingen.", "No active shares now."),
    "partners": ("Partners", "Partners"),
    "per_part": ("Per deel", "Per part"),
    "per_purpose": ("Per doel", "Per purpose"),
    "pseudonymised": ("Gepseudonimiseerd", "Pseudonymised"),
    "json": ("Dit register als JSON", "This register as JSON"),
}.items()}


def _fewer(document: RegisterDocument, language: str) -> str:
    return {"nl": f"minder dan {document.small_count}", "en": f"fewer than {document.small_count}"}[language]


def _t(text: TextOut, language: str) -> str:
    return escape(text.nl if language == "nl" else text.en)


def _w(key: str, language: str) -> str:
    return escape(_WORDS[key].in_(language))


def _moment(document: RegisterDocument, language: str) -> str:
    at = document.generated_at
    return f"{at.day} {_MONTHS[language][at.month - 1]} {at.year}, {at:%H:%M} UTC"


def _count(count: int | None, document: RegisterDocument, language: str) -> str:
    return _fewer(document, language) if count is None else str(count)


def _category(category: CategoryOut, language: str) -> str:
    marks = []
    if category.special:
        marks.append(f'<strong class="special">{_w("special", language)}</strong>')
    if not category.personal:
        marks.append(f'<span class="muted">{_w("not_personal", language)}</span>')
    mark = f" ({', '.join(marks)})" if marks else ""
    return (f"<li>{_t(category.name, language)}{mark}<br><span class=\"muted\">{_w('source', language)}: "
            f"{_t(category.source, language)}</span></li>")


def _counts(title: str, counts: list[CountOut], document: RegisterDocument, language: str) -> str:
    rows = "".join(f"<li>{_t(count.name, language)}: {_count(count.count, document, language)}</li>"
                   for count in counts if count.count != 0)
    return f"<dt>{title}</dt><dd><ul>{rows}</ul></dd>" if rows else ""


def _sharing(sharing: SharingOut, document: RegisterDocument, language: str) -> str:
    if sharing.active_grants == 0:
        return f"<dt>{_w('active', language)}</dt><dd>{_w('none_active', language)}</dd>"
    partners = "".join(f"<li>{escape(partner.name)} ({_count(partner.active_grants, document, language)})</li>"
                       for partner in sharing.partners)
    return (f"<dt>{_w('active', language)}</dt><dd>{_count(sharing.active_grants, document, language)}</dd>"
            f"<dt>{_w('partners', language)}</dt><dd><ul>{partners}</ul></dd>"
            + _counts(_w("per_part", language), sharing.parts, document, language)
            + _counts(_w("per_purpose", language), sharing.purposes, document, language)
            + f"<dt>{_w('pseudonymised', language)}</dt>"
              f"<dd>{_count(sharing.pseudonymised, document, language)}</dd>")


def _section(entry: ProcessingOut, document: RegisterDocument, language: str) -> str:
    categories = "".join(_category(category, language) for category in entry.categories)
    tables = ", ".join(f"<code>{escape(table)}</code>" for table in entry.tables)
    bases = "".join(f"<li><strong>{escape(basis.article)}</strong>: {_t(basis.text, language)}</li>"
                    for basis in entry.legal_bases)
    affected = "".join(f"<li>{_t(stakeholder.name, language)}</li>" for stakeholder in entry.stakeholders)
    retention = _t(entry.retention.text, language)
    if not entry.retention.enforced:
        retention += f' <em>{_w("not_enforced", language)}</em>'
    sharing = "" if entry.sharing is None else _sharing(entry.sharing, document, language)
    return (f'<section id="{escape(entry.key)}" aria-labelledby="{escape(entry.key)}-title">'
            f'<h2 id="{escape(entry.key)}-title">{_t(entry.name, language)}</h2><dl>'
            f"<dt>{_w('purpose', language)}</dt><dd>{_t(entry.purpose, language)}</dd>"
            f"<dt>{_w('data', language)}</dt><dd><ul>{categories}</ul></dd>"
            f"<dt>{_w('recipient', language)}</dt><dd>{_t(entry.recipient, language)}</dd>"
            f"<dt>{_w('receives', language)}</dt><dd>{_t(entry.receives, language)}</dd>"
            f"<dt>{_w('basis', language)}</dt><dd><ul>{bases}</ul></dd>"
            f"<dt>{_w('retention', language)}</dt><dd>{retention}</dd>"
            f"<dt>{_w('affected', language)}</dt><dd><ul>{affected}</ul></dd>"
            f"{sharing}"
            f"<dt>{_w('tables', language)}</dt><dd>{tables}</dd>"
            "</dl></section>")


def _overview(document: RegisterDocument, language: str) -> str:
    rows = "".join(
        f'<tr><th scope="row"><a href="#{escape(entry.key)}">{_t(entry.name, language)}</a></th>'
        f"<td>{_t(entry.recipient, language)}</td>"
        f"<td>{'; '.join(escape(basis.article) for basis in entry.legal_bases)}</td></tr>"
        for entry in document.processings)
    return (f"<h2>{_w('overview', language)}</h2><table><thead><tr><th scope=\"col\">{_w('processing', language)}"
            f"</th><th scope=\"col\">{_w('recipient', language)}</th><th scope=\"col\">{_w('basis', language)}</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>")


_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;color:#1b1b1b;background:#fff;margin:0 auto;max-width:60rem;padding:1rem}
h1{font-size:1.8rem;margin:.5rem 0}h2{font-size:1.3rem;margin:2rem 0 .5rem;border-top:1px solid #ccc;padding-top:1rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.4rem;
border-bottom:1px solid #ddd}dt{font-weight:600;margin-top:.6rem}dd{margin:0 0 0 1rem}ul{margin:.2rem 0;
padding-left:1.2rem}.muted{color:#555}.special{color:#8a1c00}.note{background:#fff4d6;padding:.5rem;
border-left:4px solid #b37400}a{color:#0b4f9c}.switch{text-align:right;margin:0}code{font-size:.9em}
"""


def render_register_page(document: RegisterDocument, *, language: str = "nl", switch_href: str = "?lang={language}",
                         json_href: str = "/register") -> str:
    """The register page in ``language`` (``nl`` or ``en``).

    ``switch_href`` is the address of the page in the other language (``{language}`` is filled in); ``json_href``
    that of the document as JSON.
    """
    if language not in LANGUAGES:
        raise ValueError(ERR_UNKNOWN_LANGUAGE.format(language=language))
    other = "en" if language == "nl" else "nl"
    synthetic = f'<p class="note">{_w("synthetic", language)}</p>' if document.synthetic_data else ""
    sections = "".join(_section(entry, document, language) for entry in document.processings)
    return (f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_w('title', language)}</title><style>{_STYLE}</style></head><body><header>"
            f'<p class="switch"><a href="{escape(switch_href.format(language=other))}" hreflang="{other}" '
            f'lang="{other}">{_w("switch", language)}</a></p>'
            f"<h1>{_w('title', language)}</h1><p>{_w('intro', language)}</p>{synthetic}"
            f"<p>{_w('updated', language)} {_moment(document, language)}</p></header><main>"
            f"{_overview(document, language)}{sections}</main><footer><p>"
            f'<a href="{escape(json_href)}">{_w("json", language)}</a></p></footer></body></html>\n')
