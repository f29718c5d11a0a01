// Mijn loopbaan: one citizen's page. Plain JavaScript, no build step; talks only to this service's API.
"use strict";

const TEXT = {
  nl: {
    skip: "Naar de inhoud", title: "Mijn loopbaan", language: "Taal", logout: "Afmelden",
    loginTitle: "Aanmelden", loginIntro: "Meld je aan met je persoonlijke toegangscode. Alleen jij ziet deze pagina.",
    tokenLabel: "Toegangscode", loginButton: "Aanmelden",
    providerIntro: "Meld je aan via de aanmeldingsdienst van de overheid. Alleen jij ziet deze pagina: geen consulent, geen partner.",
    codeForTesting: "Deze dienst heeft geen aanmeldingsdienst ingesteld: dit formulier met een toegangscode is alleen om te testen.",
    signInAgain: "Je aanmelding is verlopen of werd niet aanvaard. Meld je opnieuw aan.",
    signInFailed: (code) => code === "access_denied"
      ? "Je bent niet aangemeld: het aanmelden werd afgebroken of geweigerd. Probeer het opnieuw."
      : `Aanmelden is niet gelukt (${code}). Probeer het opnieuw.`,
    signInUnavailable: "Aanmelden kan nu niet: de dienst of de aanmeldingsdienst is niet bereikbaar. Probeer het later opnieuw.",
    choiceTitle: "Jouw keuze over AI-suggesties",
    optOutLabel: "Geen AI-suggesties: toon mij alleen een algemene lijst",
    optOutHelp: "Je kunt dit altijd weer veranderen. Met AI-suggesties krijg je aanbod op maat van je competenties, telkens met de uitleg waarom.",
    dataTitle: "Mijn loopbaandata",
    dataHelp: "Dit is wat de suggesties over jou weten. Bij elke competentie staat waar ze vandaan komt.",
    suggestionsTitle: "Suggesties voor jou", tabJobs: "Vacatures", tabTrainings: "Opleidingen", tabCareers: "Loopbaanstappen",
    compareTitle: "Waarom staat A boven B?", compareButton: "Vergelijk",
    footer: "Een dienst van de publieke arbeidsbemiddeling. De suggesties zijn een hulp, geen beslissing: ze worden nooit gebruikt voor sancties of controle van je beschikbaarheid. De gegevens in deze demo zijn synthetisch.",
    loading: "Laden…", loaded: "Suggesties geladen.", badToken: "Deze toegangscode werkt niet (meer). Vraag een nieuwe aan.",
    work: "Werkervaring", diplomas: "Diploma's", trainings: "Gevolgde opleidingen", competencies: "Competenties",
    now: "nu", none: "Geen.", partTime: "deeltijds",
    ready: "Klaar om te starten", bridgeable: "Overbrugbaar met opleiding", stretch: "Verder weg", general: "Algemeen",
    matched: "Wat je al kunt", missing: "Wat nog ontbreekt", bridging: "Opleidingen die het gat dichten",
    barriers: "Drempels", why: "Waarom deze suggestie", allFactors: "Alle factoren en hun bijdrage",
    hours: "uur", score: "score", base: "Vertrekpunt (gemiddelde score)",
    modelNotice: (m, a) => `Deze lijst komt van model ${m.name} versie ${m.version} (${m.alias}${m.fallback ? ", nog niet goedgekeurd" : ""}). ${a}`,
    assessed: (a) => `Laatste fairness-beoordeling: ${a.assessed_at.slice(0, 10)}, ${a.passed ? "geslaagd" : "niet geslaagd"} (beleid ${a.policy_version}).`,
    notAssessed: "Dit model werd nog niet op fairness beoordeeld.",
    reranked: (guarantees) => `De volgorde is bijgestuurd zodat goede kansen${(guarantees || []).includes("ready") ? ", en wat je nu al kunt aanvatten," : ""} voor iedereen zichtbaar blijven.`,
    unavailable: "Voor dit soort suggesties is er nu geen goedgekeurd model.",
    compareSame: "Kies twee verschillende suggesties.",
    movedHelp: "De eerlijkheidsgarantie zette deze suggestie hoger dan haar score alleen zou doen.",
    sources: {"work": "werk", "diploma": "diploma", "training": "opleiding", "assessment": "test", "self-declared": "zelf opgegeven"},
    circumstances: {municipality: "Woonplaats", education: "Opleidingsniveau", dutch_level: "Niveau Nederlands (0-4)",
                    driving_licence: "Rijbewijs", max_commute_km: "Max. pendelafstand (km)", prefers_part_time: "Voorkeur deeltijds"},
    yes: "ja", no: "nee",
    ownTitle: "Zelf toegevoegd",
    ownHelp: "Wat je hier toevoegt, staat als \"zelf opgegeven\" in je loopbaandata. Je suggesties worden meteen herberekend. Je kunt het altijd weer verwijderen.",
    addCompetency: "Een competentie toevoegen",
    searchHelp: "Typ wat je kunt, in het Nederlands of het Engels (bijvoorbeeld \"heftruck\"), en kies uit de lijst.",
    noHits: "Niets gevonden. Probeer een ander woord.", remove: "Verwijderen",
    entryTypes: { competency: "competentie", test: "test", course: "opleiding", diploma: "diploma" },
    untranslated: "nog niet vertaald",
    recourseTitle: "Wat bijleren voor jou opent",
    recourseHelp: "De competenties die, als je ze leert, de meeste vacatures binnen je pendelafstand pasklaar maken. Geteld over het hele aanbod, met de opleiding die ze leert.",
    recourseNone: "Er is geen enkele competentie die op zichzelf een vacature pasklaar maakt.",
    whatIf: "Wat als ik dit leer?", learnToBeReady: "Om klaar te zijn, leer", untaught: "geen opleiding in het aanbod",
    conflict: "Je loopbaandata is intussen ergens anders gewijzigd. De pagina is bijgewerkt: probeer opnieuw.",
    notForMe: "Niet voor mij", dismissQuestion: "Waarom is dit niet voor jou?",
    reasons: { too_far: "Te ver weg", not_interested: "Interesseert me niet", tried_before: "Al eens geprobeerd",
               cannot_meet_requirement: "Ik kan niet aan een vereiste voldoen", other: "Een andere reden" },
    noteLabel: "Toelichting (niet verplicht)",
    noteHelp: "Je toelichting is alleen voor jou: ze wordt nooit doorgegeven of gebruikt om de suggesties te trainen.",
    dismissButton: "Niet meer tonen", cancel: "Annuleren", chooseReason: "Kies een reden.",
    dismissed: (title) => `'${title}' wordt niet meer getoond. Je kunt dit ongedaan maken onder "Niet voor mij".`,
    keptTitle: "Niet voor mij",
    keptHelp: "Deze suggesties krijg je niet meer te zien, omdat je zei dat ze niet voor jou zijn. Maak het ongedaan en ze kunnen weer in je lijsten staan.",
    undo: "Ongedaan maken", undone: (title) => `'${title}' kan weer in je lijsten staan.`,
    kindNames: { jobs: "vacature", trainings: "opleiding", careers: "loopbaanstap" },
    noLongerOffered: "niet meer in het aanbod",
    sharesTitle: "Delen met partners",
    sharesHelp: "Jij beslist wat een partner van je profiel ziet, waarvoor en hoe lang. Je kunt het altijd weer intrekken: vanaf dan krijgt de partner niets meer.",
    grantsTitle: "Wat je deelt", shareFormTitle: "Iets delen", sharePartner: "Met wie", shareParts: "Wat",
    shareVacancy: "Voor welke vacature", shareVacancyHelp: "Een werkgever krijgt je gegevens voor één vacature uit je suggesties.",
    noVacancies: "Er staan nu geen vacatures in je suggesties om voor te delen.",
    sharePurpose: "Waarvoor", sharePurposeText: "In je eigen woorden (niet verplicht)", shareDays: "Hoe lang (in dagen)",
    daysHelp: (max) => `Hoogstens ${max} dagen. Daarna stopt het delen vanzelf; verlengen is een nieuwe keuze.`,
    sharePseudonymised: "Gepseudonimiseerd delen",
    sharePseudonymisedHelp: "Zonder je naam of contactgegevens, en elke datum alleen op de maand; de partner antwoordt je dan via de dienst.",
    shareContact: "Hoe wil je gecontacteerd worden", contactChannel: "Kanaal", channelEmail: "Per e-mail",
    channelPhone: "Per telefoon", channelService: "Via de dienst", contactName: "Je naam",
    contactAddress: "E-mailadres of telefoonnummer", contactNote: "Notitie (niet verplicht)", shareButton: "Delen",
    accessesTitle: "Wie heeft mijn gegevens bekeken",
    accessesHelp: "Elke keer dat een partner je gegevens vraagt, staat hier: wie, wanneer, welke delen, waarvoor, en of de dienst ze gaf of weigerde.",
    refresh: "Bijwerken", noGrants: "Je deelt nog niets.", noAccesses: "Nog geen enkele partner heeft je gegevens gevraagd.",
    revoke: "Intrekken",
    grantColumns: ["Partner", "Wat", "Waarvoor", "Tot", "Status", ""],
    accessColumns: ["Wie", "Wanneer", "Welke delen", "Waarvoor", "Antwoord"],
    states: { active: "actief", revoked: "ingetrokken", expired: "afgelopen", not_yet_valid: "nog niet begonnen" },
    outcomes: { disclosed: "gegeven", other_partner: "geweigerd: niet de partner van dit delen",
                revoked: "geweigerd: je had het ingetrokken", expired: "geweigerd: de periode was voorbij",
                not_yet_valid: "geweigerd: de periode was nog niet begonnen",
                part_not_granted: "geweigerd: een deel dat je niet deelt" },
    pseudonymised: "gepseudonimiseerd", named: "op naam", vacancy: "vacature",
    shared: (partner) => `Gedeeld met ${partner}.`, revokedDone: (partner) => `Het delen met ${partner} is ingetrokken.`,
    shareErrors: {
      no_parts: "Kies minstens één deel van je profiel.",
      period_too_long: "Zo lang kan je niet delen: kies een kortere periode (je kunt later verlengen).",
      vacancy_needed: "Kies de vacature waarvoor je met deze werkgever deelt.",
      contact_needed: "Je deelt je contactwens: zeg hoe je gecontacteerd wilt worden.",
      contact_not_pseudonymous: "Gepseudonimiseerd delen gaat zonder naam en zonder adres of nummer: kies contact via de dienst, of deel op naam.",
      bad_contact: "Je contactgegevens zijn niet bruikbaar: geef een geldig e-mailadres (naam@voorbeeld.be) of een telefoonnummer van minstens 8 cijfers; via de dienst is geen adres nodig.",
      purpose_not_for_partner: "Dat doel past niet bij deze partner: kies een doel uit de lijst.",
      bad_text: "Een van je teksten is te lang of bevat tekens die niet kunnen.",
    },
  },
  en: {
    skip: "Skip to content", title: "My career", language: "Language", logout: "Sign out",
    loginTitle: "Sign in", loginIntro: "Sign in with your personal access code. Only you see this page.",
    tokenLabel: "Access code", loginButton: "Sign in",
    providerIntro: "Sign in through the government's sign-in service. Only you see this page: no counsellor, no partner.",
    codeForTesting: "This service has no sign-in service set up: this access-code form is for testing only.",
    signInAgain: "Your sign-in has expired or was not accepted. Please sign in again.",
    signInFailed: (code) => code === "access_denied"
      ? "You are not signed in: the sign-in was cancelled or refused. Please try again."
      : `Signing in did not work (${code}). Please try again.`,
    signInUnavailable: "Signing in is not possible right now: the service or the sign-in service cannot be reached. Please try again later.",
    choiceTitle: "Your choice about AI suggestions",
    optOutLabel: "No AI suggestions: show me a general list only",
    optOutHelp: "You can change this at any time. With AI suggestions you get offers tailored to your competencies, each with the reason why.",
    dataTitle: "My career data",
    dataHelp: "This is what the suggestions know about you. Each competency shows where it came from.",
    suggestionsTitle: "Suggestions for you", tabJobs: "Vacancies", tabTrainings: "Trainings", tabCareers: "Career steps",
    compareTitle: "Why is A above B?", compareButton: "Compare",
    footer: "A service of the public employment service. The suggestions are a help, not a decision: they are never used for sanctions or to check your availability. The data in this demo are synthetic.",
    loading: "Loading…", loaded: "Suggestions loaded.", badToken: "This access code does not work (any more). Ask for a new one.",
    work: "Work experience", diplomas: "Diplomas", trainings: "Completed trainings", competencies: "Competencies",
    now: "now", none: "None.", partTime: "part-time",
    ready: "Ready to go", bridgeable: "Bridgeable with upskilling", stretch: "A stretch", general: "General",
    matched: "What you can already do", missing: "What is still missing", bridging: "Trainings that close the gap",
    barriers: "Barriers", why: "Why this suggestion", allFactors: "All factors and their contribution",
    hours: "hours", score: "score", base: "Starting point (average score)",
    modelNotice: (m, a) => `This list comes from model ${m.name} version ${m.version} (${m.alias}${m.fallback ? ", not yet approved" : ""}). ${a}`,
    assessed: (a) => `Last fairness assessment: ${a.assessed_at.slice(0, 10)}, ${a.passed ? "passed" : "not passed"} (policy ${a.policy_version}).`,
    notAssessed: "This model has not been assessed for fairness yet.",
    reranked: (guarantees) => `The order was adjusted so that good opportunities${(guarantees || []).includes("ready") ? ", and what you can start now," : ""} stay visible for everyone.`,
    unavailable: "There is no approved model for this kind of suggestion right now.",
    compareSame: "Choose two different suggestions.",
    movedHelp: "The fairness guarantee placed this suggestion higher than its score alone would.",
    sources: {"work": "work", "diploma": "diploma", "training": "training", "assessment": "test", "self-declared": "self-declared"},
    circumstances: {municipality: "Home town", education: "Education level", dutch_level: "Dutch level (0-4)",
                    driving_licence: "Driving licence", max_commute_km: "Max. commute (km)", prefers_part_time: "Prefers part-time"},
    yes: "yes", no: "no",
    ownTitle: "Added by you",
    ownHelp: "What you add here is in your career data as \"self-declared\". Your suggestions are recomputed at once. You can always remove it again.",
    addCompetency: "Add a competency",
    searchHelp: "Type what you can do, in Dutch or English (for example \"forklift\"), and choose from the list.",
    noHits: "Nothing found. Try another word.", remove: "Remove",
    entryTypes: { competency: "competency", test: "test", course: "course", diploma: "diploma" },
    untranslated: "not translated yet",
    recourseTitle: "What learning opens up for you",
    recourseHelp: "The competencies that, once learnt, make the most vacancies within your commute ready. Counted over all vacancies, with the training that teaches them.",
    recourseNone: "No single competency makes a vacancy ready on its own.",
    whatIf: "What if I learn this?", learnToBeReady: "To be ready, learn", untaught: "no training on offer",
    conflict: "Your career data was changed elsewhere meanwhile. The page was updated: please try again.",
    notForMe: "Not for me", dismissQuestion: "Why is this not for you?",
    reasons: { too_far: "Too far away", not_interested: "Not interested", tried_before: "Tried it before",
               cannot_meet_requirement: "I cannot meet a requirement", other: "Another reason" },
    noteLabel: "Note (optional)",
    noteHelp: "Your note is for you only: it is never passed on or used to train the suggestions.",
    dismissButton: "Stop showing it", cancel: "Cancel", chooseReason: "Choose a reason.",
    dismissed: (title) => `'${title}' is no longer shown. You can undo this under "Not for me".`,
    keptTitle: "Not for me",
    keptHelp: "You no longer see these suggestions, because you said they are not for you. Undo it and they may appear in your lists again.",
    undo: "Undo", undone: (title) => `'${title}' may appear in your lists again.`,
    kindNames: { jobs: "vacancy", trainings: "training", careers: "career step" },
    noLongerOffered: "no longer on offer",
    sharesTitle: "Sharing with partners",
    sharesHelp: "You decide what a partner sees of your profile, what for and for how long. You can always revoke it: from then on the partner gets nothing.",
    grantsTitle: "What you share", shareFormTitle: "Share something", sharePartner: "With whom", shareParts: "What",
    shareVacancy: "For which vacancy", shareVacancyHelp: "An employer gets your data for one vacancy among your suggestions.",
    noVacancies: "There are no vacancies in your suggestions to share for right now.",
    sharePurpose: "What for", sharePurposeText: "In your own words (optional)", shareDays: "How long (in days)",
    daysHelp: (max) => `At most ${max} days. Then the sharing stops by itself; renewing is a new decision.`,
    sharePseudonymised: "Share pseudonymised",
    sharePseudonymisedHelp: "Without your name or contact details, and every date by month only; the partner then answers you through the service.",
    shareContact: "How do you want to be contacted", contactChannel: "Channel", channelEmail: "By e-mail",
    channelPhone: "By phone", channelService: "Through the service", contactName: "Your name",
    contactAddress: "E-mail address or phone number", contactNote: "Note (optional)", shareButton: "Share",
    accessesTitle: "Who has looked at my data",
    accessesHelp: "Every time a partner asks for your data, it is listed here: who, when, which parts, what for, and whether the service gave or refused them.",
    refresh: "Refresh", noGrants: "You share nothing yet.", noAccesses: "No partner has asked for your data yet.",
    revoke: "Revoke",
    grantColumns: ["Partner", "What", "What for", "Until", "State", ""],
    accessColumns: ["Who", "When", "Which parts", "What for", "Answer"],
    states: { active: "active", revoked: "revoked", expired: "ended", not_yet_valid: "not started yet" },
    outcomes: { disclosed: "given", other_partner: "refused: not the partner of this share",
                revoked: "refused: you had revoked it", expired: "refused: the period was over",
                not_yet_valid: "refused: the period had not started yet",
                part_not_granted: "refused: a part you do not share" },
    pseudonymised: "pseudonymised", named: "under your name", vacancy: "vacancy",
    shared: (partner) => `Shared with ${partner}.`, revokedDone: (partner) => `Sharing with ${partner} is revoked.`,
    shareErrors: {
      no_parts: "Choose at least one part of your profile.",
      period_too_long: "You cannot share for that long: choose a shorter period (you can renew later).",
      vacancy_needed: "Choose the vacancy you share for with this employer.",
      contact_needed: "You share your contact wish: say how you want to be contacted.",
      contact_not_pseudonymous: "A pseudonymised share has no name and no address or number: choose contact through the service, or share under your name.",
      bad_contact: "Your contact details cannot be used: give a valid e-mail address (name@example.be) or a phone number of at least 8 digits; through the service needs no address.",
      purpose_not_for_partner: "That purpose does not fit this partner: choose one from the list.",
      bad_text: "One of your texts is too long or holds characters that are not allowed.",
    },
  },
};
const BARS = 6;  // contributions drawn as bars; the rest are in "all factors"
const LIST_LENGTH = 10;  // suggestions per tab; "why A above B" compares within this list
const SEARCH_DELAY_MS = 200;  // search-as-you-type waits this long after the last key
const SEARCH_HITS = 8;
const PANEL_LENGTH = 5;

