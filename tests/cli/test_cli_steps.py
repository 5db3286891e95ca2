"""`kratom-omics steps`: several commands in one process, in order, stopping at the first that
fails."""

from __future__ import annotations

import anndata as ad
import numpy as np

from kratom_omics.cli import main


def test_steps_run_in_order_and_write_what_the_commands_write(tmp_path, capsys):
    data, sheet = tmp_path / "proteinGroups.txt", tmp_path / "samples.tsv"
    assert main(["simulate", str(data), "--format", "maxquant"]) == 0
    one, two = tmp_path / "a b" / "loaded.h5ad", tmp_path / "a b" / "pre.h5ad"
    one.parent.mkdir()
    code = main(
        [
            "steps",
            f"load {data} '{one}' --samples {sheet}",
            f"preprocess '{one}' '{two}' --normalize quantile",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert main(["load", str(data), str(tmp_path / "l.h5ad"), "--samples", str(sheet)]) == 0
    args = [str(tmp_path / "l.h5ad"), str(tmp_path / "p.h5ad"), "--normalize", "quantile"]
    assert main(["preprocess", *args]) == 0
    np.testing.assert_array_equal(ad.read_h5ad(two).X, ad.read_h5ad(tmp_path / "p.h5ad").X)


def test_steps_stop_at_the_first_failure_with_its_error(tmp_path, capsys):
    data = tmp_path / "proteinGroups.txt"
    assert main(["simulate", str(data), "--format", "maxquant"]) == 0
    loaded, pre = tmp_path / "loaded.h5ad", tmp_path / "pre.h5ad"
    capsys.readouterr()
    code = main(
        [
            "steps",
            f"load {data} {loaded} --samples {tmp_path / 'samples.tsv'}",
            f"preprocess {loaded} {tmp_path / 'x.h5ad'} --normalize irs",
            f"preprocess {loaded} {pre}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert loaded.exists()
    assert not (tmp_path / "x.h5ad").exists()
    assert not pre.exists()  # stopped there
    assert err.count("error:") == 1
    assert "error: --normalize irs needs --reference" in err


def test_steps_refuse_what_is_not_a_command_before_running_any(tmp_path, capsys):
    out = tmp_path / "x.tsv"
    cases = {
        "load 'unbalanced": "No closing quotation; quote each step as one argument.",
        "": "expected a command and its arguments",
        "steps 'simulate x'": "steps do not nest; list the commands instead.",
    }
    for step, message in cases.items():
        capsys.readouterr()
        assert main(["steps", f"simulate {out} --format maxquant", step]) == 1
        err = capsys.readouterr().err
        assert message in err, err
        assert not out.exists()  # nothing ran: every step is checked first
