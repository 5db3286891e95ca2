"""kom.tl.differential on dask-backed data: chunked fit equals the in-memory fit; schedulers; errors."""

from __future__ import annotations

import builtins
import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import DesignError, MissingDependencyError
from kratom_omics.tl import _dask

da = pytest.importorskip("dask.array")

PHASES = ["control", "use", "withdrawal"]


def simulated(n_feat: int = 700, *, missing: float = 0.0, seed: int = 3) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    phase = np.repeat(PHASES, [4, 3, 5])
    n = phase.size
    mean = rng.normal(20, 2, n_feat)
    sd = np.sqrt(0.05 * 4 / rng.chisquare(4, n_feat))  # variances vary between features
    x = mean[None, :] + rng.normal(0, 1, (n, n_feat)) * sd[None, :]
    x[phase == "withdrawal", :20] += 1.5
    x[phase == "use", 20:30] -= 1.0
    if missing:
        x[rng.random(x.shape) < missing] = np.nan
        x[phase == "use", 40] = np.nan  # a group entirely missing: NA contrasts
        x[:, 41] = np.nan  # nothing observed
        x[:10, 42] = np.nan  # 2 observations: no residual df
    obs = pd.DataFrame(
        {
            "phase": pd.Categorical(phase, categories=PHASES, ordered=True),
            "batch": np.tile(["b1", "b2"], n // 2),
        },
        index=[f"s{i}" for i in range(n)],
    )
    var = pd.DataFrame(
        {"gene": [f"G{i}" for i in range(n_feat)]}, index=[f"F{i}" for i in range(n_feat)]
    )
    return ad.AnnData(X=x, obs=obs, var=var)


def lazy(a: ad.AnnData, chunk: int = 128) -> ad.AnnData:
    b = a.copy()
    b.X = da.from_array(np.asarray(a.X), chunks=(5, chunk))  # split over samples too
    return b


def assert_same(a: ad.AnnData, b: ad.AnnData, key: str = "differential") -> None:
    ra, rb = a.uns[key], b.uns[key]
    ta, tb = ra["table"], rb["table"]
    assert list(ta.columns) == list(tb.columns)
    assert ta.shape == tb.shape
    for c in ta.columns:
        if pd.api.types.is_float_dtype(ta[c]):
            np.testing.assert_allclose(tb[c], ta[c], rtol=1e-11, atol=1e-13, err_msg=c)
        else:
            assert (ta[c].to_numpy() == tb[c].to_numpy()).all(), c
    for c in ra["f_table"].columns:
        if c in ("feature", "gene"):
            assert (ra["f_table"][c] == rb["f_table"][c]).all()
        else:
            np.testing.assert_allclose(
                rb["f_table"][c], ra["f_table"][c], rtol=1e-11, atol=1e-13, err_msg=c
            )
    for k in ("df_prior", "s2_prior"):
        np.testing.assert_allclose(rb["prior"][k], ra["prior"][k], rtol=1e-11)


@pytest.mark.parametrize(
    ("missing", "options"),
    [
        (0.0, {}),
        (0.0, {"trend": True, "robust": True}),
        (0.15, {}),
        (0.15, {"trend": True}),
        (0.15, {"robust": True, "covariates": ["batch"]}),
        (0.15, {"lfc": 0.5, "fdr": "qvalue"}),
        (0.15, {"exact_se": True, "covariates": ["batch"]}),
    ],
)
def test_chunked_equals_in_memory(missing: float, options: dict) -> None:
    a = simulated(missing=missing)
    if options.get("trend"):
        a = a[:, np.isfinite(a.X).any(axis=0)].copy()  # trend needs a mean for every feature
    b = lazy(a)
    kom.tl.differential(a, **options)
    kom.tl.differential(b, **options)
    assert_same(a, b)
    assert isinstance(b.X, da.Array)  # never replaced by a loaded matrix
    t = b.uns["differential"]["table"]
    assert t.shape[0] == 2 * a.n_vars
    top = t[t["contrast"] == "withdrawal - control"].nsmallest(20, "pvalue")
    assert len(set(top["feature"]) & {f"F{i}" for i in range(20)}) >= 15  # planted signal
    if missing:
        row = t[(t["feature"] == "F40") & (t["contrast"] == "use - control")].iloc[0]
        assert np.isnan(row["pvalue"])
        observed = np.isfinite(a.X[a.obs.phase.ne("use").to_numpy(), 40]).sum()
        assert row["n_obs"] == observed
        if "F41" in a.var_names:
            assert int(t.loc[t["feature"] == "F41", "n_obs"].iloc[0]) == 0


def test_chunk_size_on_in_memory_data_and_threads(caplog: pytest.LogCaptureFixture) -> None:
    a = simulated(missing=0.1)
    b = a.copy()
    kom.tl.differential(a)
    with caplog.at_level(logging.INFO, logger="kratom_omics"):
        kom.tl.differential(b, chunk_size=100, scheduler="synchronous")
    assert_same(a, b)
    assert "700 features x 12 samples in 7 chunk(s) on synchronous" in caplog.text


def test_local_cluster_two_workers() -> None:
    distributed = pytest.importorskip("distributed")
    a = simulated(n_feat=300, missing=0.1)
    b = lazy(a, chunk=50)
    kom.tl.differential(a, trend=False, robust=True)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        kom.tl.differential(b, robust=True)  # the active client is used
        # a scheduler address given explicitly
        c = lazy(a, chunk=70)
        kom.tl.differential(c, robust=True, scheduler=cluster.scheduler_address)
        tasks = client.run_on_scheduler(
            lambda dask_scheduler: sum(
                1 for k in dask_scheduler.task_prefixes if "fit_block" in str(k)
            )
        )
    assert tasks == 1
    assert_same(a, b)
    assert_same(a, c)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scheduler": "local:0"}, "write 'local:N' with N >= 1 workers"),
        ({"scheduler": "local:x"}, "scheduler='local:x' is not understood"),
        ({"scheduler": 2}, "scheduler must be a string"),
        ({"chunk_size": 0}, "chunk_size must be >= 1 feature per task; got 0"),
        ({"chunk_size": 2.5}, "chunk_size must be a positive integer"),
        ({"chunk_size": 10, "weights": np.ones(12)}, "weights are not supported by the chunked"),
    ],
)
def test_bad_options(kwargs: dict, message: str) -> None:
    a = lazy(simulated(n_feat=50))
    with pytest.raises(DesignError, match=message.replace("(", r"\(")):
        kom.tl.differential(a, **kwargs)