const state = { signIn: null, token: null, citizenId: null, language: "nl", kind: "jobs", metadata: null, lists: {}, revision: null,
                shares: null,
                search: { timer: null, asked: 0, hits: [], active: -1 } };
const $ = (selector) => document.querySelector(selector);
const t = (key) => TEXT[state.language][key];

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

class ApiError extends Error {
  constructor(status, message, code) { super(message); this.status = status; this.code = code; }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { "Accept": "application/json" };
  const token = bearer();
  if (state.token && !token) throw new ApiError(401, t("signInAgain"));  // the provider's token expired
  if (token) headers["Authorization"] = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (data && data.error) || response.statusText;
    throw new ApiError(response.status, message, data && data.code);
  }
  return data;
}

// -- session ------------------------------------------------------------------------------------------------
// With an OpenID provider (GET /auth/config answers 200) the citizen signs in there (signin.js: code + PKCE) and the
// page sends the provider's access token; without one (404) the page takes a `loopbaan token` access code, for
// testing only. Either way the citizen id comes from GET /me.

async function signInMode() {
  try {
    const response = await fetch("/auth/config", { headers: { Accept: "application/json" }, credentials: "omit" });
    if (response.ok) return "provider";
    if (response.status === 404) return "code";
  } catch { /* the service cannot be reached */ }
  return null;
}

