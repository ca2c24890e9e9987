"""The playground page in a real browser (Debian's headless Chromium), against the local stack."""

from __future__ import annotations

import base64
import io
import urllib.request
from pathlib import Path

import browser_setup
import pytest
from PIL import Image, ImageChops, ImageDraw
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput
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
        """The result images, once ``count`` have loaded (an edit's are its "after" images)."""

        def loaded(_):
            images = self.driver.find_elements(By.CSS_SELECTOR, 'img[data-testid="result"], img[data-testid="after"]')
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
    # Linked for screen readers: the field is invalid and described by the message.
    assert page["width"].get_attribute("aria-invalid") == "true"
    assert page["width"].get_attribute("aria-describedby") == note.get_attribute("id") == "field-error-width"
    assert page.driver.find_elements(By.CSS_SELECTOR, 'img[data-testid="result"]') == []


def test_an_async_job_shows_its_progress_until_the_images_arrive(page):
    page.open(page.key)
    page.choose("model", "nova-canvas")
    page["prompt"].send_keys("a slow lighthouse")
    Select(page["mode"]).select_by_value("async")
    page["generate"].click()

    page.wait(lambda _: "RUNNING" in page["status"].text)
    assert page["status"].text.startswith("Job ") and page["generate"].get_attribute("disabled") == "true"
    assert page["generate"].text == "Job running…"
    page.results(1)
    assert not page["status"].is_displayed() and page["generate"].is_enabled()
    assert page["generate"].text == "Generate"


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


# --- feedback in view, on a desktop and on a phone -------------------------------------------

VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture(params=sorted(VIEWPORTS))
def viewport(request, browser):
    """The window as a desktop or, through Chrome's device emulation, a phone (touch, 3x pixels)."""
    width, height = VIEWPORTS[request.param]
    phone = request.param == "phone"
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 3 if phone else 1, "mobile": phone},
    )
    browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": phone, "maxTouchPoints": 5})
    yield request.param
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})


def in_view(page: Page, element: WebElement) -> bool:
    """Whether the element shows, whole or at least its first 40 px, in the viewport as it is."""
    return page.driver.execute_script(
        """const rect = arguments[0].getBoundingClientRect();
        return rect.height > 0 && rect.top >= 0 && Math.min(rect.bottom, rect.top + 40) <= window.innerHeight;""",
        element,
    )


def test_every_outcome_shows_without_scrolling(page, viewport):
    page.open("not-the-key")  # a wrong key: said at once, before anything is generated
    page.wait(lambda _: "refused the key" in page["error"].text)
    assert in_view(page, page["error"]), viewport

    page["api-key"].clear()
    page.open(page.key)
    page.choose("model", "nova-canvas")
    page["prompt"].send_keys("a lighthouse")
    page["width"].send_keys("100")
    page["generate"].click()
    note = page.wait(lambda _: page.driver.find_elements(By.CSS_SELECTOR, '[data-testid="field-error-width"]'))[0]
    assert "multiples of 16" in note.text and in_view(page, note), viewport
    assert page.driver.switch_to.active_element == page["width"]  # the field it names, focused

    page["width"].clear()
    page["generate"].click()
    [image] = page.results(1)
    assert in_view(page, image) and in_view(page, page["summary"]), viewport
    assert "Results appear here" not in page["summary"].text
    assert page["generate"].text == "Generate"


# --- painting the mask, before and after, downloads ------------------------------------------

CANVAS_TYPES = (
    "window.pointerTypes = []; arguments[0].addEventListener('pointerdown', e => pointerTypes.push(e.pointerType));"
)


def stroke(page: Page, kind: str, points: list[tuple[int, int]]) -> None:
    """Drag a ``kind`` pointer (mouse, pen or touch) through ``points``, offsets from the canvas's centre."""
    pointer = PointerInput({"mouse": interaction.POINTER_MOUSE, "pen": interaction.POINTER_PEN,
                            "touch": interaction.POINTER_TOUCH}[kind], kind)  # fmt: skip
    actions = ActionBuilder(page.driver, mouse=pointer)
    canvas = page["mask-canvas"]
    page.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    actions.pointer_action.move_to(canvas, *points[0]).pointer_down()
    for point in points[1:]:
        actions.pointer_action.move_to(canvas, *point)
    actions.pointer_action.pointer_up()
    actions.perform()


