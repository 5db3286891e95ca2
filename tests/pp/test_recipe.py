"""kom.pp.recipe runs the documented steps in order, equal to calling them one by one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError

EXAMPLE = Path(__file__).resolve().parents[2] / "example_data"


@pytest.fixture(scope="module")
def loaded():
    return kom.io.read(EXAMPLE / "proteinGroups.txt", EXAMPLE / "samples.tsv")


def test_recipe_equals_the_steps_one_by_one(loaded):
    by_recipe = kom.pp.recipe(loaded, copy=True)
    manual = loaded.copy()
    kom.pp.remove_flagged(manual)
    kom.pp.filter_valid(manual, min_valid=0.7, mode="any_group")
    kom.pp.log2(manual)
    kom.pp.normalize(manual, method="median")
    assert by_recipe is not None
    assert list(by_recipe.var_names) == list(manual.var_names)
    np.testing.assert_array_equal(by_recipe.X, manual.X)
    steps = [s["function"] for s in by_recipe.uns["kratom_omics"]["provenance"].values()]
    assert steps == [
        "kratom_omics.io.read_maxquant",
        "kratom_omics.pp.remove_flagged",
        "kratom_omics.pp.filter_valid",
        "kratom_omics.pp.log2",
        "kratom_omics.pp.normalize",
    ]
    assert not by_recipe.var["is_contaminant"].any()
    np.testing.assert_array_equal(
        by_recipe.layers["raw"], loaded[:, by_recipe.var_names].layers["raw"]
    )
    assert loaded.uns["kratom_omics"].get("x_transform") is None  # copy=True left the input alone


def test_recipe_options_and_imputation(loaded):
    with pytest.warns(kom.errors.KratomOmicsWarning, match="imputed"):
        out = kom.pp.recipe(
            loaded,
            copy=True,
            remove_flagged=False,
            min_valid=0,
            normalize="none",
            impute="downshift",
        )
    assert out is not None
    assert out.n_vars == loaded.n_vars
    assert not np.isnan(out.X).any()
    assert out.layers["imputed_mask"].sum() == np.isnan(loaded.X).sum()


def test_recipe_logit_for_histone_ratios():
    adata = kom.io.read(EXAMPLE / "histone_ratios.xls", EXAMPLE / "samples.tsv")
    kom.pp.recipe(adata, transform="logit", normalize="none", min_valid=0.5)
    raw = adata.layers["raw"]
    np.testing.assert_allclose(adata.X, np.log2(raw / (1 - raw)), equal_nan=True)


def test_recipe_rejects_unknown_transform(loaded):
    with pytest.raises(InputFormatError, match="transform='ln'"):
        kom.pp.recipe(loaded, transform="ln", copy=True)  # type: ignore[arg-type]


def test_recipe_irs_is_median_then_internal_reference_scaling(tmp_path, capsys):
    """A TMT experiment across plexes: normalize='irs' is IRS's sample loading (median), then
    the reference scaling on the named channel; the command line does the same."""
    import anndata as ad

    from kratom_omics.cli import main

    sim = kom.datasets.simulate("protein", seed=4, n_features=60, n_per_phase=6)
    kom.datasets.write_maxquant_tmt(sim, tmp_path / "pg.txt", plex_sd=1.0, seed=1)
    loaded = kom.io.read(tmp_path / "pg.txt")
    by_hand = loaded.copy()
    kom.pp.remove_flagged(by_hand)
    kom.pp.log2(by_hand)
    kom.pp.normalize(by_hand, method="median")
    kom.pp.normalize(by_hand, method="irs", reference=10)
    got = kom.pp.recipe(loaded, min_valid=0, normalize="irs", reference=10, copy=True)
    # the pooled reference channels end equal across plexes (no variance left), then are removed
    refs = by_hand.obs["channel"].astype(str) == "10"
    assert refs.sum() == 2
    pools = by_hand.X[refs.to_numpy()]
    np.testing.assert_allclose(pools[0], pools[1], atol=1e-12, equal_nan=True)
    by_hand = by_hand[~refs.to_numpy()].copy()
    assert got.obs_names.tolist() == by_hand.obs_names.tolist()
    np.testing.assert_array_equal(got.X, by_hand.X)
    step = list(got.uns["kratom_omics"]["provenance"].values())[-1]
    assert step["function"] == "kratom_omics.pp.recipe"
    assert json.loads(step["parameters"])["removed_references"] == ["plex1_10", "plex2_10"]
    loaded.write_h5ad(tmp_path / "loaded.h5ad")
    out = tmp_path / "pre.h5ad"
    args = ["preprocess", str(tmp_path / "loaded.h5ad"), str(out), "--min-valid", "0"]
    assert main([*args, "--normalize", "irs", "--reference", "10"]) == 0
    np.testing.assert_array_equal(ad.read_h5ad(out).X, by_hand.X)
    capsys.readouterr()
    assert main([*args, "--normalize", "irs"]) == 1
    assert "error: --normalize irs needs --reference: the reference channel of every plex" in (
        capsys.readouterr().err
    )


def test_recipe_checks_the_reference_before_any_step(loaded):
    before = loaded.X.copy()
    with pytest.raises(InputFormatError, match=r"normalize\(method='irs'\) needs reference="):
        kom.pp.recipe(loaded, normalize="irs")
    with pytest.raises(InputFormatError, match=r"does not use reference='pool'"):
        kom.pp.recipe(loaded, normalize="median", reference="pool")
    np.testing.assert_array_equal(loaded.X, before)  # nothing was done
