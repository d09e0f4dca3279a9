"""`trainkit ui` in a real headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium), offline, on a workspace of real runs: a finished one and its second model version, a
running one whose console follows live, a failed one, and a 4-trial Optuna search with a pruned
trial. Each page is checked for what a person would see and for errors in the browser console (a
script or style the content security policy refuses is one), read once the page's own scripts
said they finished and again at the end of each test; screenshots are kept in test-artifacts/ui/."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from trainkit.numfmt import number

from ..conftest import FASHION, ROOT, run_cli, run_trainkit
from .clusters import wait_for

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist"),
              pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                                 reason="needs Debian's chromium and chromium-driver (scripts/setup.sh installs them)")]
SHOTS = ROOT / "test-artifacts" / "ui"
TICKER = ["entry=script", f"entry.source_dir={ROOT / 'tests' / 'scripts'}", "entry.script=ticker.py",
          "entry.model_path=null"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Real runs in a workspace of this module's own; what each is."""
    ws = tmp_path_factory.mktemp("ui") / "ws"
    env = {"TRAINKIT_WORKSPACE": str(ws)}
    out = {}
    for i in (1, 2):   # two versions of one model
        proc = run_trainkit(["+debug=smoke", "run.experiment=shown", f"trainer.seed={i}"], env=env)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        out[f"finished{i}"] = proc.stdout.split("run ")[1].split()[0]
    failed = run_trainkit([*TICKER, 'entry.arguments=["--seconds","1","--fail"]', "run.experiment=broken"], env=env)
    assert failed.returncode != 0
    out["failed"] = failed.stdout.split("run ")[1].split()[0]
    sweep = run_trainkit(["-m", "+debug=smoke", "+hparams_search=smoke_optuna", "hydra.sweeper.n_trials=4",
                          "run.experiment=search"], env=env, timeout=900)
    assert sweep.returncode == 0, sweep.stdout[-2000:] + sweep.stderr[-2000:]
    running = run_trainkit([*TICKER, 'entry.arguments=["--seconds","240"]', "compute.wait=false",
                            "run.experiment=live"], env=env)
    assert running.returncode == 0, running.stderr
    out["running"] = running.stdout.split("submitted job ")[1].split()[0]
    yield ws, out
    run_cli(["jobs", "cancel", out["running"]], env=env)


@pytest.fixture(scope="module")
def ui(runs):
    ws, _ = runs
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "trainkit.cli", "--workspace", str(ws), "ui", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return urllib.request.urlopen(url + "/api/experiments", timeout=2).status == 200
        except OSError:
            return False

    wait_for(up, 30, "trainkit ui to answer")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(shutil.which("chromedriver")))
    driver.set_page_load_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def console_errors(browser) -> list[dict]:
    """Errors in the browser's console since the last look (reading the log empties it)."""
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def visit(browser, url: str, shot: str) -> str:
    """Open a page, wait until its scripts say they are done (app.js sets <body data-ready>); no
    error in the browser console; a screenshot kept; the page's text."""
    browser.get(url)
    wait_for(lambda: browser.execute_script("return document.readyState === 'complete' && "
                                            "document.body.hasAttribute('data-ready')"), 20, f"{url} to be ready")
    errors = console_errors(browser)
    browser.save_screenshot(str(SHOTS / f"{shot}.png"))
    assert not errors, errors
    return browser.find_element("tag name", "body").text


@pytest.fixture(autouse=True)
def clean_console_at_the_end(runs, ui, browser):
    """Whatever a test did last (a click, a live update) left no error in the console either (the
    browser is started after the server, so it closes its live streams first)."""
    console_errors(browser)
    yield
    assert not console_errors(browser)