function bearer() {
  return state.signIn === "provider" ? window.loopbaanSignIn.accessToken() : state.token;
}

function signedOut() {
  return signOut(t(state.signIn === "provider" ? "signInAgain" : "badToken"));
}

function citizenOf(token) {
  const parts = token.split(".");
  return parts.length === 4 && parts[0] === "lb1" && /^\d+$/.test(parts[1]) ? Number(parts[1]) : null;
}

function signIn(token) {
  const citizen = citizenOf(token.trim());
  if (citizen === null) return false;
  state.token = token.trim();
  state.citizenId = citizen;
  sessionStorage.setItem("loopbaan-token", state.token);
  return true;
}

function signOut(message) {
  sessionStorage.removeItem("loopbaan-token");
  state.token = null; state.citizenId = null; state.lists = {};
  $("#app").hidden = true; $("#logout").hidden = true; $("#login").hidden = false;
  $("#provider-login").hidden = state.signIn !== "provider";
  $("#login-form").hidden = state.signIn !== "code";
  const error = $("#login-error");
  error.hidden = !message; error.textContent = message || "";
  if (state.signIn === "provider") $("#signin-button").focus();
  else if (state.signIn === "code") $("#token-input").focus();
}

async function logOut() {
  if (state.signIn === "provider") await window.loopbaanSignIn.signOut();  // ends the session at the provider too
  signOut();
}

