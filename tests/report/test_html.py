"""The HTML report: files, sections, escaping, methods, atomic writing.

In headless Chromium: no console errors, no network request, working search and sort, no script
injection from sample names, a non-blank rendering (skipped only where Chromium is not installed).
"""

from __future__ import annotations

import io
import os
import re
import shutil

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError

HOSTILE = "<script>alert(1)</script>"  # the first protein sample (see conftest.py)


def test_report_and_tables_written(built, study):
    text = built.read_text()
    tables = built.with_name("study_tables")
    names = sorted(p.name for p in tables.iterdir())
    assert names == sorted(
        [
            "cross_modality_candidates.tsv",
            "cross_modality_counts.tsv",
            "summary_candidates.tsv",
            *[
                f"{m}_{t}.tsv"
                for m in ("histone", "protein")
                for t in ("biomarkers", "differential", "differential_F", "provenance", "samples")
            ],
        ]
    )
    diff = pd.read_csv(tables / "protein_differential.tsv", sep="\t")
    assert len(diff) == 60 * 2  # every feature and contrast, although the page shows 40 per table
    expected = kom.get.differential(study["protein"])
    assert list(diff.columns) == list(expected.columns)
    np.testing.assert_allclose(
        diff["log2fc"].to_numpy(), expected["log2fc"].to_numpy(), equal_nan=True
    )
    assert "<th>log2fc</th>" in text  # log2 values: log2 fold changes
    umask = os.umask(0)
    os.umask(umask)
    assert built.stat().st_mode & 0o777 == 0o666 & ~umask
    assert tables.stat().st_mode & 0o777 == 0o777 & ~umask
    samples = pd.read_csv(tables / "protein_samples.tsv", sep="\t")
    assert samples["sample"].iloc[0] == HOSTILE
    # sections: summary, both modalities, every contrast, candidates, cross view, methods
    for needle in (
        'id="summary"',
        'id="m0"',
        'id="m1"',
        ">withdrawal - control</h3>",
        'id="m0-biomarkers"',
        'id="cross"',
        'id="methods"',
        "Fraction of each peptidoform",
    ):
        assert needle in text, needle
    assert text.count("data:image/png;base64,") >= 15
    assert "(the 40 first of 60 rows by p-value" in text


def test_text_from_data_is_escaped(built):
    text = built.read_text()
    assert "<script>alert(1)" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<title>Withdrawal &lt;study&gt;</title>" in text
    assert text.count("<script>") == 1  # only the report's own inline script


def test_no_network_references(built):
    text = built.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "url(http" not in text
    assert "@import" not in text
    assert "default-src 'none'" in text


def test_methods_list_steps_parameters_and_versions(built, study):
    import numpy

    text = built.read_text()
    steps = study["protein"].uns["kratom_omics"]["provenance"]
    functions = [step["function"] for step in steps.values()]
    assert len(functions) >= 3  # simulate, differential, flag_biomarkers
    for f in functions:
        assert f"<code>{f}</code>" in text
    assert "contrasts = [&#34;use - control&#34;, &#34;withdrawal - control&#34;]" in text
    assert "design ~ 0 + phase" in text
    assert f"<td>numpy</td><td>{numpy.__version__}</td>" in text


def test_candidate_table_lists_rab35(built):
    text = built.read_text()
    section = text.split('id="m0-biomarkers"')[1].split("</table>")[0]
    assert "<td>Rab35</td>" in section
    assert "concordant" in section


def test_single_anndata_without_results(tmp_path):
    a = kom.datasets.simulate("protein", seed=5, n_features=40, n_per_phase=3)
    out = kom.report.html(a, tmp_path / "r.html", dpi=40)
    text = out.read_text()
    assert "No differential results in adata.uns[&#39;differential&#39;]" in text
    assert 'id="m0-results"' not in text
    assert sorted(p.name for p in (tmp_path / "r_tables").iterdir()) == [
        "protein_provenance.tsv",
        "protein_samples.tsv",
    ]
    assert "differential" not in a.uns  # the input is not changed
    assert "phase_colors" not in a.uns


def test_mudata_input(tmp_path, study):
    mudata = pytest.importorskip("mudata")
    md = mudata.MuData({k: v.copy() for k, v in study.items()})
    out = kom.report.html(md, tmp_path / "md.html", tables_dir=tmp_path / "tsv", figures=False)
    assert (tmp_path / "tsv" / "histone_differential.tsv").exists()
    text = out.read_text()
    assert 'id="cross"' in text
    assert "data:image/png" not in text  # figures=False: tables only


def test_failure_leaves_previous_report_intact(tmp_path, study, monkeypatch):
    out = tmp_path / "r.html"
    out.write_text("previous")
    (tmp_path / "r_tables").mkdir()
    (tmp_path / "r_tables" / "old.tsv").write_text("x")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError, match="disk full"):
        kom.report.html(study["histone"], out, figures=False)
    assert out.read_text() == "previous"
    assert [p.name for p in (tmp_path / "r_tables").iterdir()] == ["old.tsv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r_tables"]


