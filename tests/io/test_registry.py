"""The format registry: one record per format, the lists derived from it, no import circle in io."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KeyNotFoundError
from kratom_omics.io._registry import FORMATS, REGISTRY, detect

ROOT = Path(__file__).parents[2]
IO = ROOT / "src" / "kratom_omics" / "io"
DATA = Path(__file__).parents[1] / "data"


def _io_imports(path: Path) -> set[str]:
    """Modules of kratom_omics.io a module imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 1:  # from .x import y / from . import x
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name for a in node.names)
        elif node.level == 2 and node.module is None:  # from .. import io
            if any(a.name == "io" for a in node.names):
                found.add("__init__")
        elif node.level == 2 and node.module and node.module.startswith("io"):
            found.add(node.module.split(".")[1] if "." in node.module else "__init__")
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if state.get(nxt) is None and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_inside_io():
    graph = {
        p.stem: {m for m in _io_imports(p) if m != p.stem}
        for p in IO.glob("*.py")
        if p.stem != "__init__"
    }
    assert graph["_registry"] >= {"_maxquant", "_diann", "_format"}  # the graph is really read
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_one_record_per_format_and_every_list_derives_from_it():
    names = [f.name for f in REGISTRY]
    assert len(names) == len(set(names))
    readable = [f.name for f in REGISTRY if f.reader is not None]
    assert list(kom.io.FORMATS) == readable == list(FORMATS)
    assert (
        tuple(f.name for f in REGISTRY if f.modality == "protein" and f.reader is not None)
        == kom.io.PROTEOMICS_FORMATS
    )
    assert set(kom.io.PROTEOMICS_FORMATS) == {
        "maxquant", "diann", "fragpipe", "spectronaut", "alphapept", "alphadia", "mztab",
    }  # fmt: skip
    for fmt in REGISTRY:
        assert (fmt.reader is None) == (fmt.refuse is not None), fmt.name
        assert fmt.looks_for or fmt.detect is None, fmt.name


def test_workflow_schema_enum_is_the_registry():
    schema = yaml.safe_load((ROOT / "workflows" / "schemas" / "config.schema.yaml").read_text())
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "enum" in node.get("properties", {}).get("format", {}):  # not the bigwig rule
                found.append(node["properties"]["format"]["enum"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    assert found, "no format enum in the schema"
    for enum in found:
        assert enum == ["auto", *FORMATS]


def test_readme_lists_the_registry():
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"their format \(([^)]*)\)", readme)
    assert m is not None
    assert set(re.findall(r"`([a-z]+)`", m.group(1))) == {*FORMATS, "auto"}


def test_read_format_is_checked_against_the_registry(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("id\tS1\nP1\t1\n")
    with pytest.raises(KeyNotFoundError, match=r"format='maxqant' is not available\. Did you mean"):
        kom.io.read(path, format="maxqant")
    with pytest.raises(InputFormatError, match=r"Available: \['alphadia', 'alphapept', 'auto'"):
        kom.io.read(path, format="nope")
    a = kom.io.read(path, format="TABLE")
    assert a.uns["kratom_omics"]["format"] == "table"


@pytest.mark.parametrize(
    ("text", "name", "kind"),
    [
        ("Protein.Group\tProtein.Ids\tGenes\tRun1\nP1\tP1\tG\t1\n", "x.tsv", "pg_matrix"),
        (
            "Protein.Group\tProtein.Ids\tGenes\tPrecursor.Id\tProteotypic\tRun1\n"
            "P1\tP1\tG\tAAK2\t1\t5\n",
            "x.tsv",
            "pr_matrix",
        ),
        ("File.Name\tRun\tProtein.Group\tGenes\tPrecursor.Id\tPG.MaxLFQ\n", "r.tsv", "report"),
    ],
)
def test_a_detector_names_the_kind(tmp_path, text, name, kind):
    path = tmp_path / name
    path.write_text(text)
    fmt, det = detect(path)
    assert (fmt.name, det.kind) == ("diann", kind)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sample\tgroup\nS1\tctrl\n", "looks like a sample sheet"),
        ("source name\tcharacteristics[organism]\tassay name\nS1\trat\trun1\n", "an SDRF file"),
        ("Status\ta.bam\tb.bam\nAssigned\t10\t12\nUnassigned_NoFeatures\t1\t2\n", ".summary"),
        ("chr1\t100\t200\tpeak_1\nchr2\t5\t80\tpeak_2\n", "kom.io.read_peaks"),
    ],
)
def test_files_that_are_not_data_are_refused_with_what_to_do(tmp_path, text, message):
    path = tmp_path / "input.txt"
    path.write_text(text)
    with pytest.raises(InputFormatError, match=re.escape(message)):
        kom.io.read(path)