// -- language -----------------------------------------------------------------------------------------------

function applyLanguage() {
  document.documentElement.lang = state.language;
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const button of document.querySelectorAll(".language")) {
    button.setAttribute("aria-pressed", String(button.dataset.language === state.language));
  }
}

async function switchLanguage(language) {
  state.language = language;
  localStorage.setItem("loopbaan-language", language);
  applyLanguage();
  if (state.token) {
    state.lists = {};
    await Promise.all([loadCareerData(), loadSuggestions(), loadRecourse(), loadShares()]);
  }
}

// -- career data --------------------------------------------------------------------------------------------

// A label in the language the service says it is in: an English label on the Dutch page is marked as such.
function label(text, lang) {
  if (!lang || lang === state.language) return element("span", { text });
  return element("span", { lang, class: "untranslated", title: t("untranslated"), text });
}

function period(start, end) { return `${start} – ${end || t("now")}`; }

function renderCareerData(data) {
  const circumstances = element("dl", { class: "columns" });
  for (const [name, label] of Object.entries(t("circumstances"))) {
    let value = data.circumstances[name];
    if (typeof value === "boolean") value = value ? t("yes") : t("no");
    circumstances.append(element("div", {}, element("dt", { text: label }), element("dd", { text: String(value) })));
  }
  const list = (items, render) => items.length ? element("ul", {}, items.map((item) => element("li", {}, render(item))))
                                               : element("p", { text: t("none") });
  const competencies = element("ul", { class: "competency-list", "data-testid": "competencies" },
    data.competencies.map((competency) => element("li", { "data-competency": competency.id },
      label(competency.label, competency.label_lang), " ",
      element("span", { class: "sources" }, competency.sources.slice(0, 3).map((source) =>
        element("span", { class: "source", title: source.date || "", text: `${t("sources")[source.source] || source.source}: ${source.reference}` }))))));
  $("#career-data").replaceChildren(
    circumstances,
    element("div", { class: "columns" },
      element("div", {}, element("h3", { text: t("work") }),
        list(data.work, (w) => `${w.occupation} (${period(w.start, w.end)}${w.part_time ? ", " + t("partTime") : ""})`)),
      element("div", {}, element("h3", { text: t("diplomas") }), list(data.diplomas, (d) => `${d.title} (${d.obtained})`)),
      element("div", {}, element("h3", { text: t("trainings") }), list(data.trainings, (x) => `${x.title} (${x.completed})`))),
    element("details", {}, element("summary", { text: `${t("competencies")} (${data.competencies.length})` }), competencies));
  $("#opt-out").checked = data.opted_out;
  state.citizenId = data.citizen_id;
  state.revision = data.revision;
  renderEntries(data.entries);
  renderFeedback(data.feedback);
}

function renderFeedback(feedback) {
  $("#kept-away").replaceChildren(...(feedback.length ? feedback.map((item) =>
    element("li", { "data-kind": item.kind, "data-item": item.item_id, "data-reason": item.reason },
      `${t("kindNames")[item.kind]}: `, element("strong", { text: item.title || `${item.item_id} (${t("noLongerOffered")})` }),
      ` — ${t("reasons")[item.reason]} (${item.given_on})`,
      item.note ? element("span", { class: "note", text: ` “${item.note}”` }) : null,
      element("button", { type: "button", class: "undo", "data-kind": item.kind, "data-item": item.item_id,
                          "data-title": item.title || item.item_id,
                          "aria-label": `${t("undo")}: ${item.title || item.item_id}`, text: t("undo") })))
    : [element("li", { class: "help", text: t("none") })]));
}

function renderEntries(entries) {
  $("#entries").replaceChildren(...(entries.length ? entries.map((entry) =>
    element("li", { "data-entry": String(entry.entry_id), "data-competency": entry.competency_id, "data-type": entry.type },
      `${t("entryTypes")[entry.type]}: `, label(entry.label, entry.label_lang), ` (${entry.date})`,
      element("button", { type: "button", class: "remove", "aria-label": `${t("remove")}: ${entry.label}`,
                          "data-entry": String(entry.entry_id), text: t("remove") })))
    : [element("li", { class: "help", text: t("none") })]));
}

async function loadCareerData() {
  try {
    renderCareerData(await api(`/me?language=${state.language}`));
  } catch (error) {
    if (error.status === 401) return signedOut();
    $("#career-data").replaceChildren(element("p", { class: "error", text: error.message }));
  }
}

// -- what the citizen adds: search-as-you-type, add, remove ---------------------------------------------------

