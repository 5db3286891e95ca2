"""Normalisation of signal tracks, and limma on promoter signal read from bigWig files."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KeyNotFoundError

pytest.importorskip("pyBigWig")


def toy() -> ad.AnnData:
    raw = np.array(
        [[10.0, 2.0, 0.0, 8.0], [20.0, 4.0, 1.0, np.nan], [5.0, 1.0, 0.5, 4.0]], dtype=np.float64
    )
    a = ad.AnnData(
        X=raw.copy(),
        obs=pd.DataFrame(
            {
                "phase": ["control", "control", "withdrawal"],
                "spike": [1000.0, 2000.0, 500.0],
                "alpha": [0.5, 0.25, 2.0],
                "track_sum": [1e6, 3e6, 5e5],
            },
            index=["s1", "s2", "s3"],
        ),
    )
    a.layers["raw"] = raw
    return a


def geomean(v: np.ndarray) -> float:
    return float(np.exp(np.log(v).mean()))


def test_total_over_regions_observed_everywhere() -> None:
    a = toy()
    kom.pp.normalize_tracks(a, method="total", pseudocount=0.5)
    totals = np.array([12.0, 25.0, 6.5])  # regions 1-3: the fourth is missing in s2
    scale = totals / geomean(totals)
    np.testing.assert_allclose(a.obs["track_scale"], scale)
    want = np.log2(a.layers["raw"] / scale[:, None] + 0.5)
    np.testing.assert_allclose(a.X, want, equal_nan=True)
    assert np.isnan(a.X[1, 3])
    steps = a.uns["kratom_omics"]["provenance"]
    assert [s["function"] for s in steps.values()] == [
        "kratom_omics.pp.normalize_tracks",
        "kratom_omics.pp.log2",
    ]
    params = json.loads(steps["step_000"]["parameters"])
    assert params["n_regions_in_total"] == 3
    assert params["scale"]["s2"] == pytest.approx(scale[1])
    assert a.uns["kratom_omics"]["x_transform"] == "log2"


@pytest.mark.parametrize(
    ("kwargs", "divisor"),
    [
        ({"method": "none"}, np.ones(3)),
        ({"method": "total", "total": "track"}, np.array([1e6, 3e6, 5e5]) / geomean(np.array([1e6, 3e6, 5e5]))),
        ({"method": "spikein", "spikein": "spike"}, np.array([1000, 2000, 500]) / 1000.0),
        ({"method": "spikein", "spikein": {"s1": 3, "s2": 3, "s3": 24}}, np.array([0.5, 0.5, 4.0])),
        ({"method": "factor", "factors": "alpha"}, 1 / np.array([0.5, 0.25, 2.0])),
    ],
)  # fmt: skip
def test_scale_factors(kwargs, divisor) -> None:
    a = toy()
    b = kom.pp.normalize_tracks(a, log=False, copy=True, **kwargs)
    assert b is not None
    np.testing.assert_allclose(b.obs["track_scale"], divisor)
    np.testing.assert_allclose(b.X, a.layers["raw"] / divisor[:, None], equal_nan=True)
    np.testing.assert_array_equal(a.X, a.layers["raw"])  # copy=True left adata alone


def test_bad_input() -> None:
    a = toy()
    with pytest.raises(
        KeyNotFoundError,
        match=r"spikein='spikes' is not a column of adata\.obs\. Did you mean 'spike'",
    ):
        kom.pp.normalize_tracks(a, method="spikein", spikein="spikes")
    with pytest.raises(KeyNotFoundError, match=r"no value for sample\(s\) \['s3'\]"):
        kom.pp.normalize_tracks(a, method="spikein", spikein={"s1": 1, "s2": 2})
    a.obs["spike"] = [1000.0, 0.0, 500.0]
    with pytest.raises(
        InputFormatError,
        match=r"adata\.obs\['spike'\] is 0\.0 for sample 's2'; expected a positive number",
    ):
        kom.pp.normalize_tracks(a, method="spikein", spikein="spike")
    with pytest.raises(
        InputFormatError, match=r"method='spike' is not available\. Did you mean 'spikein'"
    ):
        kom.pp.normalize_tracks(a, method="spike")  # type: ignore[arg-type]
    kom.pp.normalize_tracks(a)
    with pytest.raises(
        InputFormatError,
        match="log2-transformed already; normalise the linear values with layer='raw'",
    ):
        kom.pp.normalize_tracks(a)
    kom.pp.normalize_tracks(a, layer="raw", method="none", log=False)  # from the raw layer again
    np.testing.assert_array_equal(a.X, a.layers["raw"])
    b = toy()
    b.X[0, 0] = -1.5
    with pytest.raises(InputFormatError, match="negative numbers"):
        kom.pp.normalize_tracks(b)
    del b.obs["track_sum"]
    b.X[0, 0] = 1.0
    with pytest.raises(KeyNotFoundError, match=r"total='track' needs adata.obs\['track_sum'\]"):
        kom.pp.normalize_tracks(b, total="track")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory):
    sim = kom.datasets.simulate("tracks", seed=3, n_features=300, n_per_phase=5)
    paths = kom.datasets.write_tracks(sim, tmp_path_factory.mktemp("tracks"))
    return sim, paths


def test_limma_recovers_planted_promoter_losses(written) -> None:
    sim, paths = written
    a = kom.io.read_bigwig(paths["samples"], paths["annotation"], progress=False)
    kom.pp.normalize_tracks(a, method="total")
    kom.tl.differential(a, "phase", contrasts=["withdrawal - control", "use - control"])
    res = kom.get.differential(a, contrast="withdrawal - control").set_index("feature")
    res = res.loc[sim.var_names]
    changed = sim.var["is_changed"].to_numpy()
    called = (res["padj"] < 0.05).to_numpy()
    assert changed.sum() == 19
    assert (called & changed).sum() >= 0.7 * changed.sum()  # power
    assert (called & ~changed).sum() <= 0.1 * max(called.sum(), 1)  # false discoveries
    assert (res.loc[called & changed, "log2fc"] < 0).all()  # losses
    for marker in ("Rab35_promoter", "Hdac2_promoter"):
        assert res.loc[marker, "padj"] < 0.05
        assert res.loc[marker, "log2fc"] < -0.5
    truth = sim.var["true_log2fc_withdrawal_vs_control"].to_numpy()
    assert np.corrcoef(res["log2fc"], truth)[0, 1] > 0.7


def test_spikein_keeps_a_global_loss_total_removes_it(tmp_path: Path) -> None:
    sim = kom.datasets.simulate_tracks(seed=4, n_features=200, n_per_phase=4, global_log2fc=-0.8)
    paths = kom.datasets.write_tracks(sim, tmp_path, flank=0)
    a = kom.io.read_bigwig(paths["samples"], paths["annotation"], progress=False)
    unchanged = ~sim.var["is_changed"].to_numpy()
    medians = {}
    for how in ("total", "spikein"):
        b = a.copy()
        kom.pp.normalize_tracks(b, method=how, spikein="spikein_reads", pseudocount=0)
        kom.tl.differential(b, "phase", contrasts=["withdrawal - control"])
        r = kom.get.differential(b).set_index("feature").loc[sim.var_names]
        medians[how] = float(np.median(r["log2fc"].to_numpy()[unchanged]))
    assert medians["spikein"] == pytest.approx(-0.8, abs=0.12)
    assert medians["total"] == pytest.approx(0.0, abs=0.12)
    # the spike-in follows the technical scale planted in each sample
    reads = pd.to_numeric(a.obs["spikein_reads"]).to_numpy()  # read from the sheet as text
    scale = reads / geomean(reads)
    true = sim.obs["true_scale"].to_numpy() / geomean(sim.obs["true_scale"].to_numpy())
    np.testing.assert_allclose(scale, true, rtol=0.1)


def test_recipe_scales_tracks_instead_of_log2_and_median(written, caplog) -> None:
    _, paths = written
    loaded = kom.io.read_bigwig(paths["samples"], paths["annotation"], progress=False)
    raw = loaded.layers["raw"].copy()
    a = loaded.copy()
    with caplog.at_level("INFO", logger="kratom_omics"):
        kom.pp.recipe(a)  # the defaults: track_normalization="total", normalize="median"
    assert "normalize='median' is not applied to them" in caplog.text
    complete = np.isfinite(raw).all(axis=0)
    totals = raw[:, complete].sum(axis=1)
    scale = totals / geomean(totals)
    np.testing.assert_allclose(a.X, np.log2(raw / scale[:, None] + 1.0))  # pseudocount 0 -> 1
    functions = [s["function"] for s in a.uns["kratom_omics"]["provenance"].values()]
    assert functions[-2:] == ["kratom_omics.pp.normalize_tracks", "kratom_omics.pp.log2"]
    assert "kratom_omics.pp.normalize" not in functions
    # whole-track totals, spike-in reads, or the tracks' own scaling
    b = kom.pp.recipe(loaded, track_normalization="track", copy=True)
    track = loaded.obs["track_sum"].to_numpy(dtype=float)
    np.testing.assert_allclose(b.obs["track_scale"], track / geomean(track))
    c = kom.pp.recipe(loaded, track_normalization="spikein", pseudocount=0.5, copy=True)
    reads = pd.to_numeric(loaded.obs["spikein_reads"]).to_numpy(dtype=float)
    np.testing.assert_allclose(c.X, np.log2(raw / (reads / geomean(reads))[:, None] + 0.5))
    d = kom.pp.recipe(loaded, track_normalization="none", transform="none", copy=True)
    np.testing.assert_allclose(d.X, raw)
    # simulated tracks (log2 in .X already) are scaled from their linear layer
    sim = kom.datasets.simulate("tracks", seed=3, n_features=40, n_per_phase=2)
    s = kom.pp.recipe(sim, copy=True)
    lin = sim.layers["raw"]
    tot = lin.sum(axis=1)
    np.testing.assert_allclose(s.X, np.log2(lin / (tot / geomean(tot))[:, None] + 1.0))


def test_recipe_refuses_what_tracks_cannot_take(written) -> None:
    _, paths = written
    a = kom.io.read_bigwig(paths["samples"], paths["annotation"], progress=False)
    with pytest.raises(InputFormatError, match=r"transform='logit' is for histone peptidoform"):
        kom.pp.recipe(a, transform="logit")
    with pytest.raises(InputFormatError, match=r"track_normalization='totl' is not available"):
        kom.pp.recipe(a, track_normalization="totl")  # type: ignore[arg-type]
    del a.obs["spikein_reads"]
    with pytest.raises(KeyNotFoundError, match=r"column 'spikein_reads', which adata.obs lacks"):
        kom.pp.recipe(a, track_normalization="spikein")
    assert "x_transform" not in a.uns["kratom_omics"]  # refused before any step


def test_cli_preprocess_tracks(written, tmp_path) -> None:
    from typer.testing import CliRunner

    from kratom_omics.cli import app

    _, paths = written
    a = kom.io.read_bigwig(paths["samples"], paths["annotation"], progress=False)
    a.write_h5ad(tmp_path / "loaded.h5ad")
    out = tmp_path / "pre.h5ad"
    result = CliRunner().invoke(
        app,
        ["preprocess", str(tmp_path / "loaded.h5ad"), str(out), "--track-normalization", "track"],
    )
    assert result.exit_code == 0, result.output
    want = kom.pp.recipe(a, track_normalization="track", copy=True)
    np.testing.assert_allclose(ad.read_h5ad(out).X, want.X)


def test_normalising_again_from_the_raw_layer_after_a_log2() -> None:
    a = toy()
    kom.pp.log2(a, pseudocount=1.0, force=True)
    kom.pp.normalize_tracks(a, method="none", layer="raw", pseudocount=2.0)
    np.testing.assert_allclose(a.X, np.log2(a.layers["raw"] + 2.0), equal_nan=True)
    del a.uns["kratom_omics"]["x_transform"]  # the steps alone say what .X holds
    from kratom_omics.pp._common import x_transform

    assert x_transform(a) == "log2"
    kom.pp.normalize_tracks(a, method="none", layer="raw", log=False)
    assert x_transform(a) is None
    np.testing.assert_allclose(a.X, a.layers["raw"], equal_nan=True)