def test_read_records_the_detection_and_the_choices(tmp_path):
    import json

    a = kom.io.read(DATA / "proteomics" / "report.pg_matrix.tsv")
    assert a.uns["kratom_omics"]["format"] == "diann"
    assert a.uns["kratom_omics"]["format_kind"] == "pg_matrix"
    step = a.uns["kratom_omics"]["provenance"]["step_000"]
    assert step["function"] == "kratom_omics.io.read_diann"
    choices = json.loads(step["parameters"])["choices"]
    assert choices["format"]["value"] == "diann (pg_matrix)"
    assert choices["encoding"] == "utf-8"
    assert choices["delimiter"] == "tab"


def test_an_unknown_option_names_the_readers_options():
    with pytest.raises(KeyNotFoundError, match=r"option\(s\) \['q_valu'\] are not options of"):
        kom.io.read(DATA / "proteomics" / "report.pg_matrix.tsv", q_valu=0.05)


def test_folder_search_uses_the_records(tmp_path):
    (tmp_path / "combined" / "txt").mkdir(parents=True)
    target = tmp_path / "combined" / "txt" / "proteinGroups.txt"
    target.write_bytes((DATA / "proteomics" / "proteinGroups.txt").read_bytes())
    a = kom.io.read(tmp_path)
    assert a.uns["kratom_omics"]["format"] == "maxquant"
    assert a.n_obs == 6


def test_every_reader_has_the_sample_sheet_and_encoding_parameters():
    import inspect

    for fmt in FORMATS.values():
        sig = inspect.signature(fmt.reader)
        names = list(sig.parameters)
        assert names[:2] == ["path", "samples"], fmt.name
        for key in ("encoding", "phases", "join"):
            assert sig.parameters[key].kind is inspect.Parameter.KEYWORD_ONLY, (fmt.name, key)
        doc = fmt.reader.__doc__
        for key in ("samples", "encoding", "phases", "join"):
            assert re.search(rf"\n    (\w+, )*{key}(, \w+)*\n", doc), (fmt.name, key)
        assert doc.index("join\n") < doc.index("\n    Returns\n")


def test_quantity_for_a_format_with_one_quantity_is_logged_and_ignored(caplog):
    with caplog.at_level("INFO", logger="kratom_omics"):
        a = kom.io.read(DATA / "proteomics" / "quant.mzTab", quantity="lfq")
    assert a.n_obs == 4
    assert "a mzTab file has no quantity choice; 'lfq' ignored" in caplog.text


def test_quantity_choices_come_from_the_record():
    assert FORMATS["maxquant"].quantity_choices == [
        "lfq",
        "intensity",
        "ibaq",
        "reporter_corrected",
        "reporter",
    ]
    assert FORMATS["diann"].quantities["intensity"] == "quantity"
    a = kom.io.read(DATA / "proteomics" / "proteinGroups.txt", quantity="maxlfq")
    b = kom.io.read(DATA / "proteomics" / "proteinGroups.txt", quantity="lfq")
    np.testing.assert_array_equal(a.X, b.X)