function showHits(hits) {
  const list = $("#competency-hits"), input = $("#competency-search");
  state.search.hits = hits; state.search.active = -1;
  input.removeAttribute("aria-activedescendant");
  if (hits === null) { list.hidden = true; input.setAttribute("aria-expanded", "false"); return; }
  list.replaceChildren(...(hits.length ? hits.map((hit, index) =>
    element("li", { role: "option", id: `hit-${index}`, "aria-selected": "false", "data-id": hit.id },
      label(hit.label, hit.label_lang),
      hit.matched_label !== hit.label ? element("span", { class: "matched", text: `(${hit.matched_label})` }) : null))
    : [element("li", { class: "help", text: t("noHits") })]));
  list.hidden = false; input.setAttribute("aria-expanded", "true");
}

async function searchCompetencies() {
  const query = $("#competency-search").value.trim();
  const asked = ++state.search.asked;
  if (!/[\p{L}\p{N}]/u.test(query)) return showHits(null);
  try {
    const found = await api(`/search/competencies?query=${encodeURIComponent(query)}&language=${state.language}&k=${SEARCH_HITS}`);
    if (asked === state.search.asked) showHits(found.hits);  // an older answer never replaces a newer one
  } catch (error) {
    if (asked === state.search.asked) showHits([]);
  }
}

function moveHit(step) {
  const hits = state.search.hits;
  if (!hits || !hits.length) return;
  state.search.active = (state.search.active + step + hits.length) % hits.length;
  for (const option of $("#competency-hits").querySelectorAll("[role=option]")) {
    option.setAttribute("aria-selected", String(option.id === `hit-${state.search.active}`));
  }
  $("#competency-search").setAttribute("aria-activedescendant", `hit-${state.search.active}`);
}

function showChange(change) {
  const out = $("#change");
  out.hidden = false;
  out.textContent = change.summary;
  out.dataset.kinds = JSON.stringify(change.kinds);
}

async function edit(path, options) {
  $("#status").textContent = t("loading");
  try {
    const result = await api(path, options);
    state.lists = { [result.suggestions.kind]: result.suggestions };  // the other kinds are recomputed when shown
    showChange(result.change);
    await Promise.all([loadCareerData(), loadSuggestions(), loadRecourse()]);
  } catch (error) {
    if (error.status === 401) return signedOut();
    const out = $("#change");
    out.hidden = false; out.textContent = error.status === 409 && /revision/.test(error.message) ? t("conflict") : error.message;
    await loadCareerData();
    $("#status").textContent = "";
  }
}

async function addCompetency(id) {
  showHits(null);
  $("#competency-search").value = "";
  await edit("/me/competencies", { method: "POST", body: { competency_id: id, revision: state.revision,
    kind: state.kind, k: LIST_LENGTH, language: state.language } });
}

async function removeEntry(entryId) {
  const query = new URLSearchParams({ revision: String(state.revision), kind: state.kind, k: String(LIST_LENGTH),
                                      language: state.language });
  await edit(`/me/entries/${entryId}?${query}`, { method: "DELETE" });
}

// -- recourse: what learning opens up ----------------------------------------------------------------------------

async function loadRecourse() {
  const out = $("#recourse");
  try {
    const panel = await api(`/me/recourse?kind=jobs&language=${state.language}&limit=${PANEL_LENGTH}`);
    out.replaceChildren(...(panel.unlocks.length ? panel.unlocks.map((unlock) =>
      element("li", { "data-competency": unlock.competency.id, "data-items": String(unlock.items) },
        element("span", { class: "summary", text: unlock.summary }),
        element("button", { type: "button", class: "what-if", "data-competency": unlock.competency.id, text: t("whatIf") }),
        unlock.examples.length ? element("span", { class: "examples", text: unlock.examples.join(" · ") }) : null))
      : [element("li", { class: "help", text: t("recourseNone") })]));
  } catch (error) {
    out.replaceChildren(element("li", { class: "help", text: error.message }));
  }
}

async function whatIf(competency) {
  const out = $("#what-if");
  try {
    const result = await api("/what-if", { method: "POST", body: { kind: "jobs", citizen_id: state.citizenId,
      language: state.language, k: LIST_LENGTH, learn: [competency] } });
    out.hidden = false; out.textContent = result.change.summary;
    out.dataset.kinds = JSON.stringify(result.change.kinds);
  } catch (error) {
    out.hidden = false; out.textContent = error.message;
  }
}

// -- sharing with partners -------------------------------------------------------------------------------------

function when(iso, withTime) {
  const options = withTime ? { dateStyle: "medium", timeStyle: "short" } : { dateStyle: "long" };
  return new Date(iso).toLocaleString(state.language === "nl" ? "nl-BE" : "en-GB", options);
}

function partNames(parts) {
  const names = Object.fromEntries(state.shares.parts.map((part) => [part.part, part.name]));
  return parts.map((part) => names[part] || part).join(", ");
}

function table(columns, rows, testid) {
  return element("table", { class: "shares", "data-testid": testid },
    element("thead", {}, element("tr", {}, columns.map((column) => element("th", { scope: "col", text: column })))),
    element("tbody", {}, rows));
}

function renderGrants(grants) {
  if (!grants.length) return $("#grants").replaceChildren(element("p", { class: "help", text: t("noGrants") }));
  $("#grants").replaceChildren(table(t("grantColumns"), grants.map((grant) =>
    element("tr", { "data-grant": grant.grant_id, "data-state": grant.state, "data-partner": grant.partner_id },
      element("td", {}, grant.partner_name,
        grant.vacancy_id !== null ? element("span", { class: "help", text: ` (${t("vacancy")} ${grant.vacancy_id})` }) : null),
      element("td", { class: "parts", text: partNames(grant.parts) }),
      element("td", {}, grant.purpose_name, grant.purpose_text ? element("span", { class: "help", text: ` — ${grant.purpose_text}` }) : null),
      element("td", { text: when(grant.end, false) }),
      element("td", { class: "state", text: `${t("states")[grant.state] || grant.state}, ${t(grant.pseudonymised ? "pseudonymised" : "named")}` }),
      element("td", {}, grant.state === "active" || grant.state === "not_yet_valid"
        ? element("button", { type: "button", class: "revoke", "data-grant": grant.grant_id, "data-partner-name": grant.partner_name,
                               "aria-label": `${t("revoke")}: ${grant.partner_name}`, text: t("revoke") }) : null))),
    "grant-table"));
}

function renderAccesses(accesses) {
  if (!accesses.length) return $("#accesses").replaceChildren(element("p", { class: "help", text: t("noAccesses") }));
  $("#accesses").replaceChildren(table(t("accessColumns"), accesses.map((access) =>
    element("tr", { "data-grant": access.grant_id, "data-outcome": access.outcome, "data-partner": access.partner_id,
                    "data-parts": access.parts.join(" ") },
      element("td", { text: access.partner_name }),
      element("td", {}, element("time", { datetime: access.at, text: when(access.at, true) })),
      element("td", { class: "parts", text: partNames(access.parts) }),
      element("td", { text: access.purpose_name }),
      element("td", { class: access.outcome === "disclosed" ? "given" : "refused",
                      text: t("outcomes")[access.outcome] || access.outcome }))),
    "access-table"));
}

