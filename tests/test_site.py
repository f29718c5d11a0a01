"""The site "Mijn loopbaan" in headless Chromium against the real service: sign-in, career data, the three
tabs with explanations that match the API (and, on the re-ranked careers list, the cards the fairness guarantee
moved up), "why A above B", the language switch, the opt-out switch, keyboard use of the tabs, and a screenshot."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest

from features.population import PopulationStore
from features.settings import Settings
from features.keys import signing_key as service_key
from serving.auth import mint_token
from tests.signin_fixtures import SignedInService

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KINDS = ("jobs", "trainings", "careers")
CHROMIUM = os.environ.get("LOOPBAAN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a closed network (no background calls to Google's hosts) and a root user in a container.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium where it may (root and apt); "
                    "elsewhere install it or set LOOPBAAN_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def citizen(service_home: Path, service: httpx.Client) -> int:
    """A citizen whose careers list (re-ranked by the mitigated champion) has cards the guarantee moved up."""
    citizens = PopulationStore(service_home / "data" / "population").table("citizens")
    key = service_key(Settings(home=service_home))
    for candidate in citizens.loc[~citizens["ai_opt_out"], "citizen_id"].iloc[7:40]:
        token = mint_token(citizen_id=int(candidate), key=key)
        if any(item["moved_by"] for item in _api(service, token, int(candidate), "careers", "nl")["suggestions"]):
            return int(candidate)
    pytest.fail("no citizen's careers list has a card moved by the guarantee")


@pytest.fixture(scope="module")
def token(service_home: Path, citizen: int) -> str:
    return mint_token(citizen_id=citizen, key=service_key(Settings(home=service_home)))


def _open_site(browser, url: str, *, height: int):
    """A new browser context on ``url`` (Dutch, 1200 px wide): its context, page, and the page errors it collects."""
    context = browser.new_context(viewport={"width": 1200, "height": height}, locale="nl-BE")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    return context, page, errors


@pytest.fixture
def page(browser, service: httpx.Client, token: str):
    context, page, errors = _open_site(browser, f"{service.base_url}/site/#token={token}", height=1600)
    page.wait_for_selector("#suggestions li.suggestion", timeout=60_000)
    yield page
    context.close()
    assert not errors, errors


def _api(service: httpx.Client, token: str, citizen: int, kind: str, language: str) -> dict:
    response = service.post("/suggestions", json={"kind": kind, "citizen_id": citizen, "language": language, "k": 10},
                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()


def _show(page, kind: str) -> None:
    page.click(f"#tab-{kind}")
    page.wait_for_function("kind => document.querySelector('#model-notice').textContent.includes('loopbaan-' + kind)",
                           arg=kind, timeout=60_000)


def _shown(page) -> list[dict]:
    """Every suggestion card as the page shows it: item, title, badge and the explanation's bars."""
    return page.eval_on_selector_all("#suggestions li.suggestion", """cards => cards.map(card => ({
        item: card.dataset.item,
        title: card.querySelector('h3').textContent,
        badge: card.querySelector('.badge').textContent,
        summary: (card.querySelector('.summary') || {}).textContent,
        moved: (card.querySelector('[data-testid=moved]') || {}).textContent || null,
        bars: [...card.querySelectorAll('[data-testid=explanation] .bar-row')].map(row => ({
            feature: row.dataset.feature, contribution: Number(row.dataset.contribution),
            sentence: row.firstChild.textContent})),
        all: card.querySelectorAll('[data-testid=all-factors] .bar-row').length}))""")


def _assert_matches(shown: list[dict], expected: dict) -> None:
    suggestions = expected["suggestions"]
    assert [card["item"] for card in shown] == [item["item_id"] for item in suggestions]
    for card, item in zip(shown, suggestions, strict=True):
        assert card["title"] == f"{item['rank']}. {item['title']}"
        assert card["summary"] == item["explanation"]["summary"]
        assert card["moved"] == (f"⇡ {item['moved_reason']}" if item["moved_reason"] else None)
        parts = item["explanation"]["contributions"]
        assert card["all"] == len(parts)
        assert [bar["feature"] for bar in card["bars"]] == [part["feature"] for part in parts[:6]]
        assert [bar["sentence"] for bar in card["bars"]] == [part["sentence"] for part in parts[:6]]
        for bar, part in zip(card["bars"], parts, strict=False):
            assert bar["contribution"] == pytest.approx(part["contribution"], abs=1e-12)


