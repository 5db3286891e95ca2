"""A modality's report figures drawn apart (kom.report.figures, `kratom-omics report-figures`) and
the page assembled from them (figures_from=, --figures-from): the same page, checked files."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

import kratom_omics as kom
from kratom_omics.cli import main
from kratom_omics.errors import InputFormatError, KratomOmicsError

OPTIONS = {"title": "Withdrawal <study>", "max_rows": 40, "dpi": 60}  # those of conftest.built
WC = "withdrawal - control"


def normalised(text: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "<time>", text)


def images(text: str) -> list[str]:
    return re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)


@pytest.fixture(scope="module")
def drawn(study, tmp_path_factory):
    d = tmp_path_factory.mktemp("figures")
    files = {
        name: kom.report.figures(
            adata,
            d / f"{name}.json",
            name=name,
            dpi=60,
            volcano=d / f"{name}_volcano.png",
            contrast=WC,
        )
        for name, adata in study.items()
    }
    return d, files


def test_page_from_drawn_figures_is_the_page_drawn_in_one_call(study, built, drawn, tmp_path):
    _, files = drawn
    out = tmp_path / "study.html"  # the same name: the same tables folder on the page
    page = kom.report.html(study, out, figures_from=files, **OPTIONS)
    text, expected = page.read_text(), built.read_text()
    assert len(images(text)) == len(images(expected)) >= 15
    assert images(text) == images(expected)
    assert normalised(text) == normalised(expected)
    doc = json.loads(files["protein"].read_text())
    assert doc["format"] == "kratom-omics report figures"
    assert (doc["modality"], doc["dpi"], doc["samples"], doc["features"]) == ("protein", 60, 9, 60)
    # the modality's figures (not the page's views across modalities), each once
    captions = list(doc["figures"])
    assert len(captions) == len(set(captions)) == 10  # 6 QC, 2 contrasts, heatmap, trajectories
    assert sum(c.startswith(f"{WC}: volcano plot and MA plot") for c in captions) == 1
    assert not any(c.startswith("The top candidate markers") for c in captions)


def test_assembling_draws_no_figure_of_a_modality(study, drawn, tmp_path, monkeypatch):
    _, files = drawn

    def refuse(*args, **kwargs):
        raise AssertionError("drawn again")

    for name in ("volcano", "ma", "pca", "detected", "correlation", "histone_composition"):
        monkeypatch.setattr(kom.pl, name, refuse)
    page = kom.report.html(study, tmp_path / "r.html", figures_from=files, **OPTIONS)
    assert len(images(page.read_text())) >= 15


def test_a_figure_the_file_lacks_is_drawn(study, built, drawn, tmp_path):
    _, files = drawn
    doc = json.loads(files["histone"].read_text())
    caption = next(c for c in doc["figures"] if c.startswith("Fraction of each peptidoform"))
    del doc["figures"][caption]
    partial = tmp_path / "histone.json"
    partial.write_text(json.dumps(doc))
    page = kom.report.html(
        study,
        tmp_path / "study.html",
        figures_from={"protein": files["protein"], "histone": partial},
        **OPTIONS,
    )
    assert images(page.read_text()) == images(built.read_text())


def test_volcano_is_the_panel_of_the_report_figure(drawn):
    d, _ = drawn
    png = d / "protein_volcano.png"
    with Image.open(png) as im:
        assert im.format == "PNG"
        w, h = im.size
    # one panel of the 3-panel figure (4.4 x 3.8 inches each) at 150 dpi, not the whole row
    assert 450 < w < 760
    assert 400 < h < 660
    assert not list(d.glob(".*tmp*"))


def test_files_drawn_for_other_data_are_refused(study, drawn, tmp_path):
    _, files = drawn
    with pytest.raises(InputFormatError, match=r"holds the figures of modality 'protein', not"):
        kom.report.html(study, tmp_path / "a.html", figures_from={"histone": files["protein"]})
    with pytest.raises(InputFormatError, match=r"holds the figures of dpi 60, not 80"):
        kom.report.html(study, tmp_path / "b.html", figures_from={"protein": files["protein"]})
    changed = {k: v.copy() for k, v in study.items()}
    changed["protein"].X[0, 0] += 1
    with pytest.raises(
        InputFormatError,
        match=r"holds the figures of other data than the report's 'protein' \(9 x 60 values; "
        r"the report's are 9 x 60\) or other results; draw it again with kom.report.figures",
    ):
        kom.report.html(changed, tmp_path / "c.html", figures_from=files, dpi=60)
    with pytest.raises(InputFormatError, match=r"figures_from: modality='protien' is not avail"):
        kom.report.html(study, tmp_path / "d.html", figures_from={"protien": files["protein"]})
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    with pytest.raises(InputFormatError, match=r"'.*bad.json' is not a figures file of kratom"):
        kom.report.html(study, tmp_path / "e.html", figures_from={"protein": bad}, dpi=60)
    doc = json.loads(files["protein"].read_text())
    first = next(iter(doc["figures"]))
    doc["figures"][first]["png"] = "<img src=x onerror=alert(1)>"
    bad.write_text(json.dumps(doc))
    with pytest.raises(InputFormatError, match=r"the figure '.*' is not base64 PNG"):
        kom.report.html(study, tmp_path / "f.html", figures_from={"protein": bad}, dpi=60)
    with pytest.raises(InputFormatError, match=r"'.*none.json' does not exist; draw it again"):
        kom.report.html(
            study, tmp_path / "g.html", figures_from={"protein": tmp_path / "none.json"}
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]  # no page written


def test_figures_input_errors_write_nothing(study, tmp_path):
    a = study["protein"]
    with pytest.raises(
        InputFormatError, match=r"results hold 2 contrasts .*; choose the volcano's with contrast="
    ):
        kom.report.figures(a, tmp_path / "f.json", volcano=tmp_path / "v.png")
    with pytest.raises(InputFormatError, match=r"contrast='withdrawl - control' is not avail"):
        kom.report.figures(
            a, tmp_path / "f.json", volcano=tmp_path / "v.png", contrast="withdrawl - control"
        )
    with pytest.raises(InputFormatError, match=r"out='.*f.html': expected a file name ending in"):
        kom.report.figures(a, tmp_path / "f.html")
    with pytest.raises(InputFormatError, match=r"volcano='.*v.gif': expected a .png, .svg or"):
        kom.report.figures(a, tmp_path / "f.json", volcano=tmp_path / "v.gif", contrast=WC)
    assert list(tmp_path.iterdir()) == []
    assert "phase_colors" not in a.uns  # the input is not changed


def test_skipped_figure_is_noted_on_the_page(tmp_path):
    a = kom.datasets.simulate("protein", seed=5, n_features=40, n_per_phase=3)
    kom.tl.differential(a, "phase")
    a.X[:, :] = np.where(np.arange(a.n_vars) % 2 == 0, a.X, np.nan)  # half the features empty
    a.obs["batch"] = "one"
    f = kom.report.figures(a, tmp_path / "f.json", name="protein")
    doc = json.loads(f.read_text())
    drawn_page = kom.report.html(
        {"protein": a}, tmp_path / "a.html", figures_from={"protein": f}
    ).read_text()
    direct = kom.report.html({"protein": a}, tmp_path / "b" / "a.html").read_text()
    assert images(drawn_page) == images(direct)
    skipped = [v["skipped"] for v in doc["figures"].values() if "skipped" in v]
    for note in skipped:
        assert note.startswith("Figure skipped (")
    assert drawn_page.count("Figure skipped (") == direct.count("Figure skipped (") == len(skipped)


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_report_figures_and_report(study, drawn, tmp_path, capsys):
    """The command draws what kom.report.figures draws (the page assembled from such files is
    the page drawn in one call: test_page_from_drawn_figures_is_the_page_drawn_in_one_call), and
    `report --figures-from` puts those figures on the page."""
    _, files = drawn
    for name, adata in study.items():
        adata.write_h5ad(tmp_path / f"{name}.h5ad")
    for name in study:
        code, _, err = run(
            [
                "report-figures",
                f"{name}={tmp_path / name}.h5ad",
                "--out",
                str(tmp_path / f"{name}_figures.json"),
                "--volcano",
                str(tmp_path / f"{name}_volcano.png"),
                "--contrast",
                WC,
                "--dpi",
                "60",
            ],
            capsys,
        )
        assert code == 0, err
        assert f"report figures of {name}: 10 drawn" in err or name == "histone"
        doc = json.loads((tmp_path / f"{name}_figures.json").read_text())
        expected = json.loads(files[name].read_text())
        assert doc["modality"] == name
        assert doc["figures"] == expected["figures"]
        assert (tmp_path / f"{name}_volcano.png").read_bytes() == (
            files[name].parent / f"{name}_volcano.png"
        ).read_bytes()
    png = base64.b64decode(next(iter(doc["figures"].values()))["png"])
    assert Image.open(io.BytesIO(png)).format == "PNG"
    inputs = [f"{n}={tmp_path / n}.h5ad" for n in study]
    common = ["--out", str(tmp_path / "r.html"), "--tables-dir", str(tmp_path / "t"), "--dpi"]
    common.append("60")
    figs = [a for n in study for a in ("--figures-from", f"{n}={tmp_path / n}_figures.json")]
    code, _, err = run(["report", *inputs, *figs, *common], capsys)
    assert code == 0, err
    on_page = images((tmp_path / "r.html").read_text())
    for name in study:
        doc = json.loads((tmp_path / f"{name}_figures.json").read_text())
        pngs = [f["png"] for f in doc["figures"].values() if "png" in f]
        assert pngs
        assert set(pngs) <= set(on_page)
    # errors in command-line words, one line, nothing written
    code, _, err = run(["report", *inputs, *figs, *common[:-1], "70"], capsys)
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        f"error: {str(tmp_path / 'protein_figures.json')!r} holds the figures of dpi 60, not 70; "
        "draw it again with `kratom-omics report-figures protein=<data.h5ad> --out "
        f"{tmp_path / 'protein_figures.json'} --dpi 70`, or run the report with --dpi 60."
    )
    code, _, err = run(
        ["report", *inputs, "--figures-from", f"protein={tmp_path}/histone_figures.json", *common],
        capsys,
    )
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        f"error: {str(tmp_path / 'histone_figures.json')!r} holds the figures of modality "
        "'histone', not 'protein'; draw it again with `kratom-omics report-figures "
        f"protein=<data.h5ad> --out {tmp_path / 'histone_figures.json'} --dpi 60`."
    )
    code, _, err = run(["report", *inputs, "--figures-from", "protein", *common], capsys)
    assert code == 1
    assert "error: --figures-from 'protein': expected NAME=figures.json" in err
    code, _, err = run(
        [
            "report-figures",
            f"protein={tmp_path}/protein.h5ad",
            "--out",
            str(tmp_path / "x.json"),
            "--volcano",
            str(tmp_path / "x.png"),
        ],
        capsys,
    )
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        "error: the results hold 2 contrasts ['use - control', 'withdrawal - control']; choose "
        "the volcano's with --contrast 'withdrawal - control'."
    )
    assert not (tmp_path / "x.json").exists()
    assert not (tmp_path / "x.png").exists()


def test_volcano_that_cannot_be_drawn_is_an_error(tmp_path, monkeypatch):
    a = kom.datasets.simulate("protein", seed=5, n_features=30, n_per_phase=3)
    kom.tl.differential(a, "phase")

    def fail(*args, **kwargs):
        raise KratomOmicsError("no finite p-value to draw")

    monkeypatch.setattr(kom.pl, "volcano", fail)
    with pytest.raises(
        KratomOmicsError,
        match=r"the volcano plot of 'withdrawal - control' cannot be drawn: Figure skipped "
        r"\(withdrawal - control\): no finite p-value to draw",
    ):
        kom.report.figures(a, tmp_path / "f.json", volcano=tmp_path / "v.png", contrast=WC)
    assert list(tmp_path.iterdir()) == []
