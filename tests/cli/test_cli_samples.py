"""The command line with sample sheets that name their groups otherwise: --phase-column, --phases ''."""

from __future__ import annotations

import anndata as ad
import pandas as pd

import kratom_omics as kom
from kratom_omics.cli import main


def test_load_with_phase_column_and_any_levels(tmp_path, capsys):
    adata = kom.datasets.simulate("protein", seed=4, n_features=30, n_per_phase=2)
    kom.datasets.write_maxquant(adata, tmp_path / "proteinGroups.txt")
    names = {"control": "vehicle", "use": "chronic", "withdrawal": "abstinent"}
    sheet = pd.DataFrame(
        {
            "sample": adata.obs_names,
            "condition": adata.obs["phase"].astype(str).map(names),
            "exclude": ["1" if i == 0 else "" for i in range(adata.n_obs)],
        }
    )
    sheet.to_csv(tmp_path / "sheet.tsv", sep="\t", index=False)
    out = tmp_path / "loaded.h5ad"
    args = [
        "load",
        str(tmp_path / "proteinGroups.txt"),
        str(out),
        "--samples",
        str(tmp_path / "sheet.tsv"),
    ]
    code = main([*args, "--phase-column", "condition"])
    _, err = capsys.readouterr()
    assert code == 0, err
    loaded = ad.read_h5ad(out)
    kept = sheet.iloc[1:]
    assert list(loaded.obs_names) == kept["sample"].tolist()
    assert loaded.obs["phase"].astype(str).tolist() == kept["condition"].tolist()
    assert list(loaded.obs["phase"].cat.categories) == list(pd.unique(kept["condition"]))
    assert "1 sample(s) excluded" in err

    # an explicit order of the levels, and a wrong column named in one line
    code = main([*args, "--phase-column", "condition", "--phases", "vehicle,chronic,abstinent"])
    capsys.readouterr()
    assert code == 0
    assert list(ad.read_h5ad(out).obs["phase"].cat.categories) == [
        "vehicle",
        "chronic",
        "abstinent",
    ]
    code = main([*args, "--phase-column", "treatment"])
    _, err = capsys.readouterr()
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: --phase-column treatment is not a column of sample sheet")
    assert "Traceback" not in err
