"""The web page in headless Chromium: predict, validate, plot, history, docs."""

import time
from typing import Any

import pytest
from playwright.sync_api import Page, Request, expect

from local.twin import Stack
from tests.support.clients import https_client


def prediction_count(stack: Stack) -> int:
    return int(stack.postgres.psql("SELECT count(*) FROM predictions"))


def submit(page: Page, age: str, salary: str) -> None:
    page.fill("#age", age)
    page.fill("#salary", salary)
    page.click("button[type=submit]")


def test_predict_from_the_form(page: Page, stack: Stack, console_errors: list[str]) -> None:
    before = prediction_count(stack)
    submit(page, "60", "150000")
    expect(page.locator("#result-answer")).to_have_text("Will purchase")
    expect(page.locator("#result-detail")).to_contain_text("Probability of a purchase: 99.8 %")
    submit(page, "30", "87000")
    expect(page.locator("#result-answer")).to_have_text("Won't purchase")
    expect(page.locator("#result-detail")).to_contain_text("11.3 %")
    assert prediction_count(stack) == before + 2
    assert console_errors == []


def test_keyboard_only(page: Page) -> None:
    page.focus("#age")
    page.keyboard.press("Control+A")
    page.keyboard.type("45")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("120000")
    page.keyboard.press("Enter")
    expect(page.locator("#result-answer")).to_have_text("Will purchase")
    # The focus lands on the result (never dropped to <body> while the request runs).
    expect(page.locator("#result")).to_be_focused()


