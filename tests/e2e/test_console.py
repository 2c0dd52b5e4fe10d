"""The local console in a real browser: Debian's Chromium, headless, driven through chromedriver.

One console and one browser for the module, on the session's local cloud. Requests go in
through the local API as a user's would; what the console shows is then read from the page, and
every test ends by checking that the browser logged no error (a failed load, a blocked resource,
a script error).

`make browser` installs Chromium and chromedriver; AGENTHUB_CHROMIUM and AGENTHUB_CHROMEDRIVER
point at others. With AGENTHUB_CONSOLE_SCREENSHOT=<path> the run also saves a screenshot of a
request's page there (`make console-screenshot` writes docs/console.png).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from agenthub.client import HubClient
from agenthub.local.console import Console, start_console
from tests.e2e.conftest import Hub
from tests.e2e.test_customization import SFT_RECORD, customize, upload

CHROMIUM_FLAGS = (
    # What this machine needs (see the README): no sandbox as root, no GPU, and none of the
    # browser's own network traffic, which a closed network refuses.
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1400",
)
SCREENSHOT_SIZE = (1400, 2300)


def _binary(variable: str, name: str) -> str:
    found = os.environ.get(variable) or shutil.which(name)
    if not found:
        pytest.fail(
            f"the console's browser tests need {name}: run `make browser` (Debian's chromium and "
            f"chromium-driver packages), or set {variable} to its path"
        )
    return found


@pytest.fixture(scope="module")
def console(hub: Hub) -> Iterator[Console]:
    served = start_console(hub.cloud, port=0)
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("AGENTHUB_CHROMIUM", "chromium")
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # A driver path given outright: Selenium Manager (which downloads drivers) is never asked.
    driver = webdriver.Chrome(
        options=options, service=Service(_binary("AGENTHUB_CHROMEDRIVER", "chromedriver"))
    )
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(autouse=True)
def no_console_errors(browser: WebDriver) -> Iterator[None]:
    browser.get_log("browser")  # what an earlier test left is that test's to answer for
    yield
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], f"the browser logged errors: {errors}"


@dataclass
class Submitted:
    client: HubClient
    retried_then_caught: str
    succeeded: str
    customized: str
    model_name: str


@pytest.fixture(scope="module")
def submitted(hub: Hub) -> Submitted:
    """The module's requests, sent at once so their pipelines run side by side."""
    client = hub.client("console-tester")
    word = f"console-{uuid.uuid4().hex[:8]}"
    # The first model call is throttled (and retried), the retry is refused (and caught).
    hub.fault(operation="Converse", match=word, error="ThrottlingException", times=1)
    hub.fault(operation="Converse", match=word, error="ValidationException", times=1)
    failing = client.submit({"pipeline": "invoke", "input": {"prompt": f"{word}: hello"}})
    succeeding = client.submit({"pipeline": "invoke", "input": {"prompt": "hello, console"}})
    model_name = f"console-{uuid.uuid4().hex[:8]}"
    customized = customize(client, upload(client, [SFT_RECORD] * 8), model_name)
    assert failing.status == succeeding.status == 202
    return Submitted(
        client, failing.body["request_id"], succeeding.body["request_id"], customized, model_name
    )


def open_page(browser: WebDriver, console: Console, path: str) -> None:
    browser.get(console.url + path)


def follow(browser: WebDriver, element: WebElement) -> None:
    """Clicks a link or button and waits for the page it leads to (the old one goes stale)."""
    page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, 15).until(expected_conditions.staleness_of(page))


def node(browser: WebDriver, state: str, graph: int = 0) -> WebElement:
    return browser.find_element(By.CSS_SELECTOR, f'#graph-{graph} g.node[data-state="{state}"]')


def classes(element: WebElement) -> set[str]:
    return set((element.get_attribute("class") or "").split())


