"""kom.datasets.fetch against a local PRIDE (REST API + files over HTTP) and MassIVE (FTP) server."""

from __future__ import annotations

import hashlib
import logging

import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.cli import main
from kratom_omics.errors import DownloadError, InputFormatError, KeyNotFoundError

ARCHIVE = "/pride/data/archive/2024/01"


def sdrf_for(adata) -> str:
    """An SDRF-Proteomics file describing the simulated samples (one raw file each)."""
    header = [
        "source name",
        "characteristics[organism]",
        "characteristics[organism part]",
        "characteristics[disease]",
        "assay name",
        "technology type",
        "comment[data file]",
        "comment[label]",
        "comment[fraction identifier]",
        "comment[instrument]",
        "factor value[disease]",
    ]
    rows = [
        [
            f"{s}-rat",
            "Rattus norvegicus",
            "nucleus accumbens",
            str(p),
            f"run {i + 1}",
            "proteomic profiling by mass spectrometry",
            f"{s}.raw",
            "AC=MS:1002038;NT=label free sample",
            "1",
            "NT=Q Exactive HF-X;AC=MS:1002877",
            str(p),
        ]
        for i, (s, p) in enumerate(zip(adata.obs_names, adata.obs["phase"], strict=True))
    ]
    return "\n".join("\t".join(r) for r in [header, *rows]) + "\n"


@pytest.fixture
def project(repository, tmp_path):
    adata = kom.datasets.simulate("protein", seed=3, n_features=40, n_per_phase=2)
    kom.datasets.write_maxquant(adata, tmp_path / "proteinGroups.txt")
    files = {
        "proteinGroups.txt": (tmp_path / "proteinGroups.txt").read_bytes(),
        "PXD000001.sdrf.tsv": sdrf_for(adata).encode(),
        "control_01.raw": bytes(range(256)) * 8,
        "evidence.txt": b"Sequence\tRaw file\nPEPTIDE\tcontrol_01\n",
    }
    repository.add_pride_project("PXD000001", files)
    return files, adata


def file_requests(repository):
    return [r for r in repository.requests if r[0].startswith(ARCHIVE)]


def test_fetch_gets_the_named_files_and_the_sdrf_then_reads_them(repository, project, tmp_path):
    files, adata = project
    paths = kom.datasets.fetch(
        "PXD000001", files="*proteinGroups.txt", dest=tmp_path / "cache", progress=False
    )
    assert list(paths) == ["proteinGroups.txt", "PXD000001.sdrf.tsv"]
    for name, path in paths.items():
        assert path == tmp_path / "cache" / "PXD000001" / name
        assert path.read_bytes() == files[name]
    assert not (tmp_path / "cache/PXD000001/control_01.raw").exists()
    assert not list((tmp_path / "cache/PXD000001").glob(".*"))  # no part or temporary file left

    # the SDRF is the sample sheet of the downloaded table
    data = kom.io.read(paths["proteinGroups.txt"], paths["PXD000001.sdrf.tsv"])
    assert data.n_obs == adata.n_obs
    assert list(data.obs["phase"].astype(str)) == list(
        adata.obs.loc[data.obs_names, "phase"].astype(str)
    )
    assert set(data.obs["data_file"]) == {f"{s}.raw" for s in adata.obs_names}

    # a second call finds the files in the cache and downloads nothing
    before = len(file_requests(repository))
    again = kom.datasets.fetch("PXD000001", files="*proteinGroups.txt", dest=tmp_path / "cache")
    assert again == paths
    assert len(file_requests(repository)) == before


def test_cut_off_download_is_not_complete_and_resumes(repository, project, tmp_path, caplog):
    files, _ = project
    path = f"{ARCHIVE}/PXD000001/proteinGroups.txt"
    repository.cut[path] = 1000
    cache = tmp_path / "cache"
    with pytest.raises(
        DownloadError,
        match=r"proteinGroups.txt: download cut off after 1,000 bytes .*run the same command again to resume",
    ) as info:
        kom.datasets.fetch("PXD000001", files="proteinGroups.txt", dest=cache, sdrf=False)
    assert "\n" not in str(info.value)
    target = cache / "PXD000001" / "proteinGroups.txt"
    assert not target.exists()
    assert (cache / "PXD000001" / ".proteinGroups.txt.part").stat().st_size == 1000

    with caplog.at_level(logging.INFO, logger="kratom_omics"):
        paths = kom.datasets.fetch("PXD000001", files="proteinGroups.txt", dest=cache, sdrf=False)
    assert paths["proteinGroups.txt"].read_bytes() == files["proteinGroups.txt"]
    assert (path, "bytes=1000-") in repository.requests
    assert "resuming after 1,000 bytes" in caplog.text
    assert "sha1 checked" in caplog.text
    assert not (cache / "PXD000001" / ".proteinGroups.txt.part").exists()


def test_checksum_mismatch_leaves_nothing(repository, tmp_path):
    repository.add_pride_project(
        "PXD000002", {"report.tsv": b"Run\tProtein.Group\n"}, checksums={"report.tsv": "0" * 40}
    )
    with pytest.raises(
        DownloadError,
        match=r"report.tsv: the downloaded file does not match the repository's checksum \(sha1:0+\)",
    ):
        kom.datasets.fetch("PXD000002", files="report.tsv", dest=tmp_path)
    assert not list((tmp_path / "PXD000002").iterdir())


