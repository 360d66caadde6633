"""The whole path a scientist takes, in a real browser against real components.

Headless Chromium (Debian's, at ``/usr/bin/chromium``, installed by the testbed's ``chromium``
component) driven by Playwright; a kernel with ``auth-local``, ``web``, ``podman`` and ``proxy``;
the web front served by :class:`~rosetta_web.server.WebServer`, the proxy's server started, and
the orchestrator's reconcile loop on a thread so statuses move as in ``rosetta serve``. The user
signs up, adds the locally built Jupyter image from the registry form, starts it on ``here``,
sees it reach ``running`` without reloading the page, connects through the proxy with one click
(the proxy signs the owner in to Jupyter with the task's token: no password asked), runs a cell,
reads the logs, stops the task from another tab and sees the first tab follow without a reload.

A screenshot of every page visited goes to ``$ROSETTA_SCREENSHOTS`` (or the test's temporary
directory); the test prints where.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import rosetta_auth_local.plugin
import rosetta_podman.plugin
import rosetta_proxy.plugin
import rosetta_web.plugin
from rosetta_auth_local.testing import FAST_ARGON2
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing
from rosetta_web.app import create_app
from rosetta_web.server import WebServer

CHROMIUM = Path("/usr/bin/chromium")
IMAGE = "localhost/rosetta-jupyter:latest"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "a long enough password"
# the page's script polls every 2 s; the container needs a few seconds to answer
RUNNING_WITHIN_MS = 60_000


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (testbed/setup.sh, component chromium, installs it)"
    if shutil.which("podman") is None:
        return "podman is not installed"
    if subprocess.run(["podman", "image", "exists", IMAGE], capture_output=True).returncode != 0:
        return f"the image {IMAGE} is missing (bash images/build.sh builds it)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def site(rosetta_kernel_factory: Callable[..., Kernel]) -> Iterator[str]:
    """The web front's URL over a kernel with real Podman and the real proxy."""
    kernel = rosetta_kernel_factory(
        {
            "auth-local": rosetta_auth_local.plugin,
            "web": rosetta_web.plugin,
            "podman": rosetta_podman.plugin,
            "proxy": rosetta_proxy.plugin,
        },
        plugin_options={
            "auth-local": FAST_ARGON2,
            "podman": {"pull_policy": "never"},
            "proxy": {"listen": f"127.0.0.1:{_free_port()}"},
        },
    )
    kernel.store.add(Computing(name="here", engines=("podman",), options={"tunnel": "proxy"}))
    kernel.connections.serve()
    server = WebServer(create_app(kernel), "127.0.0.1", 0)
    host, port = server.start()
    stop = threading.Event()
    loop = threading.Thread(target=kernel.orchestrator.run_forever, args=(stop, 1.0), daemon=True)
    loop.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        stop.set()
        loop.join(30)
        server.close()
        for task in kernel.store.list_tasks():
            if not task.status.is_terminal:
                kernel.orchestrator.stop_task(task.id)


@pytest.fixture
def screens(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("ROSETTA_SCREENSHOTS") or tmp_path / "screens")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder


@pytest.mark.testbed
def test_a_scientist_runs_a_notebook_cell_through_the_pages(site: str, screens: Path) -> None:
    reason = _skip_reason()
    if reason is not None:
        print(f"skipped: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            context.set_default_timeout(30_000)
            page = context.new_page()
            shots = iter(range(1, 100))

            def shot(name: str, on: Any = None) -> None:
                target = on or page
                target.screenshot(path=str(screens / f"{next(shots):02d}-{name}.png"), full_page=True)

            page.goto(site + "/")
            shot("home")

            page.get_by_role("link", name="Sign up").first.click()
            page.get_by_label("User name").fill("ada")
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_label("Password again").fill(PASSWORD)
            shot("sign-up")
            page.get_by_role("button", name="Sign up").click()
            expect(page.get_by_text("Getting started")).to_be_visible()
            shot("signed-in")

            page.goto(site + "/software/new")
            page.get_by_label("Name", exact=True).fill("jupyter")
            page.get_by_label("Description").fill("Jupyter Notebook 6 with a Python 3 kernel")
            page.get_by_label("Registry").fill("localhost")
            page.get_by_label("Image name").fill("rosetta-jupyter")
            page.get_by_label("Image tag").fill("latest")
            page.get_by_label("Interface port").fill("eighty")
            page.get_by_role("button", name="Add").click()
            # refused: the message is next to the field, what was typed is kept
            expect(page.locator("#f-interface_port-error")).to_have_text("must be a whole number")
            expect(page.get_by_label("Image name")).to_have_value("rosetta-jupyter")
            shot("software-new-refused")
            page.get_by_label("Interface port").fill("8888")
            page.get_by_label("Interface protocol").select_option("http")
            page.get_by_text("Advanced…").click()
            page.get_by_label("Authentication convention").select_option("password")
            page.get_by_label(re.compile("keep the proxy's prefix")).check()
            shot("software-new")
            page.get_by_role("button", name="Add").click()
            expect(page.get_by_role("heading", name="jupyter")).to_be_visible()
            shot("software")

            page.get_by_role("link", name="Start jupyter").click()
            page.get_by_label("Computing resource").select_option("here")
            page.get_by_label("Task name").fill("notebook")
            page.get_by_label(re.compile("I understand")).check()
            shot("task-new")
            page.get_by_role("button", name="Start").click()
            page.wait_for_url(site + "/tasks")
            card = page.locator("li.task", has_text="notebook")
            shot("tasks-starting")
            # from here the page is never reloaded (the mark would vanish): its script brings statuses
            page.evaluate("window.rosettaMark = 'no reload'")
            with page.expect_response(re.compile(r"/tasks/status\.json(\?|$)")):
                pass
            expect(card.locator('[data-role="status"]')).to_have_text("running", timeout=RUNNING_WITHIN_MS)
            shot("tasks-running")

            with context.expect_page() as opened:
                card.get_by_role("link", name="Connect").click()
            lab = opened.value
            lab.wait_for_load_state()
            assert "/t/" in lab.url, lab.url
            _wait_for_jupyter(lab)
            shot("jupyter-tree", lab)

            with context.expect_page() as made:
                lab.locator("#new-dropdown-button").click()
                lab.locator("#kernel-python3 a").click()
            notebook = made.value
            notebook.wait_for_load_state()
            expect(notebook.locator("#kernel_indicator_icon.kernel_idle_icon")).to_be_attached(timeout=60_000)
            notebook.locator(".CodeMirror").first.click()
            notebook.keyboard.type("print(6*7)")
            notebook.keyboard.press("Shift+Enter")
            expect(notebook.locator(".output_subarea").first).to_have_text(re.compile(r"^\s*42\s*$"))
            shot("notebook-cell", notebook)
            notebook.close()
            lab.close()

            logs = context.new_page()
            logs.goto(page.url)
            logs.locator("li.task", has_text="notebook").get_by_role("link", name="Logs").click()
            expect(logs.get_by_role("heading", name="Logs of notebook")).to_be_visible()
            expect(logs.locator("#logs")).to_contain_text("Jupyter")
            shot("logs", logs)

            # stopped from another tab: the first one sees it without a reload
            other = context.new_page()
            other.goto(site + "/tasks")
            other.locator("li.task", has_text="notebook").get_by_role("button", name="Stop").click()
            other.wait_for_url(site + "/tasks")
            expect(card.locator('[data-role="status"]')).to_have_text("stopped", timeout=60_000)
            expect(card.get_by_role("link", name="Connect")).to_be_hidden()
            expect(card.get_by_role("button", name="Stop")).to_be_hidden()
            assert page.evaluate("window.rosettaMark") == "no reload"
            expect(logs.locator("#log-status")).to_have_text("stopped", timeout=10_000)
            shot("tasks-stopped")
            other.close()
            logs.close()

            page.goto(site + "/account")
            shot("account")
            context.close()
        finally:
            browser.close()


def _wait_for_jupyter(lab: Any) -> None:
    """Jupyter's file tree, with no login on the way (the proxy sent the task's token)."""
    tree = lab.locator("#notebook_list")
    deadline = time.monotonic() + 60
    # "running" means the container runs: Jupyter may still be starting (the proxy says 502)
    while not tree.count():
        assert time.monotonic() < deadline, f"Jupyter did not answer: {lab.content()[:500]}"
        assert not lab.locator("#password_input").count(), "Jupyter asked for its password"
        time.sleep(1)
        lab.reload()