def test_a_painted_mask_edits_only_what_was_painted_and_the_result_downloads(page, tmp_path: Path):
    width, height = 512, 384
    photo = tmp_path / "photo.png"
    gradient = Image.linear_gradient("L").resize((width, height))
    Image.merge(
        "RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_180), Image.new("L", (width, height), 90))
    ).save(photo)
    page.open(page.key)
    page.choose("task", "inpainting")
    page.choose("model", "nova-canvas")
    page["prompt"].send_keys("a red door")
    page["image"].send_keys(str(photo))
    page.wait(lambda _: page["mask-canvas"].is_displayed() and page["mask-canvas"].get_attribute("width") == str(width))
    [chosen] = page["preview-image"].find_elements(By.TAG_NAME, "img")
    page.driver.execute_script(CANVAS_TYPES, page["mask-canvas"])
    rect = page.driver.execute_script("return arguments[0].getBoundingClientRect().toJSON()", page["mask-canvas"])
    scale = width / rect["width"]  # screen px to image px

    def brush(size: int) -> None:
        page.driver.execute_script(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
            page["brush-size"],
            size,
        )

    brush(20)
    mouse, pen, touch, erased = [(-80, -30), (-20, -30)], [(40, 30), (80, 40)], [(-60, 50)], [(70, -50)]
    stroke(page, "mouse", mouse)
    stroke(page, "pen", pen)
    stroke(page, "touch", touch)
    stroke(page, "mouse", erased)
    page["mask-erase"].click()  # the eraser takes that last dab back, with a wider brush
    brush(60)
    stroke(page, "mouse", erased)
    assert page.driver.execute_script("return pointerTypes") == ["mouse", "pen", "touch", "mouse", "mouse"]
    page["generate"].click()

    [after] = page.results(1)
    before = page["before"]
    assert page.natural_size(before) == page.natural_size(after) == (width, height)
    assert page.driver.execute_script("return arguments[0].src", before).startswith("blob:")
    assert chosen.is_displayed()
    with urllib.request.urlopen(after.get_attribute("src"), timeout=10) as response:
        result = Image.open(io.BytesIO(response.read())).convert("RGB")
    changed = (
        ImageChops.difference(result, Image.open(photo).convert("RGB")).convert("L").point(lambda v: 255 * (v > 0))
    )

    def image_point(offset: tuple[int, int]) -> tuple[int, int]:
        return (round(width / 2 + offset[0] * scale), round(height / 2 + offset[1] * scale))

    allowed = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(allowed)
    radius = 10 * scale + 3  # half the brush, plus antialiasing
    for path in (mouse, pen, touch):
        points = [image_point(point) for point in path]
        draw.line(points, fill=255, width=round(2 * radius))
        for x, y in points:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
        assert all(changed.getpixel(point) == 255 for point in points), path  # painted: edited
    assert ImageChops.subtract(changed, allowed).getbbox() is None  # unpainted or erased: exactly as it was
    assert changed.getpixel(image_point(erased[0])) == 0

    downloads = tmp_path / "downloads"
    page.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    [button] = page.driver.find_elements(By.CSS_SELECTOR, '[data-testid="download"]')
    job_id = page["summary"].text.split()[1].rstrip(":")
    assert button.get_attribute("data-filename") == f"{job_id}-0.png"
    button.click()
    saved = downloads / f"{job_id}-0.png"
    page.wait(lambda _: saved.exists() and saved.stat().st_size > 0)
    assert Image.open(saved).convert("RGB").tobytes() == result.tobytes()
    assert page.console_errors() == []


def test_the_mask_tools_clear_and_invert(page, tmp_path: Path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (320, 320), "teal").save(photo)
    page.open(page.key)
    page.choose("task", "inpainting")
    page.choose("model", "nova-canvas")
    page["image"].send_keys(str(photo))
    page.wait(lambda _: page["mask-canvas"].get_attribute("width") == "320")

    def mask() -> Image.Image | None:
        data = page.driver.execute_async_script(
            """const done = arguments[arguments.length - 1];
            state.painter.file().then(async (file) => done(
              file && btoa(String.fromCharCode(...new Uint8Array(await file.arrayBuffer())))));"""
        )
        return data and Image.open(io.BytesIO(base64.b64decode(data))).convert("L")

    assert mask() is None  # nothing painted: no mask is sent
    stroke(page, "mouse", [(0, 0)])
    painted = mask()
    assert painted.getpixel((160, 160)) == 0 and painted.getpixel((5, 5)) == 255  # black: the area to change
    page["mask-invert"].click()
    inverted = mask()
    assert inverted.getpixel((160, 160)) == 255 and inverted.getpixel((5, 5)) == 0
    page["mask-clear"].click()
    assert mask() is None


# --- accessibility ----------------------------------------------------------------------------


def _luminance(rgb: str) -> float:
    channels = [int(value) / 255 for value in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_every_control_is_labelled_with_borders_of_at_least_3_to_1(page, tmp_path: Path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (320, 320), "teal").save(photo)
    page.open(page.key)
    page.choose("task", "inpainting")
    page.choose("model", "nova-canvas")
    page["image"].send_keys(str(photo))
    page.wait(lambda _: page["mask-canvas"].is_displayed())

    unlabelled = page.driver.execute_script(
        """return [...document.querySelectorAll('input, select, textarea, button, canvas')]
          .filter((e) => e.offsetParent !== null)
          .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
          .map((e) => e.outerHTML.slice(0, 80));"""
    )
    assert unlabelled == []
    # WCAG 2.1 SC 1.4.11 (https://www.w3.org/TR/WCAG21/#non-text-contrast): 3:1 against the white form.
    for testid in ("prompt", "api-key", "model"):
        border = page[testid].value_of_css_property("border-top-color")
        assert (1.05) / (_luminance(border) + 0.05) >= 3, (testid, border)
    assert page["summary"].get_attribute("aria-live") == "polite" and page["error"].get_attribute("role") == "alert"
