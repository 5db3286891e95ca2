"""The defaults a user can set live once (kratom_omics._defaults): the recipe, the command line,
the analysis functions and the workflow schema must all agree with them."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import typer
import yaml

import kratom_omics as kom
from kratom_omics._defaults import BIOMARKERS, DIFFERENTIAL, DIFFERENTIAL_METHODS, PREPROCESS
from kratom_omics.cli import app

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflows" / "schemas" / "config.schema.yaml"


def _schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text())


def _cli_defaults(command: str) -> dict[str, object]:
    group = typer.main.get_command(app)
    cmd = group.commands[command]  # type: ignore[attr-defined]
    return {p.name: p.default for p in cmd.params if p.name is not None}


def _signature_defaults(func) -> dict[str, object]:
    return {
        name: p.default
        for name, p in inspect.signature(func).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def test_schema_preprocess_defaults_are_the_package_defaults() -> None:
    props = _schema()["properties"]["modalities"]["additionalProperties"]["properties"]
    pp = props["preprocess"]["properties"]
    assert set(pp) == {
        "remove_flagged",
        "transform",
        "pseudocount",
        "min_valid",
        "valid_mode",
        "normalize",
        "reference",
        "impute",
        "track_normalization",
    }
    for name, spec in pp.items():
        if name == "reference":  # no default: needed by the reference methods only
            assert "default" not in spec
            continue
        assert spec["default"] == getattr(PREPROCESS, name), name


def test_schema_track_options_are_the_readers_defaults() -> None:
    """The bigWig options of a modality: documented with read_bigwig's defaults, and the
    track normalisations the recipe knows."""
    from kratom_omics.pp._recipe import TRACK_NORMALIZATIONS

    props = _schema()["properties"]["modalities"]["additionalProperties"]
    reader = _signature_defaults(kom.io.read_bigwig)
    for name in ("feature", "upstream", "downstream", "max_distance"):
        assert props["properties"][name]["default"] == reader[name], name
    for name in ("regions", "annotation", "mark"):
        assert "default" not in props["properties"][name], name
    assert props["then"] == {"required": ["regions"]}
    assert props["if"]["properties"]["format"] == {"const": "bigwig"}
    track_norm = props["properties"]["preprocess"]["properties"]["track_normalization"]
    assert sorted(track_norm["enum"]) == sorted(TRACK_NORMALIZATIONS)


def test_schema_differential_and_biomarker_defaults_are_the_package_defaults() -> None:
    props = _schema()["properties"]
    diff = props["differential"]["properties"]
    for name in ("trend", "robust", "fdr", "lfc", "method", "n_peptides"):
        assert diff[name]["default"] == getattr(DIFFERENTIAL, name), name
    assert diff["method"]["enum"] == list(DIFFERENTIAL_METHODS)
    assert next(iter(DIFFERENTIAL_METHODS)) == DIFFERENTIAL.method
    bio = props["biomarkers"]["properties"]
    for name in ("alpha", "min_abs_log2fc"):
        assert bio[name]["default"] == getattr(BIOMARKERS, name), name


def test_recipe_and_cli_preprocess_defaults_are_the_package_defaults() -> None:
    expected = PREPROCESS.as_dict()
    recipe = _signature_defaults(kom.pp.recipe)
    cli = _cli_defaults("preprocess")
    for name, value in expected.items():
        assert recipe[name] == value, name
        assert cli[name] == value, name


@pytest.mark.parametrize(
    ("command", "func", "defaults"),
    [
        ("differential", "differential", DIFFERENTIAL),
        ("biomarkers", "flag_biomarkers", BIOMARKERS),
    ],
)
def test_analysis_and_cli_defaults_are_the_package_defaults(command, func, defaults) -> None:
    api = _signature_defaults(getattr(kom.tl, func))
    cli = _cli_defaults(command)
    for name, value in defaults.as_dict().items():
        assert api[name] == value, name
        assert cli[name] == value, name


def test_workflow_rules_hold_no_default_of_their_own() -> None:
    rules = "".join(p.read_text() for p in (ROOT / "workflows" / "rules").glob("*.smk"))
    # the values are read from kratom_omics._defaults, never written again in the rules
    assert "getattr(PREPROCESS, key)" in rules
    assert '"min_valid": 0.7' not in rules
    assert "0.58" not in rules