def test_each_tab_shows_the_api_explanations_in_both_languages(page, service, token, citizen, tmp_path) -> None:
    for kind in KINDS:
        _show(page, kind)
        _assert_matches(_shown(page), _api(service, token, citizen, kind, "nl"))
        badges = {card["badge"] for card in _shown(page)}
        assert badges <= {"Klaar om te starten", "Overbrugbaar met opleiding", "Verder weg"}
        moved = [card["moved"] for card in _shown(page) if card["moved"]]
        assert bool(moved) is (kind == "careers")  # only the mitigated champion moves cards
        assert all(text.startswith("⇡ opgeschoven") for text in moved)
    career = service.get("/me", params={"language": "nl"}, headers={"Authorization": f"Bearer {token}"}).json()
    assert page.locator("[data-testid=competencies] li").count() == len(career["competencies"]) > 0
    notice = page.text_content("#model-notice")
    assert "versie" in notice and "fairness" in notice

    page.click("button[data-language=en]")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_function("document.querySelector('#tab-jobs').textContent === 'Vacancies'")
    page.wait_for_function("document.querySelector('#status').textContent === 'Suggestions loaded.'")
    _assert_matches(_shown(page), _api(service, token, citizen, "careers", "en"))
    assert "version" in page.text_content("#model-notice")
    screenshot = Path(os.environ.get("LOOPBAAN_SCREENSHOTS", tmp_path)) / "site.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.click("#tab-jobs")
    page.wait_for_function("document.querySelector('#model-notice').textContent.includes('loopbaan-jobs')")
    page.screenshot(path=str(screenshot), full_page=False)
    assert screenshot.stat().st_size > 20_000


def test_why_a_above_b_matches_the_api(page, service, token, citizen) -> None:
    _show(page, "jobs")
    shown = _shown(page)
    page.select_option("#compare-a", shown[0]["item"])
    page.select_option("#compare-b", shown[2]["item"])
    page.click("#compare-form button[type=submit]")
    page.wait_for_selector("#compare-result .summary")
    expected = service.post("/compare", json={"kind": "jobs", "citizen_id": citizen, "language": "nl",
                                              "item_a": shown[0]["item"], "item_b": shown[2]["item"]},
                            headers={"Authorization": f"Bearer {token}"}).json()
    assert page.text_content("#compare-result .summary") == expected["summary"]
    bars = page.eval_on_selector_all("[data-testid=comparison] .bar-row", "rows => rows.map(r => r.dataset.feature)")
    assert bars == [part["feature"] for part in expected["differences"][:6]]


def test_tabs_work_from_the_keyboard(page) -> None:
    page.focus("#tab-jobs")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.activeElement.id === 'tab-trainings'")
    assert page.get_attribute("#tab-trainings", "aria-selected") == "true"
    assert page.get_attribute("#tab-jobs", "tabindex") == "-1"
    page.keyboard.press("End")
    page.wait_for_function("document.activeElement.id === 'tab-careers'")
    # `labels` alone came back empty once for radios wrapped in a <label> built before insertion (a Chromium quirk):
    # the wrapping label and a label[for] count too, so only an input with no label at all fails.
    unlabelled = page.eval_on_selector_all("input, select", """nodes => nodes.filter(n => !(n.labels.length
        || n.closest("label") || (n.id && document.querySelector(`label[for="${CSS.escape(n.id)}"]`))))
        .map(n => n.id || n.name)""")
    assert unlabelled == []


def test_the_opt_out_switch_gives_a_general_list_and_back(page, service, token, citizen) -> None:
    _show(page, "jobs")
    page.check("#opt-out")
    page.wait_for_selector("#list-notice:not([hidden])")
    assert "geen AI-suggesties" in page.text_content("#list-notice")
    assert {card["badge"] for card in _shown(page)} == {"Algemeen"}
    assert _api(service, token, citizen, "jobs", "nl")["personalised"] is False
    page.uncheck("#opt-out")
    page.wait_for_selector("#list-notice", state="hidden")
    assert _api(service, token, citizen, "jobs", "nl")["personalised"] is True


def test_a_bad_token_is_refused_with_a_message(browser, service) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{service.base_url}/site/#token=lb1.5.99999999999.forged")
    page.wait_for_selector("#login-error:not([hidden])", timeout=30_000)
    assert "werkt niet" in page.text_content("#login-error")
    assert page.is_visible("#token-input")
    assert service.get("/auth/config").status_code == 404
    assert "alleen om te testen" in page.text_content("#login-form"), "without a provider the code form says what it is"
    assert page.is_hidden("#signin-button")
    context.close()


