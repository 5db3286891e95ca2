"""The README's package example runs as written (on the example data)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    shutil.copy(ROOT / "example_data/proteinGroups.txt", tmp_path)
    shutil.copy(ROOT / "example_data/samples.tsv", tmp_path)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    adata = namespace["adata"]
    table = namespace["kom"].get.biomarkers(adata, table="candidates").set_index("candidate")
    assert table.loc["Rab35", "status"] == "concordant"
    assert (tmp_path / "report.html").stat().st_size > 10_000
    assert (tmp_path / "volcano.pdf").read_bytes().startswith(b"%PDF")  # save=
    assert (tmp_path / "rab35.png").read_bytes().startswith(b"\x89PNG")


def test_readme_command_line_example_runs(tmp_path, monkeypatch, capsys):
    import shlex

    import pandas as pd

    from kratom_omics.cli import main

    text = (ROOT / "README.md").read_text()
    part = text.split("The command line mirrors this", 1)[1]
    block = re.findall(r"```bash\n(.*?)```", part, flags=re.S)[0]
    shutil.copy(ROOT / "example_data/proteinGroups.txt", tmp_path)
    shutil.copy(ROOT / "example_data/samples.tsv", tmp_path)
    monkeypatch.chdir(tmp_path)
    lines = [ln.split("  #")[0].strip() for ln in block.splitlines() if ln.strip()]
    assert len(lines) == 10
    for line in lines:
        args = shlex.split(line)
        assert args[0] == "kratom-omics"
        assert main(args[1:]) == 0, (line, capsys.readouterr().err)
    cand = pd.read_csv(tmp_path / "candidates.tsv", sep="\t").set_index("candidate")
    assert cand.loc["Rab35", "status"] == "concordant"
    assert (tmp_path / "volcano.png").read_bytes().startswith(b"\x89PNG")
    assert "Rab35" in (tmp_path / "report.html").read_text()
    images = [
        re.findall(r"base64,([A-Za-z0-9+/=]+)", (tmp_path / name).read_text())
        for name in ("report.html", "same.html")
    ]
    assert len(images[0]) > 5
    assert images[0] == images[1]  # the figures drawn apart are the page's
    assert (tmp_path / "report_tables" / "protein_biomarkers.tsv").exists()
    assert (tmp_path / "sim" / "samples.tsv").exists()
    import anndata as ad
    import numpy as np

    # the steps in one process write what the commands one by one wrote
    np.testing.assert_array_equal(
        ad.read_h5ad(tmp_path / "p.h5ad").X, ad.read_h5ad(tmp_path / "pre.h5ad").X
    )


def test_quickstart_has_exactly_two_commands():
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quickstart", 1)[1].split("##", 1)[0]
    block = re.findall(r"```bash\n(.*?)```", quick, flags=re.S)[0]
    commands = [ln.split("#")[0].strip() for ln in block.splitlines() if ln.split("#")[0].strip()]
    assert commands == ["make run", "make test"]
    ci = (ROOT / ".ci/run").read_text()
    assert "make test" in ci
