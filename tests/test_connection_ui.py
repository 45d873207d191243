"""The connection form and its Test button in Airflow 3's real UI, driven by headless Chromium; and the CLI test.

``test_connection_form_in_the_ui`` (marker ``browser``) starts an ``airflow api-server`` on a free loopback
port in a temporary AIRFLOW_HOME (SQLite, SimpleAuthManager with everyone an admin, so no login page),
then uses Debian's Chromium (``/usr/bin/chromium``) through the Python ``playwright`` package (no browser
download): it adds a "Riffusion (useapi.net)" connection pointing at the bundled emulator, checks what the
form shows, presses Test with the right and with a wrong token, and checks that no token reaches the page.
Then it adds a second connection with ``flowmusic`` picked in the Service dropdown (exactly riffusion and
flowmusic, riffusion preselected), pointing at a second emulator serving Flow Music, checks the saved extra,
presses Test, and reopens the connection to see the choice kept.
``scripts/install_browser.sh`` installs both. Without them the test is skipped, unless ``CI`` is set: then
it fails. Screenshots go to ``artifacts/connection-ui/``; with ``RIFFUSION_UPDATE_DOCS=1`` the filled form
also replaces ``docs/connection-form.png``, the README's picture (a plain run leaves the checkout as it was).

``test_cli_connections_test`` (marker ``airflow_cli``) needs no browser: ``airflow connections test`` with
the connection in an ``AIRFLOW_CONN_*`` variable.

Airflow 3.3.2's Test button sends ``port: 0`` for a connection without a port, which the API answers with
400 "The host or port to test differs from the stored connection" (fixed upstream by apache/airflow#73298).
The browser test detects exactly that answer and then resends the same request with ``port: null``, so
that the provider's ``test_connection()`` is still exercised through the UI; it prints when it had to.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_riffusion.connection_form import EXTRA_FIELDS, HOST_PLACEHOLDER, UI_FIELD_BEHAVIOUR
from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.testing.dag_run import airflow_env, airflow_executable
from tests.airflow_cluster import AirflowCluster
from tests.support import TOKEN

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "artifacts" / "connection-ui"
DOCS_SCREENSHOT = REPO / "docs" / "connection-form.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WRONG_TOKEN = "tok-WRONG-7c3e91b4a2"
CONN_ID = "riffusion_ui"
FLOW_CONN_ID = "riffusion_ui_flowmusic"
FLOW_EMAIL = "ui-artist@example.com"
SERVICES = ["riffusion", "flowmusic"]  # literal on purpose: what the dropdown must offer, in this order
HOOK_NAME = "Riffusion (useapi.net)"
PORTLESS_TEST_BUG = "differs from the stored connection"  # apache/airflow#73298
UI_TIMEOUT_MS = 15_000


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _airflow_version() -> tuple[int, ...]:
    from importlib.metadata import version

    parts = []
    for part in version("apache-airflow").split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit()) if part[:1].isdigit() else ""
        parts.append(int(digits or 0))
    return tuple(parts)


def _skip_or_fail(reason: str) -> None:
    """Skip locally; in CI (``CI`` set) a missing prerequisite is a failure, not a silent skip."""
    hint = " Install it with: bash scripts/install_browser.sh"
    if _in_ci():
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping).{hint}", pytrace=False)
    pytest.skip(reason + "." + hint)


def _api_server(root: Path) -> AirflowCluster:
    """Just ``airflow api-server`` (SQLite, SimpleAuthManager with everyone an admin: no login page)."""
    return AirflowCluster(
        root,
        dag_files=[],
        env={
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
        },
        components=("api-server",),
    )


def _check_browser_prerequisites() -> None:
    """Skip (or, in CI, fail) before anything starts when Airflow 3, Chromium or playwright is missing."""
    if _airflow_version() < (3,):
        pytest.skip("the React connection form and `airflow api-server` exist from Airflow 3 on")
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        _skip_or_fail(f"{CHROMIUM} (Debian's chromium package) is not installed")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _skip_or_fail("the Python package `playwright` (the browser driver) is not installed")


@pytest.mark.browser
def test_connection_form_in_the_ui(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _check_browser_prerequisites()
    began = time.monotonic()
    with _api_server(tmp_path / "airflow") as api_server:
        ready_in = time.monotonic() - began
        worked_around = _drive_connection_form(api_server, tmp_path)
    with capsys.disabled():
        print(
            f"\n[browser] connection form test: {time.monotonic() - began:.1f} s wall time "
            f"(db migrate + api-server ready in {ready_in:.1f} s); screenshots in {ARTIFACTS}"
        )
        if worked_around:
            print(
                f"[browser] Airflow's Test button sent port 0 and got 400 {worked_around[0]}; "
                "resent with port null (apache/airflow#73298)"
            )


def _drive_connection_form(api_server: AirflowCluster, tmp_path: Path) -> list[str]:
    """The whole browser session; returns the API answers that needed the port workaround."""
    from playwright.sync_api import Locator, Page, Request, Route, expect, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    expect.set_options(timeout=UI_TIMEOUT_MS)
    worked_around: list[str] = []

    def settle(page: Page) -> None:
        """Let toasts and accordions finish animating (at most 3 s) so screenshots show them whole."""
        with contextlib.suppress(PlaywrightTimeoutError):
            page.wait_for_function(
                "() => document.getAnimations().every(a => a.playState !== 'running' || a.effect?.getTiming()"
                ".iterations === Infinity)",
                timeout=3000,
            )

    def shoot(page: Page, name: str) -> Path:
        settle(page)
        path = ARTIFACTS / name
        page.screenshot(path=str(path))
        return path

    def portless_test_fix(route: Route, request: Request) -> None:
        """Pass the Test request through; only on Airflow's port-0 answer, resend it with ``port: null``."""
        response = route.fetch(timeout=UI_TIMEOUT_MS)
        body = json.loads(request.post_data or "{}")
        if response.status == 400 and PORTLESS_TEST_BUG in response.text() and body.get("port") == 0:
            worked_around.append(response.text())
            body["port"] = None
            response = route.fetch(post_data=json.dumps(body), timeout=UI_TIMEOUT_MS)
        route.fulfill(response=response)

    def choose_service(dialog: Locator, chosen: str, preselected: str) -> None:
        """Open the Service dropdown: exactly the two services, ``preselected`` marked; pick ``chosen``."""
        label = EXTRA_FIELDS["service"]["label"]
        group = dialog.get_by_role("group").filter(has=page.get_by_text(label, exact=True))
        service = group.get_by_role("combobox", name=label, exact=True)
        value = group.locator("input[name='element_service']")  # what Save reads
        expect(service).to_be_visible()
        # 3.3's dropdown input has no aria-describedby: the description is found as text of the field's group.
        expect(group.get_by_text(EXTRA_FIELDS["service"]["description"], exact=True)).to_be_visible()
        expect(value).to_have_value(preselected)
        service.click()
        listbox = group.get_by_role("listbox")
        expect(listbox.get_by_role("option")).to_have_text(SERVICES)
        expect(listbox.get_by_role("option", selected=True)).to_have_text([preselected])
        listbox.get_by_role("option", name=chosen, exact=True).click()
        expect(listbox).to_have_count(0)
        expect(value).to_have_value(chosen)

    with (
        RiffusionEmulator(token=TOKEN, user_ids=("user-1",)) as emulator,
        RiffusionEmulator(token=TOKEN, service="flowmusic", emails=(FLOW_EMAIL,)) as flow_emulator,
        sync_playwright() as playwright,
    ):
        assert flow_emulator.base_url.endswith("/v1/flowmusic"), flow_emulator.base_url
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh --user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 1000},
            timeout=UI_TIMEOUT_MS * 2,
        )
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.set_default_navigation_timeout(UI_TIMEOUT_MS * 2)
        page.route("**/api/v2/connections/test", portless_test_fix)
        try:
            # -- the empty form, with our connection type chosen --
            page.goto(f"{api_server.api_url}/connections")
            page.get_by_role("button", name="Add Connection").click()
            dialog = page.get_by_role("dialog")
            expect(dialog.get_by_role("heading", name="Add Connection")).to_be_visible()
            conn_type = dialog.get_by_role("combobox", name="Connection Type")
            conn_type.click()
            conn_type.fill("Riffusion")
            page.get_by_role("option", name=HOOK_NAME, exact=True).click()
            expect(dialog.get_by_text(HOOK_NAME, exact=True)).to_be_visible()

            standard = dialog.get_by_role("region", name="Standard Fields")
            expect(standard).to_be_visible()
            base_url = standard.get_by_role("textbox", name="Base URL", exact=True)
            token = standard.get_by_role("textbox", name="API token", exact=True)
            expect(base_url).to_be_visible()
            expect(base_url).to_have_attribute("placeholder", HOST_PLACEHOLDER)
            expect(base_url).to_have_value("")
            expect(token).to_be_visible()
            expect(token).to_have_attribute("type", "password")
            token_placeholder = UI_FIELD_BEHAVIOUR["placeholders"]["password"]
            assert "required" in token_placeholder.lower(), token_placeholder
            expect(token).to_have_attribute("placeholder", token_placeholder)
            # Relabelled, not duplicated; login, schema and port hidden.
            for name in ("Host", "Password", "Login", "Schema", "Port"):
                expect(dialog.get_by_role("textbox", name=name, exact=True)).to_have_count(0)
                expect(dialog.get_by_role("spinbutton", name=name, exact=True)).to_have_count(0)
                expect(dialog.get_by_text(name, exact=True)).to_have_count(0)
            shoot(page, "01-type-selected.png")

            # -- filled to point at the emulator --
            dialog.get_by_role("textbox", name="Connection ID").fill(CONN_ID)
            base_url.fill(emulator.base_url)
            token.fill(TOKEN)
            expect(dialog.get_by_role("button", name="Save")).to_be_enabled()
            shoot(page, "02-standard-fields-filled.png")
            settle(page)
            dialog.screenshot(path=str(ARTIFACTS / "connection-form.png"))
            if os.environ.get("RIFFUSION_UPDATE_DOCS") == "1":
                shutil.copyfile(ARTIFACTS / "connection-form.png", DOCS_SCREENSHOT)

            dialog.get_by_role("button", name="Extra Fields", exact=True).click()
            extras = dialog.get_by_role("region").filter(has=page.get_by_text(EXTRA_FIELDS["user_id"]["label"]))
            # Airflow 3.3's string extra field's <label for> misses its <input id>, so find it by its group.
            user_id = (
                extras.get_by_role("group")
                .filter(has=page.get_by_text(EXTRA_FIELDS["user_id"]["label"], exact=True))
                .get_by_role("textbox")
            )
            timeout = extras.get_by_role("spinbutton", name=EXTRA_FIELDS["timeout"]["label"], exact=True)
            for field_name, widget in (("user_id", user_id), ("timeout", timeout)):
                expect(widget).to_be_visible()
                expect(widget).to_have_attribute("name", f"element_{field_name}")
                expect(widget).to_have_accessible_description(EXTRA_FIELDS[field_name]["description"])
                expect(extras.get_by_text(EXTRA_FIELDS[field_name]["description"], exact=True)).to_be_visible()
            choose_service(dialog, "riffusion", preselected="riffusion")
            user_id.fill("user-1")
            timeout.fill("5")
            shoot(page, "03-extra-fields-filled.png")

            dialog.get_by_role("button", name="Save").click()
            expect(dialog).to_have_count(0)
            row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=CONN_ID, exact=True))
            expect(row).to_have_count(1)
            saved = api_server.get_json(f"/api/v2/connections/{CONN_ID}")
            assert saved["conn_type"] == "riffusion"
            assert saved["host"] == emulator.base_url
            assert saved["login"] in (None, "") and saved["schema"] in (None, "") and saved["port"] is None
            assert json.loads(saved["extra"]) == {"service": "riffusion", "user_id": "user-1", "timeout": 5}
            assert TOKEN not in json.dumps(saved), "the API handed the stored token back"

            # -- Test with the right token --
            toasts = page.get_by_role("region", name="Notifications", exact=False)
            row.get_by_role("button", name="Test Connection").click()
            success = toasts.get_by_role("status").filter(has_text="Test Connection Successful")
            expect(success).to_be_visible()
            expect(success).to_have_attribute("data-type", "success")
            expect(success).to_contain_text(f"Connected to {emulator.base_url}")
            expect(success).to_contain_text("1 Riffusion account(s) configured")
            shoot(page, "04-test-success.png")
            assert any(r["path"].endswith("/accounts") and r["status"] == 200 for r in emulator.requests), (
                emulator.requests
            )

            # -- edit in a wrong token, Test again --
            row.get_by_role("button", name="Edit Connection").click()
            dialog = page.get_by_role("dialog")
            expect(dialog.get_by_role("heading", name="Edit Connection")).to_be_visible()
            token = dialog.get_by_role("textbox", name="API token", exact=True)
            expect(token).to_have_value("***")  # redacted, never the stored token
            token.fill(WRONG_TOKEN)
            dialog.get_by_role("button", name="Save").click()
            expect(dialog).to_have_count(0)
            row.get_by_role("button", name="Test Connection").click()
            failure = toasts.get_by_role("status").filter(has_text="Test Connection Failed")
            expect(failure).to_be_visible()
            expect(failure).to_have_attribute("data-type", "error")
            expect(failure).to_contain_text("refused the token")
            expect(failure).to_contain_text("HTTP 401")
            shoot(page, "05-test-failure.png")
            assert any(r["path"].endswith("/accounts") and r["status"] == 401 for r in emulator.requests), (
                emulator.requests
            )

            # -- a Flow Music connection: flowmusic picked in the Service dropdown, Test against its emulator --
            # The Test toasts sit over the lower corner of a tall dialog, where its Save button is: wait until
            # they have gone (the pointer off them, as a toast stays while hovered), as a user would.
            page.mouse.move(0, 0)
            expect(toasts.get_by_role("status")).to_have_count(0, timeout=UI_TIMEOUT_MS * 4)
            page.get_by_role("button", name="Add Connection").click()
            dialog = page.get_by_role("dialog")
            expect(dialog.get_by_role("heading", name="Add Connection")).to_be_visible()
            conn_type = dialog.get_by_role("combobox", name="Connection Type")
            conn_type.click()
            conn_type.fill("Riffusion")
            page.get_by_role("option", name=HOOK_NAME, exact=True).click()
            expect(dialog.get_by_text(HOOK_NAME, exact=True)).to_be_visible()
            dialog.get_by_role("textbox", name="Connection ID").fill(FLOW_CONN_ID)
            standard = dialog.get_by_role("region", name="Standard Fields")
            standard.get_by_role("textbox", name="Base URL", exact=True).fill(flow_emulator.base_url)
            standard.get_by_role("textbox", name="API token", exact=True).fill(TOKEN)
            dialog.get_by_role("button", name="Extra Fields", exact=True).click()
            choose_service(dialog, "flowmusic", preselected="riffusion")
            extras = dialog.get_by_role("region").filter(has=page.get_by_text(EXTRA_FIELDS["user_id"]["label"]))
            extras.get_by_role("group").filter(
                has=page.get_by_text(EXTRA_FIELDS["user_id"]["label"], exact=True)
            ).get_by_role("textbox").fill(FLOW_EMAIL)
            extras.get_by_role("spinbutton", name=EXTRA_FIELDS["timeout"]["label"], exact=True).fill("5")
            shoot(page, "06-flowmusic-chosen.png")
            dialog.get_by_role("button", name="Save").click()
            expect(dialog).to_have_count(0)
            flow_row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=FLOW_CONN_ID, exact=True))
            expect(flow_row).to_have_count(1)
            saved = api_server.get_json(f"/api/v2/connections/{FLOW_CONN_ID}")
            assert saved["conn_type"] == "riffusion" and saved["host"] == flow_emulator.base_url, saved
            assert json.loads(saved["extra"]) == {"service": "flowmusic", "user_id": FLOW_EMAIL, "timeout": 5}
            assert TOKEN not in json.dumps(saved), "the API handed the stored token back"

            flow_row.get_by_role("button", name="Test Connection").click()
            flow_success = toasts.get_by_role("status").filter(has_text=f"Connected to {flow_emulator.base_url}")
            expect(flow_success).to_be_visible()
            expect(flow_success).to_have_attribute("data-type", "success")
            expect(flow_success).to_contain_text("Test Connection Successful")
            expect(flow_success).to_contain_text("1 Flow Music account(s) configured")
            shoot(page, "07-flowmusic-test-success.png")
            assert any(r["path"] == "/v1/flowmusic/accounts" and r["status"] == 200 for r in flow_emulator.requests), (
                flow_emulator.requests
            )

            # -- reopened, the connection still shows flowmusic chosen --
            flow_row.get_by_role("button", name="Edit Connection").click()
            dialog = page.get_by_role("dialog")
            expect(dialog.get_by_role("heading", name="Edit Connection")).to_be_visible()
            dialog.get_by_role("button", name="Extra Fields", exact=True).click()
            choose_service(dialog, "flowmusic", preselected="flowmusic")
            shoot(page, "08-flowmusic-reopened.png")
            dialog.get_by_role("button", name="Close").click()
            expect(dialog).to_have_count(0)

            text, html = page.locator("body").inner_text(), page.content()
            for secret in (WRONG_TOKEN, TOKEN):
                assert secret not in text, f"a token is shown on the page:\n{text}"
                assert secret not in html, "a token is in the page's HTML"
        except BaseException:
            try:
                shoot(page, "failure.png")
            finally:
                print(f"api-server output (last lines):\n{api_server.diagnostics()}")
            raise
        finally:
            context.close()

    return worked_around