def test_the_citizen_endpoints_need_the_token_and_a_well_formed_body(service, token) -> None:
    refused = service.get("/me")
    assert refused.status_code == 401 and "token" in refused.json()["error"]
    assert service.put("/me/opt-out", json={"opted_out": True}).status_code == 401
    headers = {"Authorization": f"Bearer {token}"}
    for body in ({"opted_out": "maybe"}, {"opted_out": 0}, {"opted_out": True, "extra": 1}, {}):
        refused = service.put("/me/opt-out", json=body, headers=headers)
        assert refused.status_code == 400 and refused.json()["details"], body
    assert service.get("/me", params={"language": "fr"}, headers=headers).status_code == 400


def _cards(page) -> list[tuple[str, str]]:
    return page.eval_on_selector_all("#suggestions li.suggestion", """cards => cards.map(card =>
        [card.dataset.item, card.querySelector('.badge').textContent])""")


def _expected_cards(service: httpx.Client, token: str, citizen: int) -> list[tuple[str, str]]:
    badges = {"ready": "Klaar om te starten", "bridgeable": "Overbrugbaar met opleiding", "stretch": "Verder weg"}
    return [[item["item_id"], badges[item["readiness"]]]
            for item in _api(service, token, citizen, "jobs", "nl")["suggestions"]]


@pytest.fixture(scope="module")
def learner(service_home: Path, service: httpx.Client) -> tuple[int, str, dict]:
    """A citizen (not one other tests edit) whose recourse panel names a competency that makes vacancies ready."""
    citizens = PopulationStore(service_home / "data" / "population").table("citizens")
    key = service_key(Settings(home=service_home))
    for candidate in citizens.loc[~citizens["ai_opt_out"], "citizen_id"].iloc[60:100]:
        token = mint_token(citizen_id=int(candidate), key=key)
        panel = service.get("/me/recourse", params={"kind": "jobs", "limit": 5},
                            headers={"Authorization": f"Bearer {token}"}).json()
        if any(unlock["items"] > 0 for unlock in panel["unlocks"]):
            return int(candidate), token, panel
    pytest.fail("no citizen's recourse panel opens up a vacancy")


def test_adding_a_competency_through_search_as_you_type_and_removing_it(browser, service, learner, tmp_path) -> None:
    citizen, token, panel = learner
    context, page, errors = _open_site(browser, f"{service.base_url}/site/#token={token}", height=1800)
    page.wait_for_selector("#suggestions li.suggestion", timeout=60_000)
    page.wait_for_selector("#recourse li[data-competency]", timeout=60_000)
    shown_panel = page.eval_on_selector_all("#recourse li[data-competency]", """rows => rows.map(row =>
        [row.dataset.competency, Number(row.dataset.items), row.querySelector('.summary').textContent])""")
    assert shown_panel == [[unlock["competency"]["id"], unlock["items"], unlock["summary"]]
                           for unlock in panel["unlocks"]], "the panel shows the API's figures"
    unlock = next(unlock for unlock in panel["unlocks"] if unlock["items"] > 0)
    before = _cards(page)
    assert before == _expected_cards(service, token, citizen)

    page.click(f"#recourse button.what-if[data-competency='{unlock['competency']['id']}']")
    page.wait_for_selector("#what-if:not([hidden])")
    assert json.loads(page.get_attribute("#what-if", "data-kinds"))["jobs"]["newly_ready"] == unlock["items"]
    screenshots = Path(os.environ.get("LOOPBAAN_SCREENSHOTS", tmp_path))
    screenshots.mkdir(parents=True, exist_ok=True)
    page.locator("section[aria-labelledby=recourse-title]").screenshot(path=str(screenshots / "site-recourse.png"))

    page.type("#competency-search", unlock["competency"]["label"], delay=20)  # keystrokes: search as you type
    option = f"#competency-hits [role=option][data-id='{unlock['competency']['id']}']"
    page.wait_for_selector(option, timeout=30_000)
    page.click(option)
    page.wait_for_selector(f"#entries li[data-competency='{unlock['competency']['id']}']", timeout=60_000)
    page.wait_for_selector("#change:not([hidden])")
    kinds = json.loads(page.get_attribute("#change", "data-kinds"))
    assert kinds["jobs"]["newly_ready"] == unlock["items"], "the change is exactly what the panel promised"
    assert f"{unlock['items']} vacature" in page.text_content("#change")
    after = _cards(page)
    assert after == _expected_cards(service, token, citizen), "the new badges are the API's"
    page.wait_for_function("id => !document.querySelector(`#recourse li[data-competency='${id}']`)",
                           arg=unlock["competency"]["id"])
    page.locator("section.own").screenshot(path=str(screenshots / "site-add-competency.png"))

    page.click(f"#entries li[data-competency='{unlock['competency']['id']}'] button.remove")
    page.wait_for_selector(f"#entries li[data-competency='{unlock['competency']['id']}']", state="detached",
                           timeout=60_000)
    page.wait_for_function("document.querySelector('#change').textContent.includes('niet meer')")
    assert json.loads(page.get_attribute("#change", "data-kinds"))["jobs"]["no_longer_ready"] == unlock["items"]
    assert _cards(page) == before, "removing it restores the previous list"
    assert _expected_cards(service, token, citizen) == before
    context.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def dismisser(service_home: Path) -> tuple[int, str]:
    """A citizen no other test edits, with AI suggestions on."""
    citizens = PopulationStore(service_home / "data" / "population").table("citizens")
    candidate = int(citizens.loc[~citizens["ai_opt_out"], "citizen_id"].iloc[110])
    return candidate, mint_token(citizen_id=candidate, key=service_key(Settings(home=service_home)))


