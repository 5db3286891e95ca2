"""Errors in command-line words: what ``kratom-omics`` prints for an error, on one line.

An error raised with ``cli=`` (see :class:`~kratom_omics.errors.KratomOmicsError`) carries its own
command-line text. Any other message is translated by two rules, the same for every command:

- a call of the Python API (``kom.tl.differential(adata, ..., key_added='x')``) becomes the command
  that runs it (``kratom-omics differential IN OUT --key-added x``);
- a keyword of the running command written as ``name=value`` (``groupby='phse'``,
  ``phases=['control', 'use']``) becomes its flag (``--groupby phse``, ``--phases control,use``).

Whatever the message, it is printed as one line: ANSI colour codes are dropped and line breaks
folded into spaces.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Mapping

__all__ = ["COMMANDS", "cli_message", "one_line"]

#: The command running each public function (the CLI mirrors the API).
COMMANDS: Mapping[str, str] = {
    "io.read": "load",
    "io.read_study": "study",
    "pp.recipe": "preprocess",
    "pp.log2": "preprocess",
    "pp.filter_valid": "preprocess",
    "pp.normalize": "preprocess",
    "pp.impute": "preprocess",
    "pp.remove_flagged": "preprocess",
    "tl.differential": "differential",
    "tl.flag_biomarkers": "biomarkers",
    "tl.timecourse": "timecourse",
    "tl.permutation_fdr": "permutation-fdr",
    "tl.panel_tests": "panel-tests",
    "tl.power": "power",
    "report.html": "report",
    "report.figures": "report-figures",
    "datasets.simulate": "simulate",
    "datasets.fetch": "fetch",
}

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_CALL = re.compile(r"`?kom\.(\w+\.\w+)\(([^()]*)\)`?")
_VALUE = r"(\[[^\[\]]*\]|'[^']*'|\"[^\"]*\"|[^\s,;()\]]+)"


def one_line(text: str) -> str:
    """``text`` without ANSI escapes, its whitespace runs (line breaks too) folded to one space."""
    return " ".join(_ANSI.sub("", text).split())


def _flag_value(value: str) -> str:
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    if isinstance(parsed, (list, tuple)):
        parsed = ",".join(str(v) for v in parsed)
    if parsed is None:
        return "''"
    if isinstance(parsed, bool):
        return ""
    return shlex.quote(str(parsed))


def _flag(name: str, value: str) -> str:
    flag = "--" + name.replace("_", "-")
    shown = _flag_value(value)
    if shown == "":  # a boolean: the switch itself
        try:
            return flag if ast.literal_eval(value) else f"--no-{flag[2:]}"
        except (ValueError, SyntaxError):  # pragma: no cover - _flag_value parsed it
            return flag
    return f"{flag} {shown}"


def _command(match: re.Match[str]) -> str:
    func, args = match.group(1), match.group(2)
    command = COMMANDS.get(func)
    if command is None:
        return match.group(0)
    flags = []
    for part in re.finditer(r"(\w+)=" + _VALUE, args):
        flags.append(_flag(part.group(1), part.group(2)))
    return "`kratom-omics " + " ".join([command, "...", *flags]) + "`"


def cli_message(exc: BaseException, params: Mapping[str, str] | None = None) -> str:
    """The one line printed for ``exc`` by a command whose options are ``params`` (Python name ->
    flag)."""
    text = one_line(getattr(exc, "cli", None) or str(exc))
    text = _CALL.sub(_command, text)
    if params:
        names = "|".join(re.escape(n) for n in sorted(params, key=len, reverse=True))
        pattern = re.compile(r"(?<![\w.\-])(" + names + r")=" + _VALUE)

        def flag(m: re.Match[str]) -> str:
            shown = _flag_value(m.group(2))
            return params[m.group(1)] + (f" {shown}" if shown else "")

        text = pattern.sub(flag, text)
    return one_line(text)