function chosenPartner() {
  return state.shares.partners.find((partner) => partner.partner_id === $("#share-partner").value);
}

function renderShareForm() {
  const { partners, parts, max_days: maxDays } = state.shares;
  const select = $("#share-partner"), kept = select.value;
  select.replaceChildren(...partners.map((partner) =>
    element("option", { value: partner.partner_id, text: `${partner.name} (${partner.kind_name})` })));
  if (partners.some((partner) => partner.partner_id === kept)) select.value = kept;
  const checked = new Set([...document.querySelectorAll("#share-parts input:checked")].map((box) => box.value));
  $("#share-parts").replaceChildren(element("legend", { text: t("shareParts") }), ...parts.map((part) =>
    element("label", { class: "choice" },
      element("input", { type: "checkbox", name: "part", value: part.part, "aria-describedby": `part-${part.part}` }),
      ` ${part.name}`, element("span", { class: "help", id: `part-${part.part}`, text: ` — ${part.contains}` }))));
  for (const box of document.querySelectorAll("#share-parts input")) box.checked = checked.has(box.value);
  $("#share-days").max = String(maxDays);
  $("#share-days-help").textContent = t("daysHelp")(maxDays);
  updateShareForm();
}

// What the form asks depends on the partner (its purposes, a vacancy for an employer) and on the parts chosen.
function updateShareForm() {
  const partner = chosenPartner();
  if (!partner) return;
  $("#share-partner-help").textContent = `${partner.kind_name}: ${partner.kind_description}`;
  const purpose = $("#share-purpose"), kept = purpose.value;
  purpose.replaceChildren(...partner.purposes.map((choice) => element("option", { value: choice.purpose, text: choice.name })));
  if (partner.purposes.some((choice) => choice.purpose === kept)) purpose.value = kept;
  const employer = partner.kind === "employer";
  $("#share-vacancy-field").hidden = !employer;
  if (employer) loadVacancies();
  $("#share-contact").hidden = !$("#share-parts input[value=contact_wish]")?.checked;
  const pseudonymised = $("#share-pseudonymised").checked, channel = $("#contact-channel");
  for (const option of channel.options) option.disabled = pseudonymised && option.value !== "via_service";
  if (pseudonymised) channel.value = "via_service";
  $("label[for=contact-name]").hidden = $("#contact-name").hidden = pseudonymised;
  const noAddress = channel.value === "via_service";
  $("label[for=contact-address]").hidden = $("#contact-address").hidden = noAddress;
}

async function loadVacancies() {
  const select = $("#share-vacancy");
  try {
    if (!state.lists.jobs) {
      state.lists.jobs = await api("/suggestions", { method: "POST",
        body: { kind: "jobs", citizen_id: state.citizenId, language: state.language, k: LIST_LENGTH } });
    }
  } catch { state.lists.jobs = null; }
  const jobs = (state.lists.jobs && state.lists.jobs.suggestions) || [];
  const kept = select.value;
  select.replaceChildren(...jobs.map((item) => element("option", { value: item.item_id, text: `${item.rank}. ${item.title}` })));
  if (jobs.some((item) => item.item_id === kept)) select.value = kept;
  $("#share-vacancy-help").textContent = jobs.length ? t("shareVacancyHelp") : t("noVacancies");
}

async function loadShares() {
  const section = $("#sharing");
  try {
    state.shares = await api(`/me/shares?language=${state.language}`);
  } catch (error) {
    if (error.status === 401) return signedOut();
    section.hidden = true;  // a service without sharing
    return;
  }
  section.hidden = false;
  renderGrants(state.shares.grants);
  renderAccesses(state.shares.accesses);
  renderShareForm();
}

function shareProblem(error) {
  const out = $("#share-error");
  out.hidden = false;
  out.dataset.code = error.code || "";
  out.textContent = (error.code && t("shareErrors")[error.code]) || error.message;
}

async function share(event) {
  event.preventDefault();
  $("#share-error").hidden = true; $("#share-done").hidden = true;
  const partner = chosenPartner();
  const parts = [...document.querySelectorAll("#share-parts input:checked")].map((box) => box.value);
  if (!parts.length) return shareProblem({ code: "no_parts" });
  // A field the API does not need is left out, never sent as null (the API refuses null).
  const body = { partner_id: partner.partner_id, parts, purpose: $("#share-purpose").value,
                 days: Number($("#share-days").value), pseudonymised: $("#share-pseudonymised").checked };
  if (partner.kind === "employer" && $("#share-vacancy").value) body.vacancy_id = Number($("#share-vacancy").value);
  const purposeText = $("#share-purpose-text").value.trim();
  if (purposeText) body.purpose_text = purposeText;
  if (parts.includes("contact_wish")) {
    const channel = $("#contact-channel").value;
    body.contact = { channel, note: $("#contact-note").value.trim() };
    const name = $("#contact-name").value.trim(), address = $("#contact-address").value.trim();
    if (!body.pseudonymised && name) body.contact.name = name;
    if (channel !== "via_service" && address) body.contact.address = address;
  }
  try {
    await api("/me/shares", { method: "POST", body });
  } catch (error) {
    if (error.status === 401) return signedOut();
    return shareProblem(error);
  }
  for (const box of document.querySelectorAll("#share-parts input")) box.checked = false;
  $("#share-purpose-text").value = "";
  await loadShares();
  const done = $("#share-done");
  done.hidden = false; done.textContent = t("shared")(partner.name);
}

async function revokeShare(button) {
  try {
    await api(`/me/shares/${encodeURIComponent(button.dataset.grant)}`, { method: "DELETE" });
  } catch (error) {
    if (error.status === 401) return signedOut();
    $("#status").textContent = error.message;
    return;
  }
  await loadShares();
  $("#status").textContent = t("revokedDone")(button.dataset.partnerName);
}

// -- suggestions --------------------------------------------------------------------------------------------

function number(value) { return (value >= 0 ? "+" : "−") + Math.abs(value).toFixed(2); }

function chart(parts, testid) {
  const scale = Math.max(...parts.map((part) => Math.abs(part.contribution)), 1e-9);
  return element("div", { class: "chart", "data-testid": testid }, parts.map((part) => {
    const width = `${(50 * Math.abs(part.contribution)) / scale}%`;
    return element("div", { class: "bar-row", "data-feature": part.feature, "data-contribution": String(part.contribution) },
      element("span", { text: part.sentence }),
      element("span", { class: "bar-track", "aria-hidden": "true" },
        element("span", { class: `bar ${part.contribution >= 0 ? "up" : "down"}`, style: `width:${width}` })),
      element("span", { class: "value", text: number(part.contribution) }));
  }));
}