def test_not_for_me_keeps_an_item_away_until_undone(browser, service, dismisser, tmp_path) -> None:
    citizen, token = dismisser
    headers = {"Authorization": f"Bearer {token}"}
    context, page, errors = _open_site(browser, f"{service.base_url}/site/#token={token}", height=1800)
    page.wait_for_selector("#suggestions li.suggestion", timeout=60_000)
    before = _cards(page)
    assert before == _expected_cards(service, token, citizen)
    item, _ = before[1]
    card = f"#suggestions li.suggestion[data-item='{item}']"

    page.click(f"{card} button.not-for-me")
    assert page.get_attribute(f"{card} button.not-for-me", "aria-expanded") == "true"
    reasons = page.eval_on_selector_all(f"{card} form.dismiss label.choice", "labels => labels.map(l => l.textContent.trim())")
    assert reasons == ["Te ver weg", "Interesseert me niet", "Al eens geprobeerd",
                       "Ik kan niet aan een vereiste voldoen", "Een andere reden"]
    page.click(f"{card} form.dismiss button[type=submit]")  # no reason chosen: nothing is sent
    assert page.text_content(f"{card} form.dismiss .error") == "Kies een reden."
    assert service.get("/me", headers=headers).json()["feedback"] == []
    screenshots = Path(os.environ.get("LOOPBAAN_SCREENSHOTS", tmp_path))
    screenshots.mkdir(parents=True, exist_ok=True)
    page.check(f"{card} input[value=too_far]")
    assert page.is_hidden(f"{card} form.dismiss .error"), "choosing a reason clears the message"
    page.fill(f"{card} textarea", "drie uur pendelen")
    page.locator(card).screenshot(path=str(screenshots / "site-not-for-me.png"))
    page.click(f"{card} form.dismiss button[type=submit]")
    page.wait_for_selector(card, state="detached", timeout=10_000)
    page.wait_for_selector(f"#kept-away li[data-item='{item}']", timeout=60_000)
    page.wait_for_function("document.querySelector('#status').textContent.includes('niet meer getoond')")

    stored = service.get("/me", headers=headers).json()["feedback"]
    assert [(f["kind"], f["item_id"], f["reason"], f["note"]) for f in stored] == [
        ("jobs", item, "too_far", "drie uur pendelen")]
    kept = page.text_content(f"#kept-away li[data-item='{item}']")
    assert stored[0]["title"] in kept and "Te ver weg" in kept and "drie uur pendelen" in kept
    after = _cards(page)
    assert item not in [shown for shown, _ in after], "the item left the list"
    assert after == _expected_cards(service, token, citizen), "the page shows the API's next list"
    assert item not in [listed for listed, _ in _expected_cards(service, token, citizen)]

    page.click("button[data-language=en]")
    page.wait_for_function("document.querySelector('#kept-title').textContent === 'Not for me'")
    page.wait_for_selector(f"#kept-away li[data-item='{item}'] button.undo:text('Undo')")
    assert "Too far away" in page.text_content(f"#kept-away li[data-item='{item}']")
    page.click("button[data-language=nl]")
    page.wait_for_selector(f"#kept-away li[data-item='{item}'] button.undo:text('Ongedaan maken')")

    page.click(f"#kept-away li[data-item='{item}'] button.undo")
    page.wait_for_selector(f"#kept-away li[data-item='{item}']", state="detached", timeout=30_000)
    page.wait_for_selector(card, timeout=60_000)
    assert service.get("/me", headers=headers).json()["feedback"] == []
    assert _cards(page) == before == _expected_cards(service, token, citizen), "undo brings it back in its place"
    context.close()
    assert not errors, errors


