"""
The admin in a real browser: Chromium driven by Playwright.

The tests serve the example project with ``runserver`` on a free port, on
its own SQLite database in a temporary directory, so they run the same on
every ``BATCHRUN_TEST_DB`` and are run only once, on the sqlite leg.

``BROWSER_TESTS`` says what to do without Chromium at /usr/bin/chromium:
``auto`` (the default) skips these tests, ``required`` fails them, and
``off`` skips them even where Chromium is installed.  Screenshots of the
pages go to ``artifacts/``.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-test-password"

# What the job run by the tests prints: a progress bar, stderr, and markup
# that must show as text.
JOB_CODE = r"""
import sys, time
print("Reading rents for 2030-01", flush=True)
for percent in range(0, 101, 25):
    sys.stdout.write(f"\rprogress {percent:3d}%")
    sys.stdout.flush()
    time.sleep(0.05)
print(flush=True)
time.sleep(0.1)
print("warning: 3 rents have no contract", file=sys.stderr, flush=True)
time.sleep(0.1)
print("<script>window.pwned = 1</script>", flush=True)
print('<img src=x onerror="window.pwned = 2">', flush=True)
for number in range(1, 6):
    print(f"rent {number}: invoiced {number * 120} EUR", flush=True)
print("Done: 5 invoices", flush=True)
"""

pytestmark = pytest.mark.browser


def _require_browser() -> None:
    mode = os.environ.get("BROWSER_TESTS", "auto")
    if mode == "off":
        pytest.skip("Browser tests are off (BROWSER_TESTS=off).")
    if os.environ.get("BATCHRUN_TEST_DB", "sqlite") != "sqlite":
        pytest.skip(
            "Browser tests use their own SQLite database; they run on the "
            "sqlite leg only."
        )
    if not CHROMIUM.exists():
        reason = f"Chromium not found at {CHROMIUM}"
        if mode == "required":
            pytest.fail(f"{reason}, and BROWSER_TESTS=required.")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _example_env(database: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # Set by pytest-django and the test settings, not for the example.
        if key not in {"DJANGO_SETTINGS_MODULE", "BATCHRUN_TEST_SUBPROCESS"}
    }
    env["EXAMPLE_DB"] = str(database)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return env


def _manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "example" / "manage.py"), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Serve the example project; return its base URL and environment."""
    _require_browser()
    directory = tmp_path_factory.mktemp("example")
    env = _example_env(directory / "example.sqlite3")
    _manage(env, "migrate", "--noinput", "-v", "0")
    _manage(
        {**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
        "createsuperuser",
        "--noinput",
        "--username",
        "admin",
        "--email",
        "admin@example.com",
    )
    port = _free_port()
    log = (directory / "runserver.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "example" / "manage.py"),
            "runserver",
            "--noreload",
            f"127.0.0.1:{port}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=directory,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_http(f"{base_url}/admin/login/", process)
        yield base_url, env
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _wait_for_http(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"runserver exited with status {process.returncode}.")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"runserver did not answer at {url} within {timeout} s.")


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def _logged_in_page(browser, base_url: str, color_scheme: str = "light"):
    context = browser.new_context(
        base_url=base_url,
        color_scheme=color_scheme,
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/**")
    assert page.locator("#user-tools").count() == 1
    return page


@pytest.fixture
def page(browser, server):
    page = _logged_in_page(browser, server[0])
    yield page
    page.context.close()


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_command_job_and_schedule_are_created_through_the_forms(page):
    page.goto("/admin/batchrun/command/add/")
    page.fill("#id_name", "/bin/echo")
    page.fill("#id_parameter_format_string", "--rent-id {rent_id}")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    page.goto("/admin/batchrun/job/add/")
    page.fill("#id_name", "invoice rents")
    page.select_option("#id_command", label="/bin/echo --rent-id {rent_id}")
    page.fill("#id_arguments", "{}")
    page.click("input[name=_save]")
    missing = page.locator(".field-arguments .errorlist").inner_text()
    page.fill("#id_arguments", '{"rent_id": 7}')
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    page.goto("/admin/batchrun/scheduledjob/add/")
    page.select_option("#id_job", label="invoice rents")
    page.fill("#id_timezone", "Europe/Helsinki")
    page.fill("#id_weekdays", "1-5")
    page.fill("#id_hours", "25")
    page.fill("#id_minutes", "0,30")
    page.click("input[name=_save]")
    hours_error = page.locator(".field-hours .errorlist").inner_text()
    other_errors = page.locator(".errorlist").count()
    page.fill("#id_hours", "2")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    assert missing == "Argument rent_id is missing; the command uses {rent_id}."
    assert "Invalid part '25' in hours specifier '25'" in hours_error
    assert "values must be in 0-23" in hours_error
    assert other_errors == 1
    row = page.locator("#result_list tbody tr", has_text="invoice rents")
    assert row.locator(".field-rule").inner_text() == (
        "at 02:00 and 02:30, on weekdays, Europe/Helsinki"
    )


def test_schedule_page_previews_the_next_ten_events_live(page):
    page.goto("/admin/batchrun/command/add/")
    page.fill("#id_name", "/bin/true")
    page.click("input[name=_save]")
    page.goto("/admin/batchrun/job/add/")
    page.fill("#id_name", "nightly cleanup")
    page.select_option("#id_command", label="/bin/true")
    page.click("input[name=_save]")
    page.goto("/admin/batchrun/scheduledjob/add/")
    page.select_option("#id_job", label="nightly cleanup")
    page.fill("#id_timezone", "Europe/Helsinki")
    page.fill("#id_hours", "3")
    page.fill("#id_minutes", "30")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    page.locator("#result_list tbody tr", has_text="nightly cleanup").locator(
        "th a"
    ).click()

    rows = page.locator("table.batchrun-preview tbody tr")
    first = rows.first.locator("td").first.inner_text()
    count = rows.count()
    page.fill("#id_minutes", "45")
    page.wait_for_function(
        "() => document.querySelector('table.batchrun-preview td')"
        ".textContent.includes('03:45')"
    )
    page.fill("#id_hours", "24")
    page.wait_for_selector("#batchrun-preview .batchrun-preview-error")
    error = page.locator("#batchrun-preview .batchrun-preview-error").inner_text()
    page.fill("#id_hours", "3")
    page.fill("#id_minutes", "30")
    page.wait_for_selector("table.batchrun-preview")
    _screenshot(page, "schedule_preview.png")
    # The last Sundays of March and October: clocks go forward, then back.
    for field, value in [
        ("years", "2099"),
        ("months", "3,10"),
        ("days_of_month", "25-31"),
        ("weekdays", "0"),
        ("hours", "2,3"),
    ]:
        page.fill(f"#id_{field}", value)
    page.wait_for_selector("tr.batchrun-event-repeated")
    dst_rows = page.locator("table.batchrun-preview tbody tr").all_inner_texts()
    _screenshot(page, "schedule_preview_dst.png")

    assert count == 10
    assert re.fullmatch(r"\w{3} \d{4}-\d\d-\d\d 03:30\+0[23]:00", first), first
    assert "values must be in 0-23" in error
    assert [" ".join(row.split()) for row in dst_rows] == [
        "Sun 2099-03-29 02:30+02:00 2099-03-29 00:30",
        "Sun 2099-03-29 04:30+03:00 2099-03-29 01:30 moved 03:30 does not "
        "exist that day: clocks go forward",
        "Sun 2099-10-25 02:30+03:00 2099-10-24 23:30",
        "Sun 2099-10-25 03:30+03:00 2099-10-25 00:30",
        "Sun 2099-10-25 03:30+02:00 2099-10-25 01:30 repeated 03:30 "
        "occurs twice that day: clocks go back",
    ]


@pytest.fixture(scope="module")
def printing_job(server):
    """Create a job that runs Python printing JOB_CODE; return its id."""
    _, env = server
    script = (
        "import json, sys\n"
        "from batchrun.models import Command, Job\n"
        "command = Command.objects.create(name=sys.executable, "
        "parameter_format_string='-c {code}')\n"
        "job = Job.objects.create(name='print report', command=command, "
        f"arguments={{'code': {JOB_CODE!r}}})\n"
        "print(json.dumps(job.pk))\n"
    )
    return json.loads(_manage(env, "shell", "-c", script).strip().splitlines()[-1])


def _run_now(page, job_id: int) -> None:
    page.goto(f"/admin/batchrun/job/{job_id}/change/")
    _screenshot(page, "job_page.png")
    page.click("button:has-text('Run now')")
    page.wait_for_url("**/admin/batchrun/jobrun/*/change/")
    deadline = time.monotonic() + 30
    badge = page.locator("dl.batchrun-summary .batchrun-badge")
    while "batchrun-status-running" in badge.get_attribute("class"):
        if time.monotonic() > deadline:
            pytest.fail("The run did not finish within 30 s.")
        time.sleep(0.3)
        page.reload()


def test_run_now_shows_the_output_as_text_with_streams(browser, server, printing_job):
    page = _logged_in_page(browser, server[0])
    _run_now(page, printing_job)

    status = page.locator("dl.batchrun-summary .batchrun-badge").inner_text()
    lines = page.locator(".batchrun-terminal .batchrun-line")
    texts = lines.locator(".batchrun-text").all_inner_texts()
    stderr = page.locator(".batchrun-line-stderr .batchrun-text").all_inner_texts()
    pwned = page.evaluate("() => window.pwned === undefined")
    injected = page.locator(".batchrun-terminal script, .batchrun-terminal img").count()
    times = lines.locator("time").all_inner_texts()
    _screenshot(page, "run_page.png")
    dark = _logged_in_page(browser, server[0], color_scheme="dark")
    dark.goto(page.url)
    _screenshot(dark, "run_page_dark.png")
    dark.context.close()
    page.goto("/admin/batchrun/jobrun/")
    _screenshot(page, "run_list.png")
    page.context.close()

    assert status == "succeeded"
    assert texts[0] == "Reading rents for 2030-01"
    assert texts[1].startswith("progress 100%")
    assert "<script>window.pwned = 1</script>" in texts
    assert '<img src=x onerror="window.pwned = 2">' in texts
    assert texts[-1] == "Done: 5 invoices"
    assert stderr == ["warning: 3 rents have no contract"]
    assert pwned is True
    assert injected == 0
    assert all(len(time_text) == 8 for time_text in times)


def test_output_downloads_as_the_bytes_printed(browser, server, printing_job):
    page = _logged_in_page(browser, server[0])
    _run_now(page, printing_job)

    downloads = {}
    links = {
        "all": "output.txt",
        "stdout": "output.txt?stream=stdout",
        "stderr": "output.txt?stream=stderr",
    }
    for link, href_end in links.items():
        with page.expect_download() as download_info:
            page.click(f".batchrun-downloads a[href$='{href_end}']")
        download = download_info.value
        downloads[link] = (
            download.suggested_filename,
            Path(download.path()).read_bytes(),
        )
    page.context.close()

    expected = subprocess.run(
        [sys.executable, "-c", JOB_CODE], capture_output=True, timeout=30, check=True
    )
    assert downloads["stdout"][1] == expected.stdout
    assert downloads["stderr"][1] == expected.stderr
    name, data = downloads["all"]
    assert name.startswith("run-")
    assert name.endswith(".txt")
    assert downloads["stdout"][0] == name.replace(".txt", "-stdout.txt")
    # Both streams, each in its own order, interleaved as they were read.
    assert sorted(data.split(b"\n")) == sorted(
        (expected.stdout + expected.stderr).split(b"\n")
    )