def test_runs_table_experiments_and_compare(runs, ui, browser):
    _, ids = runs
    text = visit(browser, ui + "/", "experiments")
    assert "shown" in text and "search" in text and "broken" in text
    text = visit(browser, ui + "/runs", "runs")
    for key in ("finished1", "finished2", "failed", "running"):
        assert ids[key] in text
    assert "failed" in text and "running" in text and "pruned" in text
    finished = json.loads(run_cli(["--workspace", str(runs[0]), "runs", "show", ids["finished1"], "--json"]).stdout)
    assert number(finished["metrics"]["test_accuracy"]) in text
    text = visit(browser, ui + "/runs?filter=" + "metrics.test_accuracy%20%3E%200", "runs-filtered")
    assert ids["failed"] not in text and ids["finished1"] in text
    for key in ("finished1", "finished2"):   # found and clicked in one script: a 5 s refresh may replace the table
        browser.execute_script("document.querySelector(arguments[0]).click()", f"input.pick[value='{ids[key]}']")
    browser.execute_script("document.getElementById('compare').click()")
    wait_for(lambda: browser.find_elements("css selector", "#charts .uplot"), 15, "the compare charts")
    text = visit(browser, browser.current_url, "compare")
    assert "trainer.seed" in text and ids["finished1"] in text and ids["finished2"] in text
    assert text.index("differing overrides") < text.index("Curves")           # what differs comes first
    legends = " ".join(el.text for el in browser.find_elements("css selector", "#charts .u-legend"))
    assert "trainer.seed=1" in legends and "trainer.seed=2" in legends and ids["finished1"] not in legends
    ticks = browser.execute_script("return trainkit.charts[0].axes[0]._splits")   # the x ticks drawn (uPlot's record)
    assert ticks and all(float(t).is_integer() for t in ticks), ticks          # whole epochs, never 1.5
    wait_for(lambda: browser.find_elements("css selector", "#scatter .uplot"), 15, "the metric-against-parameter chart")
    assert "against trainer.seed" in browser.find_element("id", "scatter").text


def test_a_run_page_has_charts_config_files_and_lineage(runs, ui, browser):
    _, ids = runs
    text = visit(browser, f"{ui}/runs/{ids['finished2']}", "run")
    wait_for(lambda: browser.find_elements("css selector", "#charts .uplot canvas"), 15, "a rendered chart")
    assert "val_accuracy" in text and "shown:2" in text and "dataset fashion_mnist v1" in text
    assert "outputs/model/model.keras" in text and "limit_train: 3000" in browser.page_source   # config: collapsed
    assert text.index("Charts") < text.index("Metrics") < text.index("Files") < text.index("Source")
    facts = browser.find_element("css selector", "#run-metrics .facts").text                 # bookkeeping apart
    assert "epochs_completed" in facts and "epochs_completed" not in browser.find_element("css selector", "table.metrics").text
    img = browser.find_element("css selector", "img.preview[alt='curves.png']")
    wait_for(lambda: browser.execute_script("return arguments[0].naturalWidth", img) > 0, 10, "the curves.png preview")
    assert "KB" in browser.find_element("id", "run-files").text                                 # files with sizes
    assert browser.find_elements("css selector", "#run-env table.environment") and "packages" in text
    wait_for(lambda: browser.find_elements("css selector", "#system .uplot"), 10, "the system metrics charts")
    assert "CPU and GPU use" in browser.find_element("id", "system").text                      # recorded by the worker
    browser.find_element("id", "logy").click()
    assert browser.execute_script("return trainkit.charts[0].scales.y.distr") == 3             # loss on a log axis
    browser.find_element("id", "logy").click()
    wait_for(lambda: "registered shown:2" in browser.find_element("id", "console").text, 15, "the console")
    link = browser.find_element("link text", "outputs/metrics.json").get_attribute("href")
    assert json.loads(urllib.request.urlopen(link).read())["test_accuracy"] > 0
    text = visit(browser, f"{ui}/runs/{ids['failed']}", "run-failed")
    assert "failed" in text and "failing on purpose" in text


def test_the_console_of_a_running_run_follows_it_live(runs, ui, browser):
    _, ids = runs
    visit(browser, f"{ui}/runs/{ids['running']}", "run-live")
    console = browser.find_element("id", "console")
    wait_for(lambda: "tick" in console.text, 20, "the first lines")
    seen = int(console.text.split("tick ")[-1].split()[0])
    wait_for(lambda: int(console.text.split("tick ")[-1].split()[0]) > seen + 3, 20, "new lines while the run writes")
    assert browser.find_element("id", "live").text == "live"
    last = lambda: browser.execute_script("var h = trainkit.history; return h && h.series.tick ? "  # noqa: E731
                                          "h.series.tick.steps[h.series.tick.steps.length - 1] : -1")
    first = last()
    wait_for(lambda: last() > first + 5, 20, "the chart's history to grow while the run logs")
    asked = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"
                                   ".filter(n => n.indexOf('/history') >= 0)")
    assert "since=0" not in asked[-1] and "since=" in asked[-1], asked      # only what was appended