function renderSuggestion(item) {
  const badge = item.readiness ? element("span", { class: `badge ${item.readiness}`, text: t(item.readiness) })
                               : element("span", { class: "badge none", text: t("general") });
  const labels = (competencies) => competencies.length
    ? element("ul", {}, competencies.map((c) => element("li", {}, label(c.label, c.label_lang)))) : element("p", { text: t("none") });
  const explanation = item.explanation;
  const parts = explanation.contributions;
  return element("li", { class: "suggestion", "data-item": item.item_id, "data-score": String(item.score) },
    element("h3", {}, `${item.rank}. `, item.title),
    element("p", {}, badge, element("span", { class: "help", text: `${t("score")} ${item.score.toFixed(2)}` }),
      element("button", { type: "button", class: "not-for-me", "aria-expanded": "false",
                          "aria-controls": `dismiss-${item.rank}`, text: t("notForMe") })),
    dismissForm(item),
    item.moved_reason ? element("p", { class: "moved", "data-testid": "moved", "data-guarantees": item.moved_by.join(" "),
      text: `⇡ ${item.moved_reason}`, title: t("movedHelp") }) : null,
    explanation.summary ? element("p", { class: "summary", text: explanation.summary }) : null,
    item.readiness ? element("div", { class: "columns" },
      element("div", {}, element("h4", { text: t("matched") }), labels(item.matched_competencies)),
      element("div", {}, element("h4", { text: t("missing") }), labels(item.missing_competencies)),
      element("div", {}, element("h4", { text: t("bridging") }), item.bridging_trainings.length
        ? element("ul", {}, item.bridging_trainings.map((b) =>
            element("li", { text: `${b.title} (${Math.round(b.duration_hours)} ${t("hours")})` })))
        : element("p", { text: t("none") })),
      item.barriers.length ? element("div", {}, element("h4", { text: t("barriers") }),
        element("ul", {}, item.barriers.map((b) => element("li", { text: b.detail })))) : null) : null,
    item.recourse ? element("p", { class: "item-recourse", "data-testid": "item-recourse" },
      `${t("learnToBeReady")}: `, ...item.recourse.learn.flatMap((c, index) => [index ? ", " : "", label(c.label, c.label_lang)]),
      item.recourse.trainings.length ? ` — ${item.recourse.trainings.map((lesson) =>
        `${lesson.title} (${Math.round(lesson.duration_hours)} ${t("hours")})`).join(", ")}` : "",
      item.recourse.untaught.length ? ` (${t("untaught")}: ${item.recourse.untaught.map((c) => c.label).join(", ")})` : "")
      : null,
    parts.length ? element("h4", { text: t("why") }) : null,
    parts.length ? chart(parts.slice(0, BARS), "explanation") : null,
    parts.length ? element("details", {}, element("summary", { text: t("allFactors") }),
      element("p", { class: "help", text: `${t("base")}: ${explanation.base_value.toFixed(3)}` }),
      chart(parts, "all-factors")) : null);
}

// "Niet voor mij, omdat…": a reason (required) and a note (optional), inside the card it is about.
function dismissForm(item) {
  const id = `dismiss-${item.rank}`;
  return element("form", { class: "dismiss", id, "data-item": item.item_id, "data-title": item.title, hidden: "" },
    element("fieldset", {}, element("legend", { text: t("dismissQuestion") }),
      Object.entries(t("reasons")).map(([reason, text]) => element("label", { class: "choice" },
        element("input", { type: "radio", name: `${id}-reason`, value: reason }), ` ${text}`))),
    element("label", { for: `${id}-note`, text: t("noteLabel") }),
    element("textarea", { id: `${id}-note`, name: "note", maxlength: "500", rows: "2", "aria-describedby": `${id}-help` }),
    element("p", { id: `${id}-help`, class: "help", text: t("noteHelp") }),
    element("button", { type: "submit", text: t("dismissButton") }),
    element("button", { type: "button", class: "cancel", text: t("cancel") }),
    element("p", { class: "error", role: "alert", hidden: "" }));
}

function toggleDismiss(button, open) {
  const form = document.getElementById(button.getAttribute("aria-controls"));
  form.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  if (open) form.querySelector("input[type=radio]").focus(); else button.focus();
}

async function dismiss(form) {
  const reason = form.querySelector("input[type=radio]:checked");
  const problem = form.querySelector(".error");
  if (!reason) { problem.hidden = false; problem.textContent = t("chooseReason"); return; }
  const note = form.querySelector("textarea").value.trim();
  const kind = state.kind;
  const body = { kind, item_id: form.dataset.item, reason: reason.value, language: state.language };
  if (note) body.note = note;
  try {
    await api("/me/feedback", { method: "POST", body });
  } catch (error) {
    if (error.status === 401) return signedOut();
    problem.hidden = false; problem.textContent = error.message;
    return;
  }
  form.closest("li.suggestion").remove();  // it leaves the list at once; the list is then asked for again
  $("#status").textContent = t("dismissed")(form.dataset.title);
  delete state.lists[kind];
  await Promise.all([loadCareerData(), loadSuggestions()]);
  $("#status").textContent = t("dismissed")(form.dataset.title);
}

async function undoFeedback(button) {
  const { kind, item, title } = button.dataset;
  const query = new URLSearchParams({ kind, item_id: item, language: state.language });
  try {
    const result = await api(`/me/feedback?${query}`, { method: "DELETE" });
    renderFeedback(result.feedback);
  } catch (error) {
    if (error.status === 401) return signedOut();
    $("#status").textContent = error.message;
    return;
  }
  delete state.lists[kind];
  await loadSuggestions();
  $("#status").textContent = t("undone")(title);
}

function modelNotice(kind, response) {
  const served = state.metadata && state.metadata.models[kind];
  const assessment = served && served.assessment;
  const text = t("modelNotice")(response.model, assessment ? t("assessed")(assessment) : t("notAssessed"));
  return response.model.reranked ? `${text} ${t("reranked")(response.model.guarantees)}` : text;
}

function renderList(kind, response) {
  $("#model-notice").textContent = modelNotice(kind, response);
  const notice = $("#list-notice");
  notice.hidden = !response.notice; notice.textContent = response.notice || "";
  $("#suggestions").replaceChildren(...response.suggestions.map(renderSuggestion));
  const compare = $("#compare");
  compare.hidden = !response.personalised || response.suggestions.length < 2;
  $("#compare-result").replaceChildren();
  for (const [select, start] of [[$("#compare-a"), 0], [$("#compare-b"), 1]]) {
    select.replaceChildren(...response.suggestions.map((item) =>
      element("option", { value: item.item_id, text: `${item.rank}. ${item.title}` })));
    select.selectedIndex = Math.min(start, response.suggestions.length - 1);
  }
}

