"""
Drive a real headless Chromium from trial tests (Selenium + chromedriver).

Selenium's calls block, so every call runs in the reactor's thread pool:
the reactor keeps serving the child processes (the fxim nodes) meanwhile.
Each L{Browser} has its own fresh profile folder; restarting it on the
same folder keeps the page's localStorage (a closed and reopened browser).

    browser = await Browser.start(reactor, shotsDir, "alice")
    await browser.get(node.httpBase + "/")
    await browser.type("[data-t=identity]", "13800000001")
    await browser.click("[data-t=login]")
    await browser.waitText("[data-t=chat-title]", "bob")
    await browser.screenshot("03-chat")

Needs the C{selenium} package (the C{test} extra) and Debian's
C{chromium} and C{chromium-driver}; L{SKIP} says why when missing.
"""

import os
import shutil
import tempfile
import time
from typing import Any, Callable, List, Optional

from twisted.internet.threads import deferToThread

CHROMIUM = os.environ.get("FXIM_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FXIM_CHROMEDRIVER", "/usr/bin/chromedriver")

try:
    import selenium  # noqa: F401
except ImportError:  # pragma: no cover (depends on the machine)
    SKIP: Optional[str] = "selenium is not installed (pip install '.[test]')"
else:
    SKIP = None
if SKIP is None:
    for _path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(_path, os.X_OK):
            SKIP = f"{_path} is missing (apt-get install chromium chromium-driver)"

#: Flags headless Chromium needs on a CI machine (no sandbox as root, no
#: GPU, no network calls home).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-extensions", "--mute-audio",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--lang=en-US", "--hide-scrollbars", "--force-device-scale-factor=1",
]


class BrowserError(AssertionError):
    """
    What the page did not do in time (with the page's text for the report).
    """


