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
