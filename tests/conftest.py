from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def protein():
    import kratom_omics as kom

    return kom.datasets.simulate("protein", seed=0)


@pytest.fixture(scope="session")
def histone():
    import kratom_omics as kom

    return kom.datasets.simulate("histone", seed=1)


@pytest.fixture
def repository(tmp_path_factory, monkeypatch):
    """A local PRIDE (REST API and files over HTTP) and MassIVE (FTP) server; the environment points
    kratom-omics at it (no network is used)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_kom_repository", Path(__file__).with_name("_repository.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    repo = module.Repository(tmp_path_factory.mktemp("repository"))
    monkeypatch.setenv("KRATOM_OMICS_PRIDE_API", repo.pride_api)
    monkeypatch.setenv("KRATOM_OMICS_PRIDE_FILES", repo.http)
    monkeypatch.setenv("KRATOM_OMICS_MASSIVE_FTP", repo.ftp)
    yield repo
    repo.close()


def pytest_collection_modifyitems(config, items):
    """The example-data workflow file (one full Snakemake run shared by its tests, the longest
    file) first, the other full runs (a DIA-NN export, a public dataset) last. ``make test`` runs
    ``pytest -n 2 --dist loadfile --no-loadscope-reorder``: each file goes to one worker in
    collection order, so the longest file starts at once beside the unit tests, and the full runs
    do not compete with each other for the two cores (each runs two jobs at a time)."""

    def rank(item) -> int:
        path = item.nodeid.replace("\\", "/").split("::")[0]
        if path.endswith("tests/workflow/test_workflow.py"):
            return 0
        return 2 if "tests/workflow/test_workflow_" in path else 1

    items.sort(key=rank)