class Browser:
    """
    One headless Chromium with one tab.

    @ivar name: a short name used in screenshot file names.
    @ivar shotsDir: where L{screenshot} writes PNGs.
    @ivar profile: the Chromium user-data folder.
    """

    def __init__(self, reactor: Any, shotsDir: str, name: str, width: int = 1100,
                 height: int = 760, profile: Optional[str] = None, lang: str = "en-US") -> None:
        self.reactor = reactor
        self.shotsDir = shotsDir
        self.name = name
        self.size = (width, height)
        self.lang = lang
        self._ownProfile = profile is None
        self.profile = profile or tempfile.mkdtemp(prefix=f"fxim-chromium-{name}-")
        self.driver: Any = None
        self.shots: List[str] = []

    @classmethod
    async def start(cls, reactor: Any, shotsDir: str, name: str, **kwargs: Any) -> "Browser":
        """
        Start a browser (see the constructor's arguments).
        """
        browser = cls(reactor, shotsDir, name, **kwargs)
        await browser.launch()
        return browser

    async def launch(self) -> None:
        """
        Start Chromium (again) on this browser's profile.
        """
        self.driver = await deferToThread(self._launch)

    def _launch(self) -> Any:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.add_argument(f"--window-size={self.size[0]},{self.size[1]}")
        options.add_experimental_option("prefs", {"intl.accept_languages": self.lang})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=CHROMEDRIVER, log_output=os.devnull)
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(30)
        return driver

    async def quit(self) -> None:
        """
        Close Chromium but keep its profile (for a later L{launch}).
        """
        driver, self.driver = self.driver, None
        if driver is not None:
            await deferToThread(driver.quit)

    async def stop(self) -> None:
        """
        Close Chromium and remove a profile this browser made.
        """
        try:
            await self.quit()
        finally:
            if self._ownProfile:
                shutil.rmtree(self.profile, ignore_errors=True)

    # -- calls --------------------------------------------------------------------

    def run(self, f: Callable[..., Any], *args: Any) -> Any:
        """
        @return: a L{Deferred} firing with C{f(driver, *args)}, run in a thread.
        """
        return deferToThread(f, self.driver, *args)

    async def get(self, url: str) -> None:
        await self.run(lambda d: d.get(url))

    async def refresh(self) -> None:
        await self.run(lambda d: d.refresh())

    async def js(self, script: str, *args: Any) -> Any:
        """
        Run JavaScript in the page; C{arguments[0]}... are C{args}.
        """
        return await self.run(lambda d: d.execute_script(script, *args))

    async def setSize(self, width: int, height: int) -> None:
        await self.run(lambda d: d.set_window_size(width, height))

    def _find(self, driver: Any, selector: str, timeout: float,
              predicate: Optional[Callable[[Any], bool]] = None, what: str = "") -> Any:
        from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
        from selenium.webdriver.common.by import By
        deadline = time.monotonic() + timeout
        while True:
            try:
                for element in driver.find_elements(By.CSS_SELECTOR, selector):
                    if element.is_displayed() and (predicate is None or predicate(element)):
                        return element
            except (StaleElementReferenceException, WebDriverException):
                pass  # the page re-rendered under us: look again
            if time.monotonic() > deadline:
                try:
                    body = driver.find_element(By.TAG_NAME, "body").text
                except WebDriverException:
                    body = "?"
                raise BrowserError(f"{self.name}: no {selector} {what} after {timeout}s; "
                                   f"the page shows:\n{body[:2000]}")
            time.sleep(0.1)

    async def find(self, selector: str, timeout: float = 20.0, text: Optional[str] = None) -> Any:
        """
        Wait for a visible element matching C{selector} (and containing
        C{text}, if given).

        @raise BrowserError: if none shows within C{timeout}.
        """
        predicate = None if text is None else (lambda e: text in e.text)
        what = "" if text is None else f"containing {text!r}"
        return await self.run(lambda d: self._find(d, selector, timeout, predicate, what))

    async def waitText(self, selector: str, text: str, timeout: float = 20.0) -> Any:
        return await self.find(selector, timeout, text)

    async def waitGone(self, selector: str, timeout: float = 20.0) -> None:
        """
        Wait until no visible element matches C{selector}.
        """
        from selenium.webdriver.common.by import By

        from selenium.common.exceptions import StaleElementReferenceException

        def shown(d: Any) -> bool:
            try:
                return any(e.is_displayed() for e in d.find_elements(By.CSS_SELECTOR, selector))
            except StaleElementReferenceException:
                return True  # re-rendered while looking: look again

        def gone(d: Any) -> None:
            deadline = time.monotonic() + timeout
            while shown(d):
                if time.monotonic() > deadline:
                    raise BrowserError(f"{self.name}: {selector} still shown after {timeout}s")
                time.sleep(0.1)
        await self.run(gone)

    async def waitUntil(self, script: str, timeout: float = 20.0, what: str = "") -> Any:
        """
        Wait until the JavaScript expression C{script} (a function body
        returning a value) gives something truthy; @return: that value.
        """
        def poll(d: Any) -> Any:
            deadline = time.monotonic() + timeout
            while True:
                value = d.execute_script(script)
                if value:
                    return value
                if time.monotonic() > deadline:
                    raise BrowserError(f"{self.name}: {what or script} not true after {timeout}s")
                time.sleep(0.1)
        return await self.run(poll)

    def _act(self, driver: Any, selector: str, text: Optional[str], timeout: float,
             action: Callable[[Any], None]) -> None:
        # Find and act in one go, again if the page re-rendered the element
        # in between (the web chat rebuilds its lists on every event).
        from selenium.common.exceptions import (
            ElementClickInterceptedException, ElementNotInteractableException,
            StaleElementReferenceException)
        predicate = None if text is None else (lambda e: text in e.text)
        what = "" if text is None else f"containing {text!r}"
        deadline = time.monotonic() + timeout
        while True:
            element = self._find(driver, selector, max(0.5, deadline - time.monotonic()),
                                 predicate, what)
            try:
                action(element)
                return
            except (StaleElementReferenceException, ElementClickInterceptedException,
                    ElementNotInteractableException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    async def click(self, selector: str, text: Optional[str] = None, timeout: float = 20.0) -> None:
        """
        Click the first visible element matching C{selector} (and
        containing C{text}).
        """
        await self.run(lambda d: self._act(d, selector, text, timeout, lambda e: e.click()))

    async def type(self, selector: str, value: str, enter: bool = False, clear: bool = True,
                   timeout: float = 20.0) -> None:
        """
        Type C{value} into a field (after clearing it), then Enter if asked.
        """
        from selenium.webdriver.common.keys import Keys

        def typeIn(element: Any) -> None:
            if clear:
                element.clear()
            element.send_keys(value)
            if enter:
                element.send_keys(Keys.ENTER)
        await self.run(lambda d: self._act(d, selector, None, timeout, typeIn))

    async def upload(self, selector: str, path: str) -> None:
        """
        Choose the file C{path} in a (possibly hidden) file input.
        """
        from selenium.webdriver.common.by import By

        def choose(d: Any) -> None:
            element = d.find_element(By.CSS_SELECTOR, selector)
            d.execute_script("arguments[0].classList.remove('hidden');"
                             "arguments[0].style.display='block';", element)
            element.send_keys(os.path.abspath(path))
        await self.run(choose)

    async def texts(self, selector: str) -> List[str]:
        """
        The texts of every element matching C{selector}, in page order.
        """
        return await self.js(
            "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText);",
            selector)

    async def consoleLog(self) -> List[str]:
        """
        What the page printed to its console since the last call.
        """
        try:
            entries = await self.run(lambda d: d.get_log("browser"))
        except Exception:
            return []
        return [f"{e.get('level')}: {e.get('message')}" for e in entries]

    async def screenshot(self, step: str) -> str:
        """
        Save a PNG of the page as C{<shotsDir>/<step>-<name>.png}.

        @return: its path.
        """
        os.makedirs(self.shotsDir, exist_ok=True)
        path = os.path.join(self.shotsDir, f"{step}-{self.name}.png")
        ok = await self.run(lambda d: d.save_screenshot(path))
        if not ok:
            raise BrowserError(f"could not save {path}")
        self.shots.append(path)
        return path