@pytest.mark.parametrize(
    ("field", "age", "salary", "message"),
    [
        ("age", "150", "50000", "Age must be between 0 and 120."),
        ("age", "", "50000", "Age is required and must be a number."),
        ("salary", "40", "-1", "Salary must be between 0 and 10,000,000."),
        ("salary", "40", "20000000", "Salary must be between 0 and 10,000,000."),
    ],
)
def test_bad_values_show_a_message_and_send_nothing(
    page: Page, stack: Stack, field: str, age: str, salary: str, message: str
) -> None:
    before = prediction_count(stack)
    submit(page, age, salary)
    expect(page.locator(f"#{field}-error")).to_have_text(message)
    expect(page.locator(f"#{field}")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#result")).to_be_hidden()
    assert prediction_count(stack) == before


def test_accuracy_and_confusion_matrix(page: Page) -> None:
    expect(page.locator("#accuracy-summary")).to_contain_text("accuracy 89.0 %")
    cells = [page.text_content(f"#cm-{i}{j}") for i in (0, 1) for j in (0, 1)]
    assert cells == ["65", "3", "8", "24"]


def test_the_log_asks_for_the_token_only_there(page: Page, stack: Stack,
                                                console_errors: list[str]) -> None:
    expect(page.locator("#history-status")).to_contain_text("Enter the API token")
    expect(page.locator("#history tbody tr")).to_have_count(0)
    page.fill("#api-token", "not-the-token")
    page.click("#token-form button")
    expect(page.locator("#history-status")).to_contain_text("refused")
    page.fill("#api-token", stack.env["API_TOKEN"])
    page.click("#token-form button")
    expect(page.locator("#history-status")).to_contain_text("newest first")
    expect(page.locator("#history tbody tr").first).to_be_visible()
    # The refused attempt is the only failed request (Chromium logs each one).
    assert len(console_errors) == 1 and "401" in console_errors[0]


def show_the_log(page: Page, stack: Stack) -> None:
    page.fill("#api-token", stack.env["API_TOKEN"])
    page.click("#token-form button")


def test_history_gains_a_row(page: Page, stack: Stack) -> None:
    show_the_log(page, stack)
    rows = page.locator("#history tbody tr")
    expect(rows.first).to_be_visible()
    first_before = rows.first.text_content() if rows.count() else ""
    submit(page, "37", "61000")
    expect(page.locator("#result")).to_be_visible()
    expect(rows.first).not_to_have_text(first_before or "-")
    detail = page.text_content("#result-detail") or ""
    prediction_id = detail.split("#")[-1].rstrip(")")
    expect(rows.first.locator("td").first).to_have_text(prediction_id)
    expect(rows.first).to_contain_text("37")


def region_class(page: Page, panel: int, age: float, salary: float) -> bool:
    """Which region the page painted at (age, salary) in a panel: True for 'buys'."""
    rgb: list[int] = page.evaluate(
        """([panel, age, salary]) => {
            const plot = window.plots[panel];
            const {x, y} = plot.toPixel(age, salary);  // CSS pixels
            const pixel = plot.regions.getContext('2d').getImageData(
                Math.floor(x * plot.ratio), Math.floor(y * plot.ratio), 1, 1).data;
            return Array.from(pixel).slice(0, 3);
        }""",
        [panel, age, salary],
    )
    assert rgb in ([253, 231, 200], [219, 232, 245]), rgb
    return rgb == [253, 231, 200]


def regions_agree_with_predict(page: Page, stack: Stack) -> int:
    """Each panel's painted regions agree with /predict on both sides of its boundary line,
    which the page takes from /model; returns how many points were checked."""
    with https_client(stack) as client:
        model: dict[str, Any] = client.get("/model").json()
        checked = 0
        for index, panel in enumerate(model["panels"]):
            line = panel["boundary"]
            for age in (30, 34, 38, 42, 46, 50, 54):
                for offset in (-12000, 12000):
                    salary = line["intercept"] + line["slope"] * age + offset
                    if not 20000 <= salary <= 145000:
                        continue
                    body = {"age": age, "salary": salary, **panel["given"]}
                    served = client.post("/predict", json=body).json()
                    assert region_class(page, index, age, salary) is served["purchased"], body
                    checked += 1
    return checked


def test_plot_is_drawn_from_the_served_model(page: Page, stack: Stack) -> None:
    # One panel, regions and overlay, each canvas as many pixels as its box shows.
    sizes = page.evaluate(
        """() => Array.from(document.querySelectorAll('#plots canvas'), c => [
            c.width, c.height, Math.round(c.getBoundingClientRect().width * devicePixelRatio),
            Math.round(c.getBoundingClientRect().height * devicePixelRatio)])""")
    assert len(sizes) == 2 and sizes[0] == sizes[1], sizes
    width, height, box_width, box_height = sizes[0]
    assert (width, height) == (box_width, box_height) and 300 < width <= 520 * 2
    assert abs(height / width - 380 / 520) < 0.01
    assert page.locator("#plots figcaption").count() == 0
    colours = page.evaluate(
        """() => { const c = window.plot.overlay;
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   const seen = new Set();
                   for (let i = 0; i < d.length; i += 4) seen.add(d.slice(i, i + 4).join());
                   return seen.size; }"""
    )
    assert colours > 10
    assert regions_agree_with_predict(page, stack) >= 8


def test_confusion_matrix_is_a_coloured_grid(page: Page) -> None:
    colours = [page.eval_on_selector(f"#cm-{i}{j}", "c => getComputedStyle(c).backgroundColor")
               for i in (0, 1) for j in (0, 1)]
    assert len(set(colours)) == 4, colours  # 65, 3, 8 and 24 people: four shades
    assert colours[0] != "rgba(0, 0, 0, 0)"


def test_gender_is_optional_for_this_version_and_logged(page: Page, stack: Stack) -> None:
    expect(page.locator("#gender option")).to_have_text(["Not given", "Female", "Male"])
    show_the_log(page, stack)
    page.select_option("#gender", "Female")
    submit(page, "37", "61000")
    expect(page.locator("#result")).to_be_visible()
    assert stack.postgres.psql("SELECT gender FROM predictions ORDER BY id DESC LIMIT 1") == \
        "Female"
    expect(page.locator("#history tbody tr").first).to_contain_text("Female")


def requests_elsewhere(page: Page, origin: str) -> list[str]:
    """Filled as the page loads: every web address it requests outside `origin` (a CDN, a
    font), whether or not the request could succeed."""
    outside: list[str] = []

    def record(request: Request) -> None:
        if request.url.startswith(("http:", "https:")) and not request.url.startswith(origin):
            outside.append(request.url)

    page.on("request", record)
    return outside


# ReDoc's bundle asks its maker's CDN for a logo; the site's Content-Security-Policy
# (img-src 'self' data:) blocks it in the browser, so it never leaves, and no logo shows.
BLOCKED_BY_CSP = {"/docs": [], "/redoc": ["https://cdn.redoc.ly/redoc/logo-mini.svg"]}


@pytest.mark.parametrize(("path", "title"), [
    ("/docs", ".swagger-ui .info .title"), ("/redoc", ".api-info h1"),
], ids=["docs", "redoc"])
def test_docs_render_offline(page: Page, stack: Stack, console_errors: list[str], path: str,
                             title: str) -> None:
    outside = requests_elsewhere(page, f"{stack.https_url}/")
    page.goto(f"{stack.https_url}{path}")
    page.wait_for_load_state("networkidle")
    assert [url for url in outside if url not in BLOCKED_BY_CSP[path]] == []  # its scripts
    expect(page.locator(title)).to_contain_text("purchase predictor")
    # ReDoc asks for its logo only after a second render: wait for that request's refusal,
    # not for a quiet network, which may come before it.
    refused = [f"request failed: GET {url} csp" for url in BLOCKED_BY_CSP[path]]
    deadline = time.monotonic() + 10
    while not set(refused) <= set(console_errors) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert outside == BLOCKED_BY_CSP[path]
    assert set(refused) <= set(console_errors)  # blocked by the browser, never sent
    assert [e for e in console_errors if not any(url in e for url in BLOCKED_BY_CSP[path])] == []


def test_a_gender_version_gets_a_required_field_and_a_panel_per_gender(
    gender_page: Page, gender_stack: Stack, console_errors: list[str]
) -> None:
    page = gender_page
    # A required choice starts empty: nothing is guessed for an untouched form.
    expect(page.locator("#gender option")).to_have_text(["Choose…", "Female", "Male"])
    expect(page.locator("#gender")).to_have_value("")
    expect(page.locator("label[for=gender]")).to_contain_text("the served model uses it")
    expect(page.locator("#plots figcaption")).to_have_text(["Gender: Female", "Gender: Male"])
    expect(page.locator("#accuracy-summary")).to_contain_text("inputs: age, salary, gender")
    assert regions_agree_with_predict(page, gender_stack) >= 16
    before = prediction_count(gender_stack)
    show_the_log(page, gender_stack)
    page.select_option("#gender", "Male")
    submit(page, "45", "120000")
    expect(page.locator("#result-detail")).to_contain_text("model version 2")
    assert prediction_count(gender_stack) == before + 1
    expect(page.locator("#history tbody tr").first).to_contain_text("Male")
    # The query is marked on the Male panel only.
    marked = page.evaluate("() => window.plots.map(p => p.query !== null)")
    assert marked == [False, True]
    assert console_errors == []


def test_versions_table_and_recording_an_outcome(page: Page, stack: Stack) -> None:
    expect(page.locator("#versions-summary")).to_have_text("Version 1 is served.")
    expect(page.locator("#versions tbody tr.served td").first).to_have_text("1")
    expect(page.locator("#outcome-form")).to_be_hidden()
    submit(page, "52", "43000")
    expect(page.locator("#outcome-form")).to_be_visible()
    page.check("input[name=outcome][value=true]")
    page.click("#outcome-form button")
    expect(page.locator("#outcome-message")).to_have_text(
        "The API token is needed to record an outcome.")
    page.fill("#token", "not-the-token")
    page.click("#outcome-form button")
    expect(page.locator("#outcome-message")).to_have_text("The API token was not accepted.")
    token = stack.api.env["API_TOKEN"]
    page.fill("#token", token)
    page.click("#outcome-form button")
    expect(page.locator("#outcome-message")).to_contain_text("Recorded: prediction #")
    expect(page.locator("#accuracy-summary")).to_contain_text("recorded outcomes.")
    expect(page.locator("#versions tbody tr.served")).not_to_contain_text("\u2013 (0)")
    page.click("#outcome-form button")
    expect(page.locator("#outcome-message")).to_have_text(
        "This prediction already has an outcome.")
    # The token lives in the input only: nothing stored, nothing in the page's code.
    stored = page.evaluate(
        "() => JSON.stringify([localStorage, sessionStorage, document.cookie])")
    assert token not in stored
    assert token not in page.content().replace(page.input_value("#token"), "")
    script = page.get_attribute("script[src]", "src")
    assert script is not None
    with https_client(stack) as client:
        assert token not in client.get(script).text