def test_unknown_accession_missing_file_and_bad_accession(repository, project, tmp_path):
    with pytest.raises(KeyNotFoundError, match="PRIDE has no public project 'PXD999999'"):
        kom.datasets.fetch("PXD999999", dest=tmp_path)
    with pytest.raises(
        KeyNotFoundError,
        match=r"PXD000001: no file matches '\*proteinGroup.txt'. Did you mean 'proteinGroups.txt'\?",
    ):
        kom.datasets.fetch("PXD000001", files="*proteinGroup.txt", dest=tmp_path)
    with pytest.raises(InputFormatError, match="'PXD12' is not a PRIDE"):
        kom.datasets.fetch("PXD12", dest=tmp_path)
    assert not (tmp_path / "PXD000001").exists()


def test_base_url_option_and_unreachable_server(repository, project, tmp_path, monkeypatch):
    monkeypatch.delenv("KRATOM_OMICS_PRIDE_API")
    table = kom.datasets.remote_files("PXD000001", base_url=repository.pride_api)
    files, _ = project
    assert table["name"].tolist() == list(files)
    assert table["size"].tolist() == [len(b) for b in files.values()]
    assert table["checksum"].tolist() == [
        f"sha1:{hashlib.sha1(b).hexdigest()}" for b in files.values()
    ]
    with pytest.raises(DownloadError, match=r"cannot reach http://127.0.0.1:9/projects/PXD000001"):
        kom.datasets.fetch("PXD000001", base_url="http://127.0.0.1:9", dest=tmp_path)


def test_pride_files_on_an_ftp_server(repository, tmp_path):
    data = {"combined_protein.tsv": b"Protein\tGene\tA_1 MaxLFQ Intensity\nP1\tRab35\t12.5\n" * 50}
    repository.add_pride_project("PXD000003", data, via="ftp")
    paths = kom.datasets.fetch("PXD000003", files="*.tsv", dest=tmp_path, sdrf=False)
    assert paths["combined_protein.tsv"].read_bytes() == data["combined_protein.tsv"]


def test_massive_dataset_over_ftp_resumes(repository, tmp_path):
    content = b"Protein IDs\tLFQ intensity A\n" + b"P1\t1000\n" * 2000
    repository.add_massive_dataset(
        "MSV000000001",
        {
            "search/proteinGroups.txt": content,
            "metadata/study.sdrf.tsv": b"source name\tcomment[data file]\n",
            "raw/a.raw": b"x" * 100,
        },
    )
    table = kom.datasets.remote_files("MSV000000001")
    assert sorted(table["name"]) == [
        "metadata/study.sdrf.tsv",
        "raw/a.raw",
        "search/proteinGroups.txt",
    ]
    assert table.set_index("name").loc["raw/a.raw", "size"] == 100

    part = tmp_path / "MSV000000001" / "search" / ".proteinGroups.txt.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(content[:5000])  # an earlier, interrupted run
    paths = kom.datasets.fetch("msv000000001", files="*proteinGroups.txt", dest=tmp_path)
    assert list(paths) == ["search/proteinGroups.txt", "metadata/study.sdrf.tsv"]
    assert paths["search/proteinGroups.txt"].read_bytes() == content
    assert not part.exists()
    with pytest.raises(KeyNotFoundError, match="MassIVE has no public dataset 'MSV000000002'"):
        kom.datasets.fetch("MSV000000002", dest=tmp_path)


def test_cli_fetch_prints_paths_and_lists(repository, project, tmp_path, capsys):
    code = main(["fetch", "PXD000001", "--files", "*proteinGroups.txt", "--dest", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines() == [
        str(tmp_path / "PXD000001" / "proteinGroups.txt"),
        str(tmp_path / "PXD000001" / "PXD000001.sdrf.tsv"),
    ]
    assert "proteinGroups.txt: downloading" in err  # plain log lines when stderr is no terminal

    code = main(["fetch", "PXD000001", "--list"])
    out, _ = capsys.readouterr()
    assert code == 0
    listed = pd.read_csv(__import__("io").StringIO(out), sep="\t")
    assert listed["name"].tolist() == list(project[0])

    code = main(["fetch", "PXD999999", "--dest", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("error: PRIDE has no public project 'PXD999999'")
    assert len(err.strip().splitlines()) == 1


def test_without_files_only_the_sdrf_comes_and_exact_names_win(repository, project, tmp_path):
    paths = kom.datasets.fetch("PXD000001", dest=tmp_path)
    assert list(paths) == ["PXD000001.sdrf.tsv"]
    assert sorted(p.name for p in (tmp_path / "PXD000001").iterdir()) == ["PXD000001.sdrf.tsv"]
    repository.add_pride_project("PXD000004", {"a[1].txt": b"one", "a1.txt": b"two"})
    got = kom.datasets.fetch("PXD000004", files="a[1].txt", dest=tmp_path, sdrf=False)
    assert list(got) == ["a[1].txt"]  # the name itself, not the pattern a[1].txt (which is a1.txt)
    assert got["a[1].txt"].read_bytes() == b"one"