def test_missing_dask_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_dask(name: str, *args: object, **kwargs: object) -> object:
        if name == "dask" or name.startswith("dask."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    a = simulated(n_feat=50)
    with pytest.raises(MissingDependencyError, match=r"pip install 'kratom-omics\[dask\]'"):
        kom.tl.differential(a, chunk_size=10)
    kom.tl.differential(a)  # the in-memory path does not need dask
    assert a.uns["differential"]["table"].shape == (
        100,
        len(a.uns["differential"]["table"].columns),
    )
    assert _dask.is_dask_backed(a) is False


def test_scheduler_local_starts_and_closes_a_cluster(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("distributed")
    a = simulated(n_feat=200, missing=0.1)
    a = a[:, np.isfinite(a.X).any(axis=0)].copy()
    b = lazy(a, chunk=60)
    kom.tl.differential(a, trend=True)
    with caplog.at_level(logging.INFO, logger="kratom_omics"):
        kom.tl.differential(b, trend=True, scheduler="local:2")
    assert "LocalCluster with 2 worker(s) started" in caplog.text
    assert "199 features x 12 samples in 4 chunk(s) on 2 worker(s)" in caplog.text
    assert_same(a, b)
    from distributed import default_client

    with pytest.raises(ValueError, match="No clients found"):
        default_client()  # the cluster's client was closed, not left as the default


def test_h5ad_read_lazily(tmp_path) -> None:
    import h5py
    from anndata.experimental import read_elem_lazy

    a = simulated(n_feat=400, missing=0.1)
    a.write_h5ad(tmp_path / "a.h5ad")
    kom.tl.differential(a, robust=True)
    with h5py.File(tmp_path / "a.h5ad", "r") as f:
        x = read_elem_lazy(f["X"], chunks=(a.n_obs, 150))
        b = ad.AnnData(X=x, obs=a.obs.copy(), var=a.var.copy())
        assert isinstance(b.X, da.Array)
        kom.tl.differential(b, robust=True)
    assert_same(a, b)


def test_chunked_fit_logs_its_progress(caplog):
    import logging

    import kratom_omics as kom

    adata = kom.datasets.simulate(seed=3, n_features=200)
    with caplog.at_level(logging.INFO, logger="kratom_omics"):
        kom.tl.differential(
            adata, "phase", contrasts="withdrawal - control", chunk_size=20, scheduler="synchronous"
        )
    lines = [r.getMessage() for r in caplog.records if "chunks fitted" in r.getMessage()]
    assert lines[-1] == "differential: 10 of 10 chunks fitted (100%)"
    assert lines[0] == "differential: 8 of 10 chunks fitted (80%)"  # local scheduler: rounds of 8


@pytest.mark.parametrize("options", [{}, {"trend": True, "covariates": ["batch"]}, {"lfc": 0.3}])
def test_out_writes_parquet_tables_equal_to_the_in_memory_result(tmp_path, options: dict) -> None:
    a = simulated(missing=0.15)
    a = a[:, np.isfinite(a.X).any(axis=0)].copy()
    b = lazy(a, chunk=64)
    kom.tl.differential(a, **options)
    kom.tl.differential(b, out=tmp_path / "res", **options)
    res = b.uns["differential"]
    assert "table" not in res
    assert "f_table" not in res
    assert res["table_path"] == str(tmp_path / "res" / "table.parquet")
    assert res["params"]["out"] == str(tmp_path / "res")
    # nothing else left in the directory: the spilled blocks are removed
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == [
        "f_table.parquet",
        "table.parquet",
    ]
    b.uns["differential"] = {
        **res,
        "table": kom.get.differential(b),
        "f_table": kom.get.differential_f(b),
    }
    assert_same(a, b)
    one = kom.get.differential(b, contrast="withdrawal-control", sort_by="pvalue")
    assert set(one["contrast"]) == {"withdrawal - control"}
    assert one.shape[0] == a.n_vars
    b.uns["differential"] = res  # the parquet form again
    with pytest.raises(KeyError, match="is not a contrast of"):
        kom.get.differential(b, contrast="withdrawal - use")
    assert kom.get.differential(b, contrast="use - control").shape[0] == a.n_vars


def test_out_with_in_memory_data_and_missing_files(tmp_path) -> None:
    from kratom_omics.errors import ResultNotFoundError

    a = simulated(n_feat=200)
    ref = a.copy()
    kom.tl.differential(ref)
    kom.tl.differential(a, out=tmp_path / "mem")
    pd.testing.assert_frame_equal(kom.get.differential(a), kom.get.differential(ref))
    pd.testing.assert_frame_equal(kom.get.differential_f(a), kom.get.differential_f(ref))
    # consumers read the parquet table: the same biomarker flags as from the in-memory table
    kom.tl.flag_biomarkers(a, modality="protein")
    kom.tl.flag_biomarkers(ref, modality="protein")
    pd.testing.assert_frame_equal(kom.get.biomarkers(a), kom.get.biomarkers(ref))
    assert len(kom.get.biomarkers(a)) > 0
    (tmp_path / "mem" / "table.parquet").unlink()
    with pytest.raises(ResultNotFoundError, match="no longer exists"):
        kom.get.differential(a)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DesignError, match="is a file; give a directory"):
        kom.tl.differential(lazy(a), out=tmp_path / "file")


def test_blocks_with_and_without_missing_values_give_the_in_memory_table(tmp_path, monkeypatch):
    """Blocks with no missing value skip the per-feature detection counts (one row of side
    totals); blocks with missing values count them. Mixed in one chunked fit (in memory and
    spilled to parquet) they give the table of the in-memory fit."""
    from kratom_omics.tl import _detection
    from kratom_omics.tl._limma import _engine

    a = simulated(300)
    x = np.asarray(a.X).copy()
    x[:2, 5] = np.nan  # missing values in the first block only (features 0-99)
    x[:, 60] = np.nan
    x[4:7, 70] = np.nan  # a group entirely missing: an on/off result
    a.X = x
    counted: list[int] = []
    original = _detection.detection_counts

    def counting(detected, masks):
        counted.append(detected.shape[0])
        return original(detected, masks)

    monkeypatch.setattr(_engine, "detection_counts", counting)
    kom.tl.differential(a)
    assert counted == [300]  # one block with missing values: counted
    for kwargs in ({"chunk_size": 100}, {"chunk_size": 100, "out": tmp_path / "res"}):
        counted.clear()
        b = simulated(300)
        b.X = x.copy()
        kom.tl.differential(b, **kwargs)
        assert counted == [100]  # only the first block has missing values
        pd.testing.assert_frame_equal(kom.get.differential(b), kom.get.differential(a))
        pd.testing.assert_frame_equal(kom.get.differential_f(b), kom.get.differential_f(a))
    table = kom.get.differential(a)
    full = table[table["feature"].isin([f"F{i}" for i in range(100, 300)])]
    assert (full["n_detected_a"] == full["n_a"]).all()
    assert (full["detection_pvalue"] == 1.0).all()
    assert (full["reason"] == "").all()
    onoff = table[(table["feature"] == "F70") & (table["contrast"] == "use - control")]
    assert onoff["log2fc"].tolist() == [-np.inf]