def test_every_page_renders(browser: WebDriver, console: Console, submitted: Submitted) -> None:
    open_page(browser, console, "/")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Requests")

    for link, heading in (
        ("Executions", "Executions"),
        ("Queues", "Queues"),
        ("Models & tools", "Customized models"),
    ):
        follow(browser, browser.find_element(By.LINK_TEXT, link))
        assert browser.find_element(By.TAG_NAME, "h1").text.startswith(heading)
        if link == "Queues":
            shown = {
                row.get_attribute("data-queue")
                for row in browser.find_elements(By.CSS_SELECTOR, "#queues tr")
            }
            assert {"CoreWriterSubscriber.Queue", "CoreWriterSubscriber.DeadLetterQueue"} <= shown

    assert browser.title.endswith("agent hub local console")


def test_a_request_shows_its_timeline_and_its_graph_with_the_retry_and_the_caught_error(
    browser: WebDriver, console: Console, submitted: Submitted
) -> None:
    request_id = submitted.retried_then_caught
    view = submitted.client.wait(request_id)
    open_page(browser, console, "/?pipeline=invoke&status=FAILED")

    follow(browser, browser.find_element(By.LINK_TEXT, request_id))

    assert view["status"] == "FAILED"
    timeline = browser.find_elements(By.CSS_SELECTOR, "#timeline li")
    assert [item.get_attribute("data-event-type") for item in timeline] == [
        "request.accepted",
        "invoke.started",
        "invoke.failed",
    ]
    assert "BedrockRuntime.ValidationException" in timeline[-1].text
    asked = node(browser, "Ask the model")
    assert {"visited", "retried", "caught"} <= classes(asked)
    assert asked.find_element(By.CSS_SELECTOR, ".badge-retry text").text == "↻ 1"
    caught = browser.find_elements(
        By.CSS_SELECTOR, '#graph-0 g.edge.kind-catch.taken[data-source="state:Ask the model"]'
    )
    assert [edge.get_attribute("data-target") for edge in caught] == ["state:Announce the failure"]
    assert "failed" in classes(node(browser, "The model call failed"))
    # The answer was never announced: the path stops at the failure.
    assert "unvisited" in classes(node(browser, "Announce the answer"))
    screenshot(browser)

    follow(browser, browser.find_element(By.CSS_SELECTOR, "section.execution h3 a"))

    history = browser.find_elements(By.CSS_SELECTOR, "#history tbody tr")
    types = [row.get_attribute("data-type") for row in history]
    assert types[0] == "ExecutionStarted"
    assert types[-1] == "ExecutionFailed"
    assert types.count("TaskFailed") == 2
    assert len(browser.find_elements(By.CSS_SELECTOR, "#history tr.retry")) == 1
    assert "retried" in classes(browser.find_element(By.CSS_SELECTOR, 'g.node[data-state="Ask the model"]'))


def test_a_request_that_went_straight_through_has_no_marks_but_its_path(
    browser: WebDriver, console: Console, submitted: Submitted
) -> None:
    assert submitted.client.wait(submitted.succeeded)["status"] == "SUCCEEDED"

    open_page(browser, console, f"/requests/{submitted.succeeded}")

    nodes = browser.find_elements(By.CSS_SELECTOR, "#graph-0 g.node")
    marked = {n.get_attribute("data-state") for n in nodes if classes(n) & {"retried", "caught", "failed"}}
    assert marked == set()
    visited = {n.get_attribute("data-state") for n in nodes if "visited" in classes(n)}
    assert {"Ask the model", "Announce the answer"} <= visited
    assert "Announce the failure" not in visited
    assert "output_text" in browser.find_element(By.ID, "result").text


def test_a_customization_shows_its_polling_loop_and_the_catalog_its_model_and_the_tools(
    hub: Hub, browser: WebDriver, console: Console, submitted: Submitted
) -> None:
    assert submitted.client.wait(submitted.customized, timeout=90)["status"] == "SUCCEEDED"
    open_page(browser, console, f"/requests/{submitted.customized}")
    waits = node(browser, "Wait before checking the job")
    assert "visited" in classes(waits)
    assert waits.find_element(By.CSS_SELECTOR, ".badge-visits text").text.endswith("x")

    follow(browser, browser.find_element(By.LINK_TEXT, "Models & tools"))

    model = browser.find_element(By.CSS_SELECTOR, f'#models tr[data-model="{submitted.model_name}"]')
    assert submitted.customized in model.text
    assert "amazon.nova-lite-v1:0" in model.text
    # The tool stacks the local cloud deployed beside the hub, from the registry.
    calculator = browser.find_element(By.CSS_SELECTOR, '#tools tr[data-tool="calculator"]')
    assert calculator.get_attribute("data-status") == "available"
    assert "agent-hub-calculator" in calculator.text
    assert '"expression"' in calculator.text


