"""Hostile argument values over every command: the command line ends with exit 0, 1 or 2, never a
traceback, and exit 1 prints exactly one line ``error: ...`` (the last line on stderr).

The short profile runs in the normal suite; ``pytest -m fuzz`` runs many more examples.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kratom_omics as kom
from kratom_omics.cli import app, main

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
SKIP_OPTIONS = {"help", "version"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("fuzz-inputs")
    sim = kom.datasets.simulate("protein", seed=9, n_features=25, n_per_phase=3)
    sim.write_h5ad(d / "sim.h5ad")
    kom.tl.differential(sim, "phase")
    kom.tl.flag_biomarkers(sim, n_boot=0)
    sim.write_h5ad(d / "diff.h5ad")
    kom.datasets.write_maxquant(sim, d / "proteinGroups.txt")
    kom.datasets.write_samples(sim, d / "samples.tsv")
    (d / "a_file").write_text("not a table\n")
    (d / "a_dir").mkdir()
    (d / "empty.tsv").write_text("")
    return {p.name: str(p) for p in d.iterdir()}


def _params(command: str) -> tuple[list[str], dict[str, str]]:
    cmd = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    args = [p.name for p in cmd.params if p.param_type_name == "argument"]
    opts = {
        p.name: sorted(p.opts, key=len)[-1]
        for p in cmd.params
        if p.param_type_name == "option" and p.name not in SKIP_OPTIONS
    }
    return args, opts


HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "-",
        "--",
        "nan",
        "inf",
        "-1",
        "0",
        "1e309",
        "abc",
        "a,b,,c",
        "withdrawal - control",
        "withdrawl - control",
        "(((",
        "~ phase +",
        "x" * 300,
        "é µ ☃",
        "\x1b[31mred",
        "'; touch PWNED; '",
        "$(touch PWNED)",
        "../../escape",
        "a/b/c",
        "tcp://",
        "bogus://x",
        "local:0",
    ]
)


def _value(inputs: dict[str, str]) -> st.SearchStrategy[str]:
    files = st.sampled_from(sorted(inputs.values()))
    new = st.sampled_from(["out.h5ad", "out.tsv", "out.png", "out.html", "o/x.h5mu", "out"])
    return st.one_of(files, new, HOSTILE_TEXT, st.text(max_size=12))


@st.composite
def command_lines(draw, inputs: dict[str, str]) -> list[str]:
    command = draw(st.sampled_from(COMMANDS))
    args, opts = _params(command)
    line = [command]
    for _ in args:
        line.append(draw(_value(inputs)))
    names = draw(st.lists(st.sampled_from(sorted(opts)), max_size=3, unique=True)) if opts else []
    for name in names:
        flag = opts[name]
        if command == "fetch" and name == "base_url":
            continue
        line += [flag, draw(_value(inputs))]
    if command == "fetch":  # never the network: a local port nobody listens on
        line += ["--base-url", "http://127.0.0.1:9"]
    return line


def _check(line: list[str]) -> None:
    err = io.StringIO()
    out = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(line)
    text = err.getvalue()
    assert code in (0, 1, 2), (line, code, text)
    assert "Traceback" not in text, (line, text)
    if code == 1:
        errors = [x for x in text.splitlines() if x.startswith("error:")]
        assert len(errors) == 1, (line, text)
        assert text.rstrip().endswith(errors[0]), (line, text)


def _run(inputs, line) -> None:
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as work:
        os.chdir(work)
        try:
            _check(line)
            assert not list(Path(work).rglob("PWNED*"))
        finally:
            os.chdir(cwd)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_hostile_values_in_one_line(inputs, command, capsys):
    """Every command once with hostile values (deterministic, fast)."""
    args, _ = _params(command)
    for value in ("", "a_dir", "x" * 300, "\x1b[31m\nred"):
        line = [command]
        line += [inputs["a_dir"] if value == "a_dir" else value for _ in args]
        if command == "fetch":
            line += ["--base-url", "http://127.0.0.1:9"]
        _run(inputs, line)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(data=st.data())
def test_hostile_command_lines_short(inputs, data):
    _run(inputs, data.draw(command_lines(inputs)))


@pytest.mark.fuzz
@settings(
    max_examples=int(os.environ.get("KOM_FUZZ_EXAMPLES", "2000")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_command_lines_long(inputs, data, request):
    if "fuzz" not in (request.config.getoption("-m") or ""):
        pytest.skip("long fuzzing: run with -m fuzz")
    _run(inputs, data.draw(command_lines(inputs)))