def test_input_errors(tmp_path, study):
    with pytest.raises(InputFormatError, match=r"data is a list; expected an AnnData"):
        kom.report.html([study["protein"]], tmp_path / "x.html")
    with pytest.raises(
        InputFormatError, match=r"data\['p'\] is a str; every value must be an AnnData"
    ):
        kom.report.html({"p": "file.h5ad"}, tmp_path / "x.html")
    with pytest.raises(
        InputFormatError, match=r"out='.*x.pdf': expected a file name ending in .html"
    ):
        kom.report.html(study["protein"], tmp_path / "x.pdf")
    with pytest.raises(InputFormatError, match="max_rows=0 must be a positive integer"):
        kom.report.html(study["protein"], tmp_path / "x.html", max_rows=0)
    with pytest.raises(InputFormatError, match="data holds no modality"):
        kom.report.html({}, tmp_path / "x.html")


def test_report_without_phase_column(tmp_path):
    a = ad.AnnData(np.random.default_rng(0).normal(20, 1, (6, 10)))
    out = kom.report.html({"assay": a}, tmp_path / "np.html")
    assert "adata.obs has no &#39;phase&#39; column" in out.read_text()


# ---------------------------------------------------------------------------------- in a browser
CHROMIUM = (
    shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
)
CHROMEDRIVER = shutil.which("chromedriver")

needs_browser = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="headless Chromium and chromedriver are not installed (Debian: apt-get install chromium "
    "chromium-driver)",
)


@pytest.fixture(scope="module")
def page(built, tmp_path_factory):
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (test extra)"
    )
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        "--window-size=1280,900",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        driver.get(built.as_uri())
        yield driver
    finally:
        driver.quit()


@needs_browser
def test_no_console_errors_and_no_network_requests(page):
    resources = page.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; });"
    )
    assert resources == []
    logs = page.get_log("browser")
    assert [entry for entry in logs if entry["level"] in ("SEVERE", "WARNING")] == []
    assert page.execute_script("return document.readyState;") == "complete"


@needs_browser
def test_hostile_sample_name_is_text_not_script(page):
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException, match="no such alert"):
        page.switch_to.alert.text  # noqa: B018
    for details in page.find_elements("css selector", "details.samples"):
        assert details.get_attribute("open") is None  # the sample tables start collapsed
        details.find_element("tag name", "summary").click()
    body = page.find_element("tag name", "body").text
    assert HOSTILE in body
    assert page.execute_script("return document.scripts.length;") == 1


@needs_browser
def test_search_filters_and_header_sorts_rows(page):
    table_id = "m0-c1-table"  # protein, withdrawal - control
    rows = page.execute_script(
        f"return document.getElementById('{table_id}').tBodies[0].rows.length;"
    )
    assert rows == 40
    box = page.find_element("css selector", f"input[data-table='{table_id}']")
    box.send_keys("rab35")
    visible = page.execute_script(
        f"return Array.from(document.getElementById('{table_id}').tBodies[0].rows)"
        ".filter(function (r) { return !r.hidden; })"
        ".map(function (r) { return r.cells[1].textContent; });"
    )
    assert visible == ["Rab35"]
    assert page.find_element("id", f"{table_id}-count").text == f"1 of {rows} rows"
    box.clear()
    box.send_keys(" ")  # an input event with an empty query shows every row again
    assert page.find_element("id", f"{table_id}-count").text == f"{rows} of {rows} rows"
    # sort by log2fc (3rd column) descending: two clicks
    header = page.find_elements("css selector", f"#{table_id} thead th")[2]
    assert header.text == "log2fc"
    page.execute_script("arguments[0].click(); arguments[0].click();", header)
    values = page.execute_script(
        f"return Array.from(document.getElementById('{table_id}').tBodies[0].rows)"
        ".map(function (r) { return parseFloat(r.cells[2].getAttribute('data-v')); });"
    )
    assert values == sorted(values, reverse=True)
    assert "desc" in header.get_attribute("class")


@needs_browser
def test_screenshot_is_not_blank(page):
    from PIL import Image

    page.execute_script("document.getElementById('m0-qc').scrollIntoView();")
    png = page.get_screenshot_as_png()
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert img.shape[0] > 500
    assert img.shape[1] > 500
    non_white = (img < 240).any(axis=2).mean()
    assert non_white > 0.05
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50  # figures, not a flat page


def test_dollar_signs_in_names_are_drawn_literally(tmp_path):
    a = kom.datasets.simulate("protein", seed=6, n_features=20, n_per_phase=3)
    a.obs_names = [r"x$\frac{$y", *a.obs_names[1:]]
    a.var["gene"] = [r"G$\alpha$", *a.var["gene"].iloc[1:]]
    kom.tl.differential(a, "phase")
    out = kom.report.html(a, tmp_path / "d.html", dpi=30, features=[r"G$\alpha$"])
    text = out.read_text()
    assert r"x$\frac{$y" in text
    assert "Figure skipped" not in text


def test_western_blot_section(tmp_path):
    w = kom.datasets.simulate("histone", assay="western", seed=0, n_per_phase=3)
    out = kom.report.html({"western": w}, tmp_path / "w.html", dpi=30)
    text = out.read_text()
    assert "Normalised western-blot signal per phase relative to control" in text
    # band signals and log2 folds are not on one scale: no before/after comparison
    assert "hatched: log2 of the values as loaded" not in text
    assert "Distribution of values per sample." in text