def test_a_run_opened_before_its_first_metric_goes_live_and_the_runs_table_follows_its_state(runs, ui, browser):
    """Opened while the run is silent: charts, metrics and status come in without a reload; the
    runs table, open while another run goes on, shows it completed without a reload."""
    ws, _ = runs
    env = {"TRAINKIT_WORKSPACE": str(ws)}

    def submit(arguments: str) -> str:
        proc = run_trainkit([*TICKER, f"entry.arguments={arguments}", "compute.wait=false", "run.experiment=late"],
                            env=env)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split("submitted job ")[1].split()[0]

    run_id = submit('["--seconds","6","--delay","12"]')   # silent long enough for a loaded machine to open the page
    browser.get(f"{ui}/runs/{run_id}")
    wait_for(lambda: browser.execute_script("return document.body.hasAttribute('data-ready')"), 20, "the run page")
    # read in one script: the parts are replaced on each refresh, so a held element can go stale
    status = lambda: browser.execute_script("return document.getElementById('run-head').dataset.status")  # noqa: E731
    part = lambda i: browser.execute_script(f"return document.getElementById('{i}').innerText")  # noqa: E731
    assert status() in ("queued", "running")
    assert not browser.find_elements("css selector", "#charts .uplot canvas"), "a chart before any metric"
    wait_for(lambda: browser.find_elements("css selector", "#charts .uplot canvas"), 60, "the first chart")
    wait_for(lambda: status() == "completed", 90, "the status to turn completed")
    assert "completed" in part("run-head") and "tick" in part("run-metrics")
    browser.save_screenshot(str(SHOTS / "run-live-from-the-start.png"))

    other = submit('["--seconds","15"]')
    browser.get(f"{ui}/runs")
    row = lambda: browser.execute_script(  # noqa: E731
        "var a = Array.from(document.querySelectorAll('#runs-table a')).find(x => x.textContent === arguments[0]);"
        "return a ? a.closest('tr').innerText : '';", other)
    assert "completed" not in row()
    wait_for(lambda: "completed" in row(), 90, "the runs table to show the run completed")


def test_every_answer_has_a_content_security_policy_and_another_host_name_gets_nothing(runs, ui):
    with urllib.request.urlopen(ui + "/runs") as res:
        assert "default-src 'self'" in res.headers["Content-Security-Policy"]
    req = urllib.request.Request(ui + "/api/runs", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req)
    assert refused.value.code == 400


def test_sweep_models_and_jobs_pages(runs, ui, browser):
    ws, ids = runs
    sweep = json.loads(run_cli(["--workspace", str(ws), "sweeps", "list", "--json"]).stdout)[0]["sweep"]
    text = visit(browser, f"{ui}/sweeps/{sweep}", "sweep")
    assert "pruned" in text and "best trial" in text and "by val_accuracy (max)" in text   # the search's objective
    assert browser.find_elements("css selector", "svg.parallel polyline.trial-pruned[stroke-dasharray]")
    axes = browser.find_elements("css selector", "svg.parallel g.axis")
    assert len(axes) >= 2 and all(a.find_elements("css selector", "text.tick") for a in axes)   # every axis has values
    fits = browser.execute_script("var s = document.querySelector('svg.parallel'), w = s.viewBox.baseVal.width;"
                                  "return Array.from(s.querySelectorAll('text')).every(t => { var b = t.getBBox();"
                                  " return b.x >= 0 && b.x + b.width <= w; });")
    assert fits, "an axis label or tick runs off the chart"
    wait_for(lambda: browser.find_elements("css selector", "#charts .uplot"), 15, "the trials' curves")
    legend = browser.find_elements("css selector", "#charts .u-legend .u-series")
    assert len(legend) == 1 + 4, [el.text for el in legend]                      # x, then one curve per trial
    trials = len(browser.find_elements("css selector", "svg.parallel polyline.trial"))
    from selenium.webdriver import ActionChains

    brush = browser.find_elements("css selector", "svg.parallel g.brushes rect.brush")[-1]   # the objective's axis
    height = brush.size["height"]
    ActionChains(browser).move_to_element_with_offset(brush, 0, -height // 2 + 2).click_and_hold() \
        .move_by_offset(0, height // 3).release().perform()                   # from past its top down a third: the best
    kept = browser.execute_script("return trainkit.kept")
    assert 0 < kept < trials, (kept, trials)
    assert len(browser.find_elements("css selector", "svg.parallel polyline.dim")) == trials - kept
    ActionChains(browser).click(brush).perform()                              # a click clears the range
    assert browser.execute_script("return trainkit.kept") == trials
    text = visit(browser, ui + "/models", "models")
    assert "shown" in text and "trainkit models serve shown:2" in text and ids["finished1"] in text
    assert "trainkit models serve search:1" in text and "search:2" not in text  # the search registered once
    text = visit(browser, ui + "/jobs", "jobs")
    assert ids["running"] in text and "local" in text