# -- sign-in through the local OpenID provider, and sharing with partners ----------------------------------------

TRAINING_PROVIDER = "partner-opleiding-demo"


def _signed_in_page(browser, signin: SignedInService, login: dict):
    """A page signed in through the provider's own sign-in page (authorisation code + PKCE), its lists shown."""
    context, page, errors = _open_site(browser, signin.site_url, height=2400)
    page.wait_for_selector("#signin-button", state="visible", timeout=30_000)
    assert page.is_hidden("#login-form"), "with a provider there is no access-code form"
    page.click("#signin-button")
    page.wait_for_selector("input[name=login]", timeout=15_000)
    page.fill("input[name=login]", login["login"])
    page.fill("input[name=password]", login["password"])
    page.click("button[type=submit]")
    page.wait_for_selector("#suggestions li.suggestion", timeout=60_000)
    page.wait_for_selector("#sharing:not([hidden])", timeout=30_000)
    return context, page, errors


@pytest.mark.oidc
def test_a_citizen_signs_in_shares_with_a_partner_sees_the_access_and_revokes(browser, oidc_service,
                                                                             tmp_path) -> None:
    signin = oidc_service
    citizen = signin.linked[3]  # a citizen no other test signs in as
    login = signin.login(citizen)
    context, page, errors = _signed_in_page(browser, signin, login)
    token = page.evaluate("loopbaanSignIn.accessToken()")
    assert token and not token.startswith("lb1.")
    me = signin.client.get("/me", params={"language": "nl"}, headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["citizen_id"] == citizen, "the site is this citizen's own"
    assert page.locator("[data-testid=competencies] li").count() == len(me.json()["competencies"]) > 0
    expected = signin.client.post("/suggestions", headers={"Authorization": f"Bearer {token}"}, json={
        "kind": "jobs", "citizen_id": citizen, "language": "nl", "k": 10}).json()
    assert [item for item, _ in _cards(page)] == [item["item_id"] for item in expected["suggestions"]]
    assert page.text_content("#grants") == "Je deelt nog niets."

    partners = page.eval_on_selector_all("#share-partner option", "options => options.map(o => o.value)")
    assert TRAINING_PROVIDER in partners
    page.select_option("#share-partner", TRAINING_PROVIDER)
    purposes = page.eval_on_selector_all("#share-purpose option", "options => options.map(o => o.value)")
    assert purposes == ["training_enrolment", "recognition_of_competencies", "career_guidance"]
    assert page.is_hidden("#share-vacancy-field"), "a vacancy only for an employer"
    contains = page.text_content("#share-parts")
    assert "Competentieprofiel" in contains and "niet de werkgever" in contains, "each part says what it contains"

    page.check("#share-parts input[value=competency_profile]")
    page.check("#share-parts input[value=contact_wish]")
    page.wait_for_selector("#share-contact:not([hidden])")
    page.select_option("#contact-channel", "email")
    page.fill("#contact-address", "geen adres")
    page.click("#share-form button[type=submit]")
    page.wait_for_selector("#share-error:not([hidden])", timeout=30_000)
    assert page.get_attribute("#share-error", "data-code") == "bad_contact"
    assert "geldig e-mailadres" in page.text_content("#share-error"), "the API's refusal, next to the form"
    headers = {"Authorization": f"Bearer {token}"}
    assert signin.client.get("/me/shares", headers=headers).json()["grants"] == [], "nothing was granted"

    page.uncheck("#share-parts input[value=contact_wish]")
    page.check("#share-parts input[value=work_history]")
    page.select_option("#share-purpose", "career_guidance")
    page.fill("#share-days", "30")
    page.check("#share-pseudonymised")
    page.click("#share-form button[type=submit]")
    page.wait_for_selector("#grants tr[data-state=active]", timeout=30_000)
    assert page.is_hidden("#share-error")
    grant_id = page.get_attribute("#grants tr[data-state=active]", "data-grant")
    row = page.text_content(f"#grants tr[data-grant='{grant_id}']")
    assert "Demo-opleidingsverstrekker" in row and "Loopbaanbegeleiding" in row and "gepseudonimiseerd" in row
    assert "Competentieprofiel, Werkervaring" in row and "actief" in row

    partner = signin.partner_token(TRAINING_PROVIDER)
    shared = signin.client.get(f"/partner/profiles/{grant_id}", headers={"Authorization": f"Bearer {partner}"})
    assert shared.status_code == 200, shared.text
    profile = shared.json()
    assert set(profile["parts"]) == {"competency_profile", "work_history"}, "exactly the granted parts"
    assert profile["pseudonymised"] is True and str(citizen) not in json.dumps(profile)
    assert {c["id"] for c in profile["parts"]["competency_profile"]} == {c["id"] for c in me.json()["competencies"]}

    page.click("#accesses-refresh")
    page.wait_for_selector(f"#accesses tr[data-grant='{grant_id}'][data-outcome=disclosed]", timeout=30_000)
    access = page.text_content(f"#accesses tr[data-grant='{grant_id}']")
    assert "Demo-opleidingsverstrekker" in access and "Competentieprofiel, Werkervaring" in access
    assert "Loopbaanbegeleiding" in access and "gegeven" in access

    page.click(f"#grants tr[data-grant='{grant_id}'] button.revoke")
    page.wait_for_selector(f"#grants tr[data-grant='{grant_id}'][data-state=revoked]", timeout=30_000)
    assert page.locator(f"#grants tr[data-grant='{grant_id}'] button.revoke").count() == 0
    refused = signin.client.get(f"/partner/profiles/{grant_id}", headers={"Authorization": f"Bearer {partner}"})
    assert refused.status_code == 403, "the partner's next call after revoking is refused"
    page.click("#accesses-refresh")
    page.wait_for_selector(f"#accesses tr[data-grant='{grant_id}'][data-outcome=revoked]", timeout=30_000)
    outcomes = page.eval_on_selector_all("#accesses tr[data-grant]", "rows => rows.map(r => r.dataset.outcome)")
    assert outcomes == ["revoked", "disclosed"], "both accesses, newest first"

    page.click("button[data-language=en]")
    page.wait_for_function("document.querySelector('#shares-title').textContent === 'Sharing with partners'")
    page.wait_for_selector(f"#grants tr[data-grant='{grant_id}'] td.state:text('revoked')")
    screenshots = Path(os.environ.get("LOOPBAAN_SCREENSHOTS", tmp_path))
    page.click("button[data-language=nl]")
    page.wait_for_selector(f"#grants tr[data-grant='{grant_id}'] td.state:text('ingetrokken')")
    page.locator("#sharing").screenshot(path=str(screenshots / "site-sharing.png"))

    page.click("#logout")
    page.click("button[name=logout][value=yes]")  # the provider asks whether to end its session too
    page.wait_for_selector("#signin-button", state="visible", timeout=30_000)
    assert page.evaluate("loopbaanSignIn.accessToken()") is None and page.is_hidden("#app")
    context.close()
    assert not errors, errors


@pytest.mark.oidc
def test_a_wrong_login_stays_signed_out_with_a_clear_message(browser, oidc_service) -> None:
    signin = oidc_service
    context = browser.new_context(locale="nl-BE")
    page = context.new_page()
    page.goto(signin.site_url)
    page.click("#signin-button")
    page.wait_for_selector("input[name=login]", timeout=15_000)
    page.fill("input[name=login]", signin.login(signin.linked[4])["login"])
    page.fill("input[name=password]", "niet-het-wachtwoord")
    page.click("button[type=submit]")
    assert "Onbekende gebruikersnaam of fout wachtwoord" in page.text_content("[role=alert]")
    page.click("text=Annuleren")
    page.wait_for_selector("#login-error:not([hidden])", timeout=30_000)
    assert page.text_content("#login-error") == ("Je bent niet aangemeld: het aanmelden werd afgebroken of geweigerd. "
                                                 "Probeer het opnieuw.")
    assert page.is_hidden("#app") and page.is_visible("#signin-button")
    assert page.evaluate("loopbaanSignIn.accessToken()") is None
    assert signin.client.get("/me").status_code == 401
    context.close()
