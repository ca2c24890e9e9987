"""The playground page in a real browser (Debian's headless Chromium), against the local stack."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import browser_setup
import pytest
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait


@pytest.fixture(scope="session")
def browser():
    # Skips where no browser is installed (tests/browser_setup.py; under CI=true it fails instead).
    chromium, chromedriver = browser_setup.require()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield driver
    driver.quit()


class Page:
    def __init__(self, driver: WebDriver, stack) -> None:
        self.driver = driver
        self.url = stack.info["api"] + "/playground"
        self.key = stack.info["apiKey"]

    def open(self, key: str | None = None) -> Page:
        self.driver.get(self.url)
        self.driver.execute_script("sessionStorage.clear()")
        self.driver.get(self.url)
        self.wait(lambda _: self.driver.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        self.driver.get_log("browser")  # start each test with an empty console
        if key is not None:
            self["api-key"].send_keys(key, Keys.TAB)
        return self

    def __getitem__(self, testid: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def choose(self, testid: str, value: str) -> None:
        self.wait(lambda _: value in [option.get_attribute("value") for option in Select(self[testid]).options])
        Select(self[testid]).select_by_value(value)

    def wait(self, condition, timeout: float = 20):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(condition)

    def results(self, count: int) -> list[WebElement]:
        def loaded(_):
            images = self.driver.find_elements(By.CSS_SELECTOR, 'img[data-testid="result"]')
            complete = [image for image in images if self.driver.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth > 0", image)]  # fmt: skip
            return images if len(complete) == count == len(images) else False

        try:
            return self.wait(loaded)
        except TimeoutException:
            raise AssertionError(f"no {count} images; the page says: {self['error'].text!r}") from None

    def natural_size(self, image: WebElement) -> tuple[int, int]:
        return tuple(
            self.driver.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", image)
        )

    def console_errors(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.fixture
def page(browser, stack) -> Page:
    return Page(browser, stack)


def test_the_page_is_served_without_a_key_and_runs_under_its_content_security_policy(page, stack):
    with urllib.request.urlopen(page.url, timeout=10) as response:  # no key
        headers, html = response.headers, response.read().decode()
    policy = headers["Content-Security-Policy"]

    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy and "frame-ancestors 'none'" in policy
    assert "<script src" not in html and '<link rel="stylesheet"' not in html  # self-contained
    page.open()  # the inline script ran (it marks the page ready), so the policy's hash allows it
    assert page.console_errors() == []
    tasks = [option.get_attribute("value") for option in Select(page["task"]).options]
    assert "text-to-image" in tasks and "background-removal" in tasks


def test_generate_shows_the_images_with_their_seeds_and_keeps_the_key_for_the_tab(page):
    page.open(page.key)
    page.choose("model", "nova-canvas")
    page["prompt"].send_keys("a lighthouse at dusk")
    page["numberOfImages"].send_keys("2")
    page["width"].send_keys("768")
    page["height"].send_keys("512")
    page["generate"].click()

    images = page.results(2)
    assert [page.natural_size(image) for image in images] == [(768, 512), (768, 512)]
    captions = page.driver.find_elements(By.CSS_SELECTOR, "figcaption")
    assert all(caption.text.startswith("seed ") and "768×512 · nova-canvas" in caption.text for caption in captions)
    assert page["summary"].text.startswith("Job ") and "2 image(s)" in page["summary"].text
    assert page.console_errors() == []
    page.driver.refresh()
    page.wait(lambda _: page["api-key"].get_attribute("value") == page.key)


def test_an_invalid_request_shows_the_apis_message_next_to_the_field_it_names(page):
    page.open(page.key)
    page.choose("model", "nova-canvas")
    page["prompt"].send_keys("a lighthouse")
    page["width"].send_keys("100")
    page["generate"].click()

    page.wait(lambda _: page["error"].is_displayed())
    assert page["error"].text.startswith("width")
    note = page["field-error-width"]
    assert "multiples of 16" in note.text
    wrapper = note.find_element(By.XPATH, "..")
    assert wrapper.get_attribute("data-field") == "width" and "invalid" in wrapper.get_attribute("class")
    assert page.driver.find_elements(By.CSS_SELECTOR, 'img[data-testid="result"]') == []


def test_an_async_job_shows_its_progress_until_the_images_arrive(page):
    page.open(page.key)
    page.choose("model", "nova-canvas")
    page["prompt"].send_keys("a slow lighthouse")
    Select(page["mode"]).select_by_value("async")
    page["generate"].click()

    page.wait(lambda _: "RUNNING" in page["status"].text)
    assert page["status"].text.startswith("Job ") and page["generate"].get_attribute("disabled") == "true"
    page.results(1)
    assert not page["status"].is_displayed() and page["generate"].is_enabled()


def test_an_image_field_uploads_the_chosen_file(page, tmp_path: Path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (640, 448), "teal").save(photo)
    page.open(page.key)
    page.choose("task", "background-removal")
    page.choose("model", "nova-canvas")
    page["image"].send_keys(str(photo))
    page["generate"].click()

    [image] = page.results(1)
    assert page.natural_size(image) == (640, 448)
    assert page.console_errors() == []


def test_a_wrong_key_is_reported_before_anything_is_generated(page):
    page.open("not-the-key")

    page.wait(lambda _: "refused the key" in page["error"].text)
    assert [option.get_attribute("value") for option in Select(page["model"]).options] == [""]
