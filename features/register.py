"""The data register: every processing of personal data the code does, declared here once, and the guard that
keeps the declarations true.

Each :class:`Processing` says which tables it reads, to which party its result goes and what that party receives,
for which purpose, on which legal basis, how long it is kept and who is affected. The data categories and their
sources follow from the tables (:data:`TABLE_CATEGORIES` says what each table holds), so a processing cannot read a
table without the register naming what is in it. :mod:`features.register_document` turns the declarations and the
active grants into the public document (``GET /register``; :mod:`features.register_page` renders it).

The guard: run a processing inside ``with processing("model_training"):``; every table it reads through a store
(``PopulationStore.table``, the vault) is noted, and a table it does not declare raises
:class:`~features.reads.UndeclaredRead` there and then. Strict is the default: an undeclared read is processing
that the register does not show, so it must fail rather than run (and every test that runs a processing under its
scope becomes a register test). ``strict=False`` only notes, for an inventory of a whole run; :func:`check_reads`
then fails on what it found.

The legal bases are the ones the service is built for; the controller's data protection officer confirms them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from features.bilingual import Text
from features.errors import LoopbaanError
from features.reads import ReadScope, UndeclaredRead, active_scope, read_scope, undeclared_message
from features.sharing import MAX_PERIOD_DAYS, PARTNER_KINDS, PARTS, PURPOSES

VAULT_PREFIX = "vault."

# -- what the data is ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataCategory:
    key: str
    name: Text
    source: Text
    personal: bool = True
    special: bool = False  # a special category of GDPR art. 9


CATEGORIES: dict[str, DataCategory] = {category.key: category for category in (
    DataCategory("circumstances",
                 Text("Praktische omstandigheden: gemeente en ligging van je woning, opleidingsniveau, niveau "
                      "Nederlands, rijbewijs, zorgtaken, voorkeur voor deeltijds werk, hoe ver je wilt pendelen, "
                      "je situatie op de arbeidsmarkt",
                      "Practical circumstances: municipality and location of your home, education level, level of "
                      "Dutch, driving licence, care duties, preference for part-time work, how far you will "
                      "commute, your labour-market situation"),
                 Text("je dossier bij de dienst voor arbeidsbemiddeling",
                      "your file at the public employment service")),
    DataCategory("ai_choice", Text("Je keuze over AI-suggesties (aan of uit)", "Your choice about AI suggestions "
                                   "(on or off)"),
                 Text("jijzelf, op Mijn loopbaan", "you, on Mijn loopbaan")),
    DataCategory("career_data",
                 Text("Loopbaandata: werkperiodes (beroep, begin, einde, deeltijds, werkgever als nummer), "
                      "diploma's, gevolgde opleidingen, competentietests en zelf opgegeven competenties",
                      "Career data: work periods (occupation, start, end, part-time, employer as a number), "
                      "diplomas, completed trainings, competency tests and self-declared competencies"),
                 Text("authentieke bronnen (werkperiodes zoals in DIMONA, diploma's), opleidingsverstrekkers, de "
                      "competentietests van de dienst, en jijzelf",
                      "authentic sources (work periods as in DIMONA, diplomas), training providers, the service's "
                      "competency tests, and you")),
    DataCategory("competency_profile",
                 Text("Competentieprofiel: elke competentie met waar ze vandaan komt, wanneer en op welk niveau",
                      "Competency profile: every competency with where it comes from, when and at which level"),
                 Text("afgeleid uit je loopbaandata met vaste, gepubliceerde regels",
                      "derived from your career data by fixed, published rules")),
    DataCategory("outcomes",
                 Text("Uitkomsten: welke vacatures en opleidingen getoond werden, sollicitaties, aanwervingen, "
                      "inschrijvingen, afgeronde opleidingen, overstappen tussen beroepen",
                      "Outcomes: which vacancies and trainings were shown, applications, hires, enrolments, "
                      "completed trainings, moves between occupations"),
                 Text("de bemiddeling door de dienst en wat werkgevers en opleidingsverstrekkers terugmelden",
                      "the service's placement work and what employers and training providers report back")),
    DataCategory("protected_characteristics",
                 Text("Beschermde kenmerken: geslacht, geboortejaar en leeftijdsgroep, provincie",
                      "Protected characteristics: gender, birth year and age group, province"),
                 Text("het rijksregister, via je dossier bij de dienst", "the national register, through your file")),
    DataCategory("special_categories",
                 Text("Bijzondere persoonsgegevens: afkomst en arbeidshandicap",
                      "Special categories of personal data: origin and work disability"),
                 Text("je dossier bij de dienst (gegevens die je zelf of een erkende instantie meldde)",
                      "your file at the service (what you or a recognised body reported)"),
                 special=True),
    DataCategory("catalogues",
                 Text("Vacatures, opleidingen en diploma's met hun competenties (geen persoonsgegevens)",
                      "Vacancies, trainings and diplomas with their competencies (no personal data)"),
                 Text("werkgevers, opleidingsverstrekkers, het onderwijsaanbod en ESCO",
                      "employers, training providers, the education catalogue and ESCO"),
                 personal=False),
    DataCategory("feedback", Text("Je feedback op suggesties (\"niet voor mij, omdat…\")",
                                  "Your feedback on suggestions (\"not for me, because…\")"),
                 Text("jijzelf, op Mijn loopbaan", "you, on Mijn loopbaan")),
    DataCategory("shares", Text("Je delingen: met wie, welke delen, waarvoor, hoe lang, en elke inzage door een "
                                "partner", "Your shares: with whom, which parts, what for, how long, and every "
                                "look by a partner"),
                 Text("jijzelf (je beslissing) en de oproepen van partners", "you (your decision) and the "
                      "partners' calls")),
    DataCategory("contact_wish", Text("Je contactwens bij een deling: kanaal, naam en adres of nummer als je ze "
                                      "opgeeft", "Your contact wish with a share: channel, name and address or "
                                      "number if you give them"),
                 Text("jijzelf, bij het delen", "you, when you share")),
    DataCategory("sign_in_link", Text("De pseudonieme koppeling tussen je aanmelding en je dossier",
                                      "The pseudonymous link between your sign-in and your file"),
                 Text("de aanmeldingsdienst (OpenID Connect)", "the sign-in provider (OpenID Connect)")),
    DataCategory("usage_log", Text("Het auditspoor: per vraag het tijdstip, het modelnummer en een pseudoniem, geen "
                                   "inhoud", "The audit trail: per request the time, the model version and a "
                                   "pseudonym, no content"),
                 Text("de dienst zelf", "the service itself")),
)}

# What each table holds. Every population table is here (a test checks it against the schemas); the vault's
# tables are named "vault.<table>", exactly the tables of features/vault/schema.py (a test checks that too).
TABLE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "citizens": ("circumstances", "ai_choice"),
    "sensitive": ("protected_characteristics", "special_categories"),
    "work_periods": ("career_data",),
    "diplomas": ("career_data",),
    "training_records": ("career_data",),
    "assessments": ("career_data",),
    "self_declared": ("career_data",),
    "profiles": ("competency_profile",),
    "diploma_catalogue": ("catalogues",),
    "diploma_competencies": ("catalogues",),
    "trainings": ("catalogues",),
    "training_competencies": ("catalogues",),
    "vacancies": ("catalogues",),
    "vacancy_competencies": ("catalogues",),
    "job_outcomes": ("outcomes",),
    "training_outcomes": ("outcomes",),
    "transitions": ("outcomes",),
    "vault.vault_meta": (),
    "vault.import_runs": (),
    "vault.citizens": ("circumstances", "ai_choice"),
    "vault.career_records": ("career_data",),
    "vault.competency_evidence": ("competency_profile",),
    "vault.consent_choices": ("ai_choice",),
    "vault.feedback": ("feedback",),
    "vault.audit_trail": ("usage_log",),
    "vault.subject_links": ("sign_in_link",),
    "vault.shares": ("shares", "contact_wish"),
    "vault.share_accesses": ("shares",),
}

# -- who is affected ------------------------------------------------------------------------------------------------

STAKEHOLDERS: dict[str, Text] = {
    "citizens": Text("Alle burgers op beroepsactieve leeftijd die de dienst kent",
                     "All working-age citizens the service knows"),
    "site_users": Text("Burgers die Mijn loopbaan gebruiken", "Citizens who use Mijn loopbaan"),
    "citizens_with_ai": Text("Burgers die de AI-suggesties niet uitzetten", "Citizens who keep AI suggestions on"),
    "protected_groups": Text("Groepen naar geslacht, leeftijd, afkomst, arbeidshandicap en regio, die de "
                             "eerlijkheidstoets beschermt", "Groups by gender, age, origin, work disability and "
                             "region, whom the fairness check protects"),
    "sharing_citizens": Text("Burgers die een deel van hun profiel delen", "Citizens who share a part of their "
                             "profile"),
    "offer_owners": Text("Werkgevers en opleidingsverstrekkers, wier vacatures en opleidingen gerangschikt worden",
                         "Employers and training providers, whose vacancies and trainings are ranked"),
    "partners": Text("De partner die de gedeelde gegevens ontvangt", "The partner who receives the shared data"),
}

# -- legal bases ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LegalBasis:
    article: str
    text: Text


PUBLIC_TASK = LegalBasis("AVG/GDPR art. 6(1)(e)", Text(
    "Taak van algemeen belang: de wettelijke opdracht van de openbare dienst voor arbeidsbemiddeling om burgers "
    "naar werk en opleiding te begeleiden. Je kunt bezwaar maken (art. 21); zet je de AI-suggesties uit, dan "
    "worden er geen suggesties voor jou berekend en krijg je een algemene lijst.",
    "Public task: the public employment service's statutory mission to guide citizens to work and training. You "
    "can object (art. 21); if you switch AI suggestions off, no suggestions are computed for you and you get a "
    "general list."))
COMPATIBLE_FURTHER_USE = LegalBasis("AVG/GDPR art. 6(1)(e) en 6(4)", Text(
    "Dezelfde taak van algemeen belang: de modellen trainen die de suggesties maken. Dat is een verenigbaar verder "
    "gebruik van de gegevens die voor de begeleiding verzameld zijn; de gevoelige kenmerken worden daarbij nooit "
    "gebruikt.",
    "The same public task: training the models that make the suggestions. That is a compatible further use of the "
    "data collected for guidance; sensitive characteristics are never used in it."))
BIAS_DETECTION = LegalBasis("AVG/GDPR art. 9(2)(g); AI-verordening (EU) 2024/1689 art. 10(5)", Text(
    "Afkomst en arbeidshandicap zijn bijzondere persoonsgegevens. Ze worden alleen gebruikt om vooringenomenheid van "
    "de modellen op te sporen en te corrigeren, voor zover dat strikt nodig is, wat de AI-verordening toestaat "
    "voor AI met een hoog risico, in een zwaarwegend algemeen belang: apart bewaard, door niets anders gebruikt, "
    "nooit doorgegeven, en in het rapport alleen als cijfers per groep.",
    "Origin and work disability are special categories of personal data. They are used only to detect and correct "
    "bias of the models, as far as strictly necessary, which the AI Act allows for high-risk AI, in a substantial "
    "public interest: kept apart, used by nothing else, never passed on, and in the report only as figures per "
    "group."))
CONSENT = LegalBasis("AVG/GDPR art. 6(1)(a) en 7", Text(
    "Jouw toestemming: jij kiest de partner, de delen, het doel en de periode. Je trekt ze in wanneer je wilt "
    "(art. 7(3)); vanaf dan krijgt de partner niets meer.",
    "Your consent: you choose the partner, the parts, the purpose and the period. You withdraw it whenever you "
    "like (art. 7(3)); from then on the partner gets nothing more."))


@dataclass(frozen=True)
class Retention:
    text: Text
    enforced: bool  # the code carries it out (deletes, or never stores); False: a rule the code does not yet apply


# -- the processings ------------------------------------------------------------------------------------------------

SUGGESTIONS = "suggestions"
NIGHTLY_BATCH = "nightly_batch"
MODEL_TRAINING = "model_training"
FAIRNESS_ASSESSMENT = "fairness_assessment"
SHARING_PREFIX = "sharing_"

ERR_UNKNOWN_TABLE = "the processing {processing!r} declares the table {table!r}, which TABLE_CATEGORIES does not know"
ERR_UNKNOWN_PROCESSING = "unknown processing {processing!r}; the register declares: {known}"
ERR_UNKNOWN_STAKEHOLDER = "the processing {processing!r} names the stakeholder {stakeholder!r}, which is not known"


@dataclass(frozen=True)
class Processing:
    """One processing of personal data, as the register shows it; ``reads`` are the tables it may read."""

    key: str
    name: Text
    purpose: Text
    reads: frozenset[str]
    recipient: Text
    receives: Text
    legal_bases: tuple[LegalBasis, ...]
    retention: Retention
    stakeholders: tuple[str, ...]
    extra_categories: tuple[str, ...] = ()  # data it handles that no table it reads holds (given with a request)
    partner_kind: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reads", frozenset(self.reads))
        for table in self.reads:
            if table not in TABLE_CATEGORIES:
                raise ValueError(ERR_UNKNOWN_TABLE.format(processing=self.key, table=table))
        for stakeholder in self.stakeholders:
            if stakeholder not in STAKEHOLDERS:
                raise ValueError(ERR_UNKNOWN_STAKEHOLDER.format(processing=self.key, stakeholder=stakeholder))
        unknown = [key for key in self.extra_categories if key not in CATEGORIES]
        if unknown or (self.partner_kind is not None and self.partner_kind not in PARTNER_KINDS):
            raise ValueError(f"the processing {self.key!r} names unknown categories or partner kind")

    @property
    def categories(self) -> tuple[str, ...]:
        """The data categories it handles, in the order of :data:`CATEGORIES`."""
        held = {key for table in self.reads for key in TABLE_CATEGORIES[table]} | set(self.extra_categories)
        return tuple(key for key in CATEGORIES if key in held)


_CONTEXT = frozenset({"citizens", "profiles", "work_periods"})
_CATALOGUES = frozenset({"vacancies", "vacancy_competencies", "trainings", "training_competencies"})
_OUTCOMES = frozenset({"job_outcomes", "training_outcomes", "transitions"})
_CAREER_VIEW = frozenset({"citizens", "profiles", "work_periods", "diplomas", "training_records",
                          "diploma_catalogue", "trainings"})  # features.career_data.CareerRecords
_CAREER_TITLES = frozenset({"diploma_catalogue", "trainings"})  # what the vault's career data borrows from the snapshot
# The vault's tables behind its calls (features/vault/): Vault.career_data (also what a partner's call reads)...
_VAULT_CAREER_VIEW = frozenset({"vault.vault_meta", "vault.citizens", "vault.consent_choices", "vault.career_records",
                                "vault.competency_evidence"})
# ... a partner's call on a share (Vault.disclose: the share, the record of the call) and its audit line...
_VAULT_PARTNER_CALL = _VAULT_CAREER_VIEW | {"vault.shares", "vault.share_accesses", "vault.audit_trail"}
# ... and the citizen's site: signing in (Vault.citizen_for_subject), contexts, career data and its edits, the AI
# switch, feedback, the audit line, and their shares with who looked at them (Vault.grants, .accesses, edits).
_VAULT_SITE = _VAULT_PARTNER_CALL | {"vault.subject_links", "vault.feedback"}
# ... and who switched AI suggestions off (features.consent, on a home with a vault): the batch and the assessment
# leave them out.
_VAULT_AI_CHOICE = frozenset({"vault.consent_choices"})

_SERVICE_PROCESSINGS = (
    Processing(
        SUGGESTIONS, Text("Suggesties op Mijn loopbaan", "Suggestions on Mijn loopbaan"),
        Text("Je vacatures, opleidingen en loopbaanstappen voorstellen die bij je competenties passen, elk met de "
             "uitleg waarom, en je loopbaandata tonen zoals de suggesties ze kennen. Daarbij: je aanmelding "
             "herkennen, en je delingen met partners tonen en beheren, met wie ze wanneer bekeek.",
             "Suggesting vacancies, trainings and career steps that fit your competencies, each with the "
             "explanation why, and showing your career data as the suggestions know it. With it: recognising your "
             "sign-in, and showing and managing your shares with partners, with who looked at them when."),
        _CONTEXT | _CATALOGUES | _OUTCOMES | _CAREER_VIEW | _VAULT_SITE,
        Text("Jijzelf, op Mijn loopbaan. Niemand anders: geen consulent, geen partner.",
             "You, on Mijn loopbaan. Nobody else: no consultant, no partner."),
        Text("Je eigen loopbaandata en je suggesties met uitleg. De uitkomsten van anderen tellen alleen mee als "
             "totaal (hoe vaak iets gekozen werd), in de algemene lijst.",
             "Your own career data and your suggestions with their explanation. Other people's outcomes count "
             "only as totals (how often something was chosen), in the general list."),
        (PUBLIC_TASK,),
        Retention(Text("Suggesties worden per vraag berekend en niet bewaard. Het auditspoor houdt per vraag één "
                       "regel met een pseudoniem en zonder inhoud; die regels worden nog niet automatisch verwijderd.",
                       "Suggestions are computed per request and not kept. The audit trail keeps one line per "
                       "request with a pseudonym and no content; those lines are not yet deleted automatically."),
                  enforced=False),
        ("site_users", "offer_owners"), extra_categories=("usage_log",)),
    Processing(
        NIGHTLY_BATCH, Text("Nachtelijke berekening van suggesties", "Nightly computation of suggestions"),
        Text("Elke nacht de suggesties van elke burger vooraf berekenen, zodat de site ze meteen toont.",
             "Computing every citizen's suggestions each night ahead of time, so that the site shows them at once."),
        _CONTEXT | _CATALOGUES | _VAULT_AI_CHOICE,
        Text("De dienst bewaart de lijsten; alleen jij ziet de jouwe, op Mijn loopbaan.",
             "The service keeps the lists; only you see yours, on Mijn loopbaan."),
        Text("Per burger een lijst suggesties met uitleg. Wie de AI-suggesties uitzette, wordt overgeslagen.",
             "Per citizen a list of suggestions with explanation. Whoever switched AI suggestions off is skipped."),
        (PUBLIC_TASK,),
        Retention(Text("Alleen de nieuwste batches per soort; een oudere wordt verwijderd zodra een nieuwe klaar is.",
                       "Only the newest batches per kind; an older one is deleted as soon as a new one is complete."),
                  enforced=True),
        ("citizens_with_ai", "offer_owners")),
    Processing(
        MODEL_TRAINING, Text("Training van de suggestiemodellen", "Training the suggestion models"),
        Text("De modellen leren welke vacatures, opleidingen en stappen bij welke competenties passen, uit de "
             "loopbaandata en de uitkomsten van het verleden, en hun kwaliteit meten op burgers die ze niet zagen. "
             "Ook de gegevens van wie de AI-suggesties uitzette, tellen mee.",
             "Teaching the models which vacancies, trainings and steps fit which competencies, from past career "
             "data and outcomes, and measuring their quality on citizens they did not see. The data of those who "
             "switched AI suggestions off counts too."),
        _CONTEXT | _CATALOGUES | _OUTCOMES,
        Text("De datawetenschappers van de dienst (intern, gepseudonimiseerd: een dossiernummer, geen naam). Het "
             "getrainde model gaat naar de suggestiedienst.",
             "The service's data scientists (internal, pseudonymised: a file number, no name). The trained model "
             "goes to the suggestion service."),
        Text("Een model en zijn cijfers; geen gegevens per burger en nooit de gevoelige kenmerken.",
             "A model and its figures; no data per citizen and never the sensitive characteristics."),
        (COMPATIBLE_FURTHER_USE,),
        Retention(Text("De trainingsgegevens worden niet apart bewaard: elke training leest ze opnieuw uit de "
                       "momentopname. MLflow bewaart per training de cijfers, het model en figuren met totalen, zolang "
                       "de modelversie bestaat; dat wordt nog niet automatisch opgeruimd.",
                       "The training data is not kept apart: each training reads it again from the snapshot. MLflow "
                       "keeps per training the figures, the model and figures with totals, as long as the model "
                       "version exists; that is not yet cleaned up automatically."),
                  enforced=False),
        ("citizens", "offer_owners")),
    Processing(
        FAIRNESS_ASSESSMENT, Text("Eerlijkheidstoets van de modellen", "Fairness assessment of the models"),
        Text("Nagaan of een model groepen (naar geslacht, leeftijd, afkomst, arbeidshandicap, regio) ongelijk "
             "behandelt, vóór het burgers bereikt en daarna op vaste tijden; de ethische commissie beslist. Ook de "
             "gegevens van wie de AI-suggesties uitzette, tellen mee.",
             "Checking whether a model treats groups (by gender, age, origin, work disability, region) unequally, "
             "before it reaches citizens and then on a schedule; the ethics board decides. The data of those who "
             "switched AI suggestions off counts too."),
        _CONTEXT | _CATALOGUES | _OUTCOMES | _VAULT_AI_CHOICE | {"sensitive"},
        Text("De ethische commissie.", "The ethics board."),
        Text("Een rapport met cijfers per groep en per model; nooit gegevens van één burger.",
             "A report with figures per group and per model; never data of one citizen."),
        (PUBLIC_TASK, BIAS_DETECTION),
        Retention(Text("Het rapport wordt bewaard als verantwoording bij de modelversie; de gevoelige kenmerken "
                       "blijven in hun eigen tabel van de momentopname en worden nergens anders opgeslagen.",
                       "The report is kept as the record of the model version; the sensitive characteristics stay "
                       "in their own table of the snapshot and are stored nowhere else."),
                  enforced=False),
        ("citizens", "protected_groups")),
)


def sharing_processing_key(partner_kind: str) -> str:
    """The register key of sharing with one kind of partner (``sharing_employer``...)."""
    if partner_kind not in PARTNER_KINDS:
        raise LoopbaanError(ERR_UNKNOWN_PROCESSING.format(processing=SHARING_PREFIX + partner_kind,
                                                          known=", ".join(PROCESSINGS)))
    return SHARING_PREFIX + partner_kind


def _sharing(kind_key: str) -> Processing:
    kind = PARTNER_KINDS[kind_key]
    purposes = [PURPOSES[key].name for key in kind.purposes]
    return Processing(
        SHARING_PREFIX + kind_key, Text(f"Delen met een partner: {kind.name.nl}",
                                        f"Sharing with a partner: {kind.name.en}"),
        Text("Op jouw beslissing een deel van je profiel doorgeven aan " + kind.description.nl + ", voor: "
             + "; ".join(purpose.nl.lower() for purpose in purposes) + ".",
             "Passing a part of your profile, on your decision, to " + kind.description.en + ", for: "
             + "; ".join(purpose.en.lower() for purpose in purposes) + "."),
        _CAREER_TITLES | _VAULT_PARTNER_CALL,
        Text("De partner die jij kiest: " + kind.description.nl + ".",
             "The partner you choose: " + kind.description.en + "."),
        Text("Alleen de delen die je aanduidt (" + ", ".join(part.name.nl.lower() for part in PARTS.values())
             + "), op naam of gepseudonimiseerd (dan zonder naam en contactgegevens, met data per maand). Nooit je "
             "dossiernummer, je omstandigheden of gevoelige kenmerken.",
             "Only the parts you choose (" + ", ".join(part.name.en.lower() for part in PARTS.values())
             + "), named or pseudonymised (then without name and contact details, with dates per month). Never "
               "your file number, your circumstances or sensitive characteristics."),
        (CONSENT,),
        Retention(Text(f"De deling geldt tot je ze intrekt of tot het einde van de periode (hoogstens "
                       f"{MAX_PERIOD_DAYS} dagen); daarna krijgt de partner niets meer. Elke inzage wordt "
                       f"bijgehouden zodat je ze kunt nakijken; die regels worden nog niet automatisch verwijderd. "
                       f"Wat de partner kreeg, valt onder zijn eigen register.",
                       f"The share holds until you withdraw it or the period ends (at most {MAX_PERIOD_DAYS} days); "
                       f"after that the partner gets nothing more. Every look is recorded so that you can check "
                       f"it; those records are not yet deleted automatically. What the partner received falls "
                       f"under its own register."),
                  enforced=False),
        ("sharing_citizens", "partners"), extra_categories=("shares", "contact_wish"), partner_kind=kind_key)


PROCESSINGS: dict[str, Processing] = {entry.key: entry for entry in (
    *_SERVICE_PROCESSINGS, *(_sharing(kind) for kind in PARTNER_KINDS))}


# -- the guard ------------------------------------------------------------------------------------------------------


def _declared(key: str, register: Mapping[str, Processing]) -> Processing:
    if key not in register:
        raise LoopbaanError(ERR_UNKNOWN_PROCESSING.format(processing=key, known=", ".join(register)))
    return register[key]


@contextmanager
def processing(key: str, *, strict: bool = True,
               register: Mapping[str, Processing] = PROCESSINGS) -> Iterator[ReadScope]:
    """Run the block as the processing ``key`` of ``register``: note every table it reads.

    Strict (the default): the first read of a table the processing does not declare raises ``UndeclaredRead``.
    Lenient: reads are only noted; the scope's ``undeclared`` lists them (see :func:`check_reads`).
    """
    declared = _declared(key, register)
    running = active_scope()
    if running is not None and running.processing == key:
        # Already running as this processing (a caller opened the scope around code that opens it too): one run.
        yield running
        return
    with read_scope(key, declared=declared.reads, strict=strict) as scope:
        yield scope


def check_reads(scope: ReadScope) -> None:
    """Raise ``UndeclaredRead`` naming every table the scope's processing read without declaring it."""
    if scope.undeclared:
        raise UndeclaredRead(undeclared_message(scope.processing, scope.undeclared))