def test_the_redrive_button_moves_a_dead_letter_back_to_its_queue(
    hub: Hub, browser: WebDriver, console: Console
) -> None:
    """The core writer fails on one request's acceptance until it dead-letters; the button redrives it."""
    word = f"console-redrive-{uuid.uuid4().hex[:8]}"
    hub.fault(
        operation="Invoke", function="CoreWriterFunction", match=word, error="Runtime.ExitError", times=3
    )
    client = hub.client("console-redrive")
    request_id = client.submit(
        {"pipeline": "preprocess", "input": {"text": f"a note that says {word}"}}
    ).body["request_id"]
    dead_letters = hub.ref("CoreWriterSubscriber.DeadLetterQueue")
    hub.wait_until(lambda: waiting(hub, dead_letters), "the failing message reaching the dead-letter queue")
    assert waiting(hub, dead_letters), "the failing message never reached the dead-letter queue"
    before = client.wait(request_id, timeout=30)
    open_page(browser, console, "/queues")
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-queue="CoreWriterSubscriber.DeadLetterQueue"]')

    follow(browser, row.find_element(By.CSS_SELECTOR, "button.redrive"))

    result = browser.find_element(By.ID, "redrive-result").text
    assert result.startswith("Moved ")
    assert "CoreWriterSubscriber.Queue" in result
    assert not result.startswith("Moved 0 ")
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-queue="CoreWriterSubscriber.DeadLetterQueue"]')
    assert row.find_element(By.CSS_SELECTOR, "td.waiting").text == "0"
    after = wait_for_event(hub, client, request_id, "request.accepted")
    assert "request.accepted" not in events(before)  # it was in the dead-letter queue meanwhile
    assert events(after).count("request.accepted") == 1
    open_page(browser, console, f"/requests/{request_id}")
    accepted = browser.find_element(By.CSS_SELECTOR, '#timeline li[data-event-type="request.accepted"]')
    assert "applied late" in accepted.text


def test_what_the_console_refuses(console: Console, submitted: Submitted) -> None:
    missing = requests.get(f"{console.url}/requests/{uuid.uuid4()}", timeout=10)
    forged = requests.post(
        f"{console.url}/queues/redrive", data={"queue": "x", "token": "forged"}, timeout=10
    )
    rebound = requests.get(f"{console.url}/", headers={"Host": "attacker.example:80"}, timeout=10)
    escaped = requests.get(f"{console.url}/static/..%2Fapp.py", timeout=10)

    assert missing.status_code == 404
    assert "not in the catalog" in missing.text
    assert forged.status_code == 400
    assert rebound.status_code == 400
    assert escaped.status_code == 404
    assert "script-src" not in missing.headers["Content-Security-Policy"]  # default-src 'none': no script


def waiting(hub: Hub, queue_url: str) -> int:
    attributes = hub.aws("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def events(view: dict[str, object]) -> list[str]:
    history = view.get("history") or []
    assert isinstance(history, list)
    return [str(entry["event_type"]) for entry in history]


def wait_for_event(
    hub: Hub, client: HubClient, request_id: str, event_type: str, timeout: float = 30
) -> dict[str, object]:
    def view_with_it() -> dict[str, object] | None:
        view: dict[str, object] = client.get(request_id).body
        return view if event_type in events(view) else None

    return hub.wait_until(view_with_it, f"{event_type} in the request's history", timeout)


def screenshot(browser: WebDriver) -> None:
    """The README's picture of the console, when the run is asked for one."""
    target = os.environ.get("AGENTHUB_CONSOLE_SCREENSHOT")
    if not target:
        return
    size = browser.get_window_size()
    browser.set_window_size(*SCREENSHOT_SIZE)
    try:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(target), f"no screenshot written to {target}"
    finally:
        browser.set_window_size(size["width"], size["height"])