async function loadSuggestions() {
  const kind = state.kind;
  $("#status").textContent = t("loading");
  try {
    if (!state.lists[kind]) {
      state.lists[kind] = await api("/suggestions", { method: "POST",
        body: { kind, citizen_id: state.citizenId, language: state.language, k: LIST_LENGTH } });
    }
    if (kind === state.kind) renderList(kind, state.lists[kind]);
    $("#status").textContent = t("loaded");
  } catch (error) {
    if (error.status === 401) return signedOut();
    $("#model-notice").textContent = error.status === 503 ? t("unavailable") : "";
    $("#list-notice").hidden = false;
    $("#list-notice").textContent = error.message;
    $("#suggestions").replaceChildren();
    $("#compare").hidden = true;
    $("#status").textContent = "";
  }
}

function selectTab(tab, focus) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
  }
  $("#panel").setAttribute("aria-labelledby", tab.id);
  if (focus) tab.focus();
  state.kind = tab.dataset.kind;
  loadSuggestions();
}

async function compare(event) {
  event.preventDefault();
  const a = $("#compare-a").value, b = $("#compare-b").value;
  const out = $("#compare-result");
  if (a === b) return out.replaceChildren(element("p", { class: "error", text: t("compareSame") }));
  try {
    const result = await api("/compare", { method: "POST", body: { kind: state.kind, citizen_id: state.citizenId,
      language: state.language, item_a: a, item_b: b, k: LIST_LENGTH } });
    const parts = result.differences.map((d) => ({ feature: d.feature, contribution: d.difference, sentence: d.sentence }));
    out.replaceChildren(element("p", { class: "summary", text: result.summary }), chart(parts.slice(0, BARS), "comparison"));
  } catch (error) {
    out.replaceChildren(element("p", { class: "error", text: error.message }));
  }
}

async function setOptOut(event) {
  const box = event.target;
  box.disabled = true;
  try {
    const result = await api("/me/opt-out", { method: "PUT", body: { opted_out: box.checked } });
    box.checked = result.opted_out;
    state.lists = {};
    await Promise.all([loadSuggestions(), loadRecourse()]);
  } catch (error) {
    box.checked = !box.checked;
    $("#status").textContent = error.message;
  } finally {
    box.disabled = false;
  }
}

async function start() {
  $("#app").hidden = false; $("#login").hidden = true; $("#logout").hidden = false;
  try { state.metadata = await api("/metadata"); } catch { state.metadata = null; }
  await loadCareerData();  // the citizen id comes from here
  if (state.token && state.citizenId !== null) await Promise.all([loadSuggestions(), loadRecourse(), loadShares()]);
}

async function init() {
  state.language = localStorage.getItem("loopbaan-language") === "en" ? "en" : "nl";
  applyLanguage();
  for (const button of document.querySelectorAll(".language")) {
    button.addEventListener("click", () => switchLanguage(button.dataset.language));
  }
  $("#logout").addEventListener("click", logOut);
  $("#signin-button").addEventListener("click", async () => {
    try { await window.loopbaanSignIn.signIn(); } catch { signOut(t("signInUnavailable")); }
  });
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (signIn($("#token-input").value)) start(); else signOut(t("badToken"));
  });
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => selectTab(tab, false));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (event.key === "Home" || event.key === "End") {
        event.preventDefault(); selectTab(event.key === "Home" ? tabs[0] : tabs[tabs.length - 1], true);
      } else if (step) {
        event.preventDefault(); selectTab(tabs[(index + step + tabs.length) % tabs.length], true);
      }
    });
  });
  $("#compare-form").addEventListener("submit", compare);
  $("#opt-out").addEventListener("change", setOptOut);
  const search = $("#competency-search");
  search.addEventListener("input", () => {
    clearTimeout(state.search.timer);
    state.search.timer = setTimeout(searchCompetencies, SEARCH_DELAY_MS);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault(); moveHit(event.key === "ArrowDown" ? 1 : -1);
    } else if (event.key === "Escape") {
      showHits(null);
    }
  });
  $("#add-competency").addEventListener("submit", (event) => {
    event.preventDefault();
    const hit = state.search.hits && state.search.hits[state.search.active];
    if (hit) addCompetency(hit.id);
  });
  $("#competency-hits").addEventListener("click", (event) => {
    const option = event.target.closest("[role=option]");
    if (option) addCompetency(option.dataset.id);
  });
  $("#entries").addEventListener("click", (event) => {
    const button = event.target.closest("button.remove");
    if (button) removeEntry(button.dataset.entry);
  });
  $("#suggestions").addEventListener("click", (event) => {
    const open = event.target.closest("button.not-for-me");
    if (open) return toggleDismiss(open, open.getAttribute("aria-expanded") !== "true");
    const cancel = event.target.closest("form.dismiss button.cancel");
    if (cancel) toggleDismiss(cancel.closest("li.suggestion").querySelector("button.not-for-me"), false);
  });
  $("#suggestions").addEventListener("change", (event) => {
    const form = event.target.closest("form.dismiss");
    if (form) form.querySelector(".error").hidden = true;
  });
  $("#suggestions").addEventListener("submit", (event) => {
    event.preventDefault();
    dismiss(event.target.closest("form.dismiss"));
  });
  $("#share-form").addEventListener("submit", share);
  $("#share-form").addEventListener("change", (event) => { if (event.target.id !== "share-vacancy") updateShareForm(); });
  $("#grants").addEventListener("click", (event) => {
    const button = event.target.closest("button.revoke");
    if (button) revokeShare(button);
  });
  $("#accesses-refresh").addEventListener("click", loadShares);
  $("#kept-away").addEventListener("click", (event) => {
    const button = event.target.closest("button.undo");
    if (button) undoFeedback(button);
  });
  $("#recourse").addEventListener("click", (event) => {
    const button = event.target.closest("button.what-if");
    if (button) whatIf(button.dataset.competency);
  });
  // A token in the address's fragment (never sent to the server) signs in once, then leaves the address bar.
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromLink) history.replaceState(null, "", location.pathname);
  state.signIn = await signInMode();
  if (state.signIn === "provider") {
    const { error } = await window.loopbaanSignIn.ready;
    state.token = window.loopbaanSignIn.accessToken();
    if (state.token) start(); else signOut(error ? t("signInFailed")(error) : null);
  } else if (state.signIn === "code") {
    const token = fromLink || sessionStorage.getItem("loopbaan-token");
    if (token && signIn(token)) start(); else signOut();
  } else {
    signOut(t("signInUnavailable"));
  }
}

document.addEventListener("DOMContentLoaded", init);
