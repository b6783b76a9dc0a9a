"""`make lab`: JupyterLab opens a chapter's .py as a notebook (not as text), runs
its first cells under the profile PROFILE names, and saving it writes the paired
.ipynb. The server serves a copy of the chapters, so nothing is saved into the
checkout, and every Jupyter, IPython and matplotlib folder is a temporary one."""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from . import chromium
from .conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHAPTER = "01_in_silico_v1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(url: str, method: str = "GET", timeout: float = 5):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    chromium.require()  # no server without a browser to drive it
    tmp = tmp_path_factory.mktemp("lab")
    work = tmp / "project"  # what JupyterLab serves
    work.mkdir()
    for name in ("data_manifest.yaml", "pyproject.toml"):  # pyproject.toml: the jupytext pairing
        shutil.copy(ROOT / name, work / name)
    for name in ("notebooks", "profiles"):
        shutil.copytree(ROOT / name, work / name,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    env = dict(os.environ, HOME=str(tmp / "home"), V1LIB_RESULTS=str(tmp / "results"),
               MPLCONFIGDIR=str(tmp / "mpl"), IPYTHONDIR=str(tmp / "ipython"),
               JUPYTER_CONFIG_DIR=str(tmp / "jupyter" / "config"),
               JUPYTER_DATA_DIR=str(tmp / "jupyter" / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp / "jupyter" / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "jupyter" / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "jupyter" / "lab-workspaces"))
    for key in ("V1LIB_PROFILE", "JUPYTER_CONFIG_PATH", "JUPYTER_PATH", "JUPYTER_PREFER_ENV_PATH"):
        env.pop(key, None)
    port, token = _free_port(), secrets.token_hex(16)
    venv = Path(sys.executable).parent.parent
    args = (f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 "
            f"--IdentityProvider.token={token}" + (" --allow-root" if os.geteuid() == 0 else ""))
    # the README's command; -o: the test runs in the environment `make test` set up
    cmd = ["make", "--no-print-directory", "-C", str(ROOT), "-o", f"{venv}/.installed", "lab",
           f"VENV={venv}", f"LAB_DIR={work}", "PROFILE=smoke", f"LAB_ARGS={args}"]
    log = open(tmp / "lab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):  # the server answers within a minute
            if proc.poll() is not None:
                break
            try:
                _api(f"{base}/api/status?token={token}")
                break
            except OSError:
                time.sleep(0.5)
        if proc.poll() is not None:
            pytest.fail(f"`make lab` exited:\n{(tmp / 'lab.log').read_text()[-3000:]}")
        # it serves (and saves into) the copy, never the checkout
        assert f"Serving notebooks from local directory: {work.resolve()}\n" in (tmp / "lab.log").read_text()
        yield {"url": base, "token": token, "work": work, "tmp": tmp, "log": tmp / "lab.log"}
    finally:
        try:
            _api(f"{base}/api/shutdown?token={token}", method="POST")  # stops its kernels too
            proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for sig in (signal.SIGTERM, signal.SIGKILL):  # make waits for the server until it is gone
            if proc.poll() is not None:
                break
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = chromium.driver(tmp_path_factory.mktemp("chromium-profile"), window="1400,1000")
    yield driver
    driver.quit()


def _wait(condition, timeout: float, what: str, log: Path):
    from selenium.common.exceptions import StaleElementReferenceException

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = condition()
        except StaleElementReferenceException:  # the page re-rendered under us: look again
            value = None
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}; server log:\n{log.read_text()[-3000:]}")


def test_chapter_opens_as_notebook_runs_and_saves_pair(lab, browser, artifacts):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def find(css):
        return browser.find_elements(By.CSS_SELECTOR, f"#jp-main-dock-panel {css}")

    browser.get(f"{lab['url']}/lab/tree/notebooks/{CHAPTER}.py?token={lab['token']}")

    # shown as a notebook (markdown and code cells), not in the text editor
    code = _wait(lambda: [c for c in find(".jp-Notebook .jp-CodeCell") if 'profile = "auto"' in c.text],
                 60, "the chapter's parameters cell", lab["log"])
    assert find(".jp-Notebook .jp-MarkdownCell.jp-mod-rendered")
    assert not find(".jp-FileEditor")
    tab = browser.find_element(By.CSS_SELECTOR, ".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    assert tab.text.strip().startswith(f"{CHAPTER}.py")
    _wait(lambda: find(".jp-Notebook-ExecutionIndicator[data-status='idle']"), 90, "an idle kernel",
          lab["log"])

    def profile_line():
        for out in find(".jp-OutputArea-output.jp-RenderedMarkdown"):
            if out.text.startswith("Profile smoke") and out.find_elements(By.TAG_NAME, "strong"):
                return out.text
        for out in find(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"):
            if "Traceback" in out.text:
                pytest.fail(f"the set-up cell failed:\n{out.text[-2000:]}")
        return None

    assert profile_line() is None  # no outputs yet

    # run the parameters cell and the set-up cell, Shift+Enter on each, as a reader would
    prompt = code[0].find_element(By.CSS_SELECTOR, ".jp-InputPrompt")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", prompt)
    ActionChains(browser).click(prompt).perform()
    for _ in range(2):
        ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()

    text = _wait(profile_line, 150, "the set-up cell's 'Profile smoke' output", lab["log"])
    assert "insilico-static-smoke" in text  # the smoke profile's dataset, from V1LIB_PROFILE
    browser.save_screenshot(str(artifacts / "lab.png"))

    # saving writes the .py and, with the outputs, its paired .ipynb (in the served copy)
    ipynb = lab["work"] / "notebooks" / "ipynb" / f"{CHAPTER}.ipynb"
    before = ipynb.read_text()
    ActionChains(browser).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()
    _wait(lambda: ipynb.read_text() != before and "Profile **smoke**" in ipynb.read_text(), 30,
          "the paired .ipynb to be saved", lab["log"])
    source = (lab["work"] / "notebooks" / f"{CHAPTER}.py").read_text()
    assert 'profile = "auto"' in source and "Profile **smoke**" not in source  # inputs only