def _cli_connections_test(tmp_path: Path, connection: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "airflow-home"
    dags = tmp_path / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    env = airflow_env(
        home,
        dags,
        {
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW_CONN_RIFFUSION_DEFAULT": json.dumps(connection),
            "TMPDIR": str(tmp_path),
        },
    )
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    try:
        return subprocess.run(
            [airflow_executable(), "connections", "test", "riffusion_default"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=90,
        )
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"`airflow connections test` did not finish in 90 s:\n{error.stdout!r}") from None


@pytest.mark.airflow_cli
def test_cli_connections_test(tmp_path: Path) -> None:
    if shutil.which(airflow_executable()) is None:
        pytest.skip("no `airflow` command next to this interpreter")
    with RiffusionEmulator(token=TOKEN) as emulator:
        connection = {"conn_type": "riffusion", "password": TOKEN, "host": emulator.base_url, "extra": {"timeout": 5}}
        good = _cli_connections_test(tmp_path / "good", connection)
        output = good.stdout + good.stderr
        assert good.returncode == 0, output
        assert "Connection success!" in output, output
        assert any(r["path"].endswith("/accounts") and r["status"] == 200 for r in emulator.requests)

        bad = _cli_connections_test(tmp_path / "bad", {**connection, "password": WRONG_TOKEN})
        output = bad.stdout + bad.stderr
        assert "Connection failed!" in output, output
        assert "refused the token" in output, output
        assert WRONG_TOKEN not in output and TOKEN not in output, output
        if _airflow_version() >= (3, 3, 2):  # earlier releases exit 0 even when the test failed
            assert bad.returncode != 0, output
