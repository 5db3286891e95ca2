"""Download result files and the SDRF of a public dataset (PRIDE, MassIVE) by its accession.

PRIDE projects (``PXD``/``PRD`` accessions) are listed through PRIDE Archive's REST API
(``/projects/{accession}`` and ``/projects/{accession}/files/all``, which give each file's size, its
checksum and its locations); MassIVE datasets (``MSV`` accessions) through the MassIVE FTP server.
Each file is downloaded with ``pooch`` (cache folder, checksum check, atomic move into place) by a
downloader that resumes: the bytes arrive in ``.<name>.part`` next to the target (HTTP ``Range``
or FTP ``REST`` continue it after an interruption) and the target appears only once the size
(and the checksum, where the repository gives one) is right.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import ftplib
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from ..errors import DownloadError, InputFormatError, KeyNotFoundError

__all__ = ["fetch", "remote_files"]

logger = logging.getLogger("kratom_omics")

#: PRIDE Archive REST API (override with ``base_url=`` or ``KRATOM_OMICS_PRIDE_API``).
PRIDE_API = "https://www.ebi.ac.uk/pride/ws/archive/v3"
#: MassIVE FTP server (override with ``base_url=`` or ``KRATOM_OMICS_MASSIVE_FTP``).
MASSIVE_FTP = "ftp://massive.ucsd.edu"
#: Where PRIDE's files are fetched over HTTPS (override with ``KRATOM_OMICS_PRIDE_FILES``).
PRIDE_FILES = "https://ftp.pride.ebi.ac.uk"
ENV_PRIDE = "KRATOM_OMICS_PRIDE_API"
ENV_PRIDE_FILES = "KRATOM_OMICS_PRIDE_FILES"
ENV_MASSIVE = "KRATOM_OMICS_MASSIVE_FTP"
ENV_CACHE = "KRATOM_OMICS_CACHE"

_PRIDE_ID = re.compile(r"P[XR]D\d{6}")
_MASSIVE_ID = re.compile(r"MSV\d{9}")
_TIMEOUT = (15, 120)  # connect, read (seconds)
_CHUNK = 1 << 20
_HASHES = {32: "md5", 40: "sha1", 64: "sha256"}


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name in the dataset, where to get it, its size and checksum."""

    name: str
    url: str
    size: int | None = None
    checksum: str | None = None  # pooch form: "md5:<hex>", "sha1:<hex>", "sha256:<hex>"


def _repository(accession: str) -> str:
    if _PRIDE_ID.fullmatch(accession):
        return "pride"
    if _MASSIVE_ID.fullmatch(accession):
        return "massive"
    raise InputFormatError(
        f"accession {accession!r} is not a PRIDE (PXD000000, PRD000000) or MassIVE (MSV000000000) "
        "accession; copy it from the dataset's page (ProteomeXchange datasets hosted by MassIVE are "
        "fetched by their MSV accession)."
    )


def _checksum(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    if ":" in text:
        prefix, _, digest = text.partition(":")
        return f"{prefix}:{digest}" if prefix in _HASHES.values() else None
    alg = _HASHES.get(len(text))
    return f"{alg}:{text}" if alg and re.fullmatch(r"[0-9a-f]+", text) else None


# ------------------------------------------------------------------------------------ listing: PRIDE
def _get_json(url: str, what: str) -> Any:
    import requests

    try:
        resp = requests.get(url, headers={"Accept": "application/json"}, timeout=_TIMEOUT)
    except requests.RequestException as exc:
        raise DownloadError(
            f"cannot reach {url}: {exc.__class__.__name__}; check the network connection (or the "
            f"base URL, {ENV_PRIDE})."
        ) from None
    if resp.status_code in (404, 204) or (resp.ok and not resp.content.strip()):
        return None
    if not resp.ok:
        raise DownloadError(
            f"{what}: {url} answered HTTP {resp.status_code} {resp.reason}; try again later."
        )
    try:
        return resp.json()
    except ValueError:
        raise DownloadError(f"{what}: {url} did not answer JSON; is {ENV_PRIDE} right?") from None


def _pride_url(record: dict[str, Any]) -> str | None:
    """The download URL of a PRIDE file record: an http(s) location if given, else the FTP one.

    ``ftp://ftp.pride.ebi.ac.uk/<path>`` is fetched over HTTPS from the same path
    (``https://ftp.pride.ebi.ac.uk/<path>``, which PRIDE serves too and which passes firewalls
    and resumes more reliably; ``KRATOM_OMICS_PRIDE_FILES`` replaces that host, e.g. by a mirror).
    """
    values = [
        str(loc.get("value", ""))
        for loc in record.get("publicFileLocations") or []
        if isinstance(loc, dict)
    ]
    http = [v for v in values if v.startswith(("http://", "https://"))]
    if http:
        return http[0]
    ftp = [v for v in values if v.startswith("ftp://")]
    if not ftp:
        return None
    parts = urlsplit(ftp[0])
    if parts.hostname == "ftp.pride.ebi.ac.uk":
        return (os.environ.get(ENV_PRIDE_FILES) or PRIDE_FILES).rstrip("/") + parts.path
    return ftp[0]


def _pride_files(accession: str, base_url: str) -> list[RemoteFile]:
    base = base_url.rstrip("/")
    project = _get_json(f"{base}/projects/{accession}", accession)
    if not project or (isinstance(project, dict) and not project.get("accession", accession)):
        raise KeyNotFoundError(
            f"PRIDE has no public project {accession!r} ({base}/projects/{accession} found nothing); "
            "check the accession on https://www.ebi.ac.uk/pride/archive/ (a dataset under embargo "
            "is not public yet)."
        )
    records = _get_json(f"{base}/projects/{accession}/files/all", accession) or []
    if isinstance(records, dict):  # paged form: {"_embedded": {"files": [...]}}
        records = records.get("_embedded", {}).get("files", [])
    files = []
    for rec in records:
        if not isinstance(rec, dict) or not rec.get("fileName"):
            continue
        url = _pride_url(rec)
        if url is None:
            continue
        size = rec.get("fileSizeBytes")
        files.append(
            RemoteFile(
                name=str(rec["fileName"]),
                url=url,
                size=int(size) if isinstance(size, int | float) and size >= 0 else None,
                checksum=_checksum(rec.get("checksum")),
            )
        )
    return files


# ---------------------------------------------------------------------------------- listing: MassIVE
@contextlib.contextmanager
def _ftp(url: str) -> Iterator[tuple[ftplib.FTP, str]]:
    """An anonymous FTP session on the host of ``url``; yields it and the URL's path."""
    parts = urlsplit(url)
    ftp = ftplib.FTP(timeout=_TIMEOUT[1])
    try:
        ftp.connect(parts.hostname or "", parts.port or 21, timeout=_TIMEOUT[0])
        ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or ""))
        ftp.voidcmd("TYPE I")
    except (OSError, ftplib.Error) as exc:
        ftp.close()
        raise DownloadError(
            f"cannot reach the FTP server of {url}: {exc}; check the network connection (or the "
            f"base URL, {ENV_MASSIVE})."
        ) from None
    try:
        yield ftp, unquote(parts.path) or "/"
    finally:
        with contextlib.suppress(OSError, ftplib.Error, EOFError):
            ftp.quit()
        ftp.close()


def _ftp_walk(ftp: ftplib.FTP, root: str) -> Iterator[tuple[str, int | None]]:
    """(path relative to ``root``, size) of every file below ``root`` (MLSD, else LIST)."""
    stack = [""]
    while stack:
        rel = stack.pop()
        path = f"{root.rstrip('/')}/{rel}".rstrip("/")
        try:
            entries = [
                (name, facts.get("type", ""), facts.get("size"))
                for name, facts in ftp.mlsd(path, facts=["type", "size"])
            ]
        except ftplib.error_perm:
            entries = _ftp_list(ftp, path)
        for name, kind, size in sorted(entries):
            if name in {".", ".."} or kind in {"cdir", "pdir"}:
                continue
            child = f"{rel}/{name}" if rel else name
            if kind == "dir":
                stack.append(child)
            else:
                yield child, int(size) if size is not None and str(size).isdigit() else None


def _ftp_list(ftp: ftplib.FTP, path: str) -> list[tuple[str, str, str | None]]:
    lines: list[str] = []
    ftp.retrlines(f"LIST {path}", lines.append)
    out: list[tuple[str, str, str | None]] = []
    for line in lines:  # unix style: drwxr-xr-x 2 user group 4096 Jan 01 00:00 name
        fields = line.split(None, 8)
        if len(fields) == 9:
            out.append((fields[8], "dir" if line.startswith("d") else "file", fields[4]))
    return out


def _massive_files(accession: str, base_url: str) -> list[RemoteFile]:
    root_url = f"{base_url.rstrip('/')}/{accession}"
    with _ftp(root_url) as (ftp, root):
        try:
            ftp.cwd(root)
        except ftplib.error_perm:
            raise KeyNotFoundError(
                f"MassIVE has no public dataset {accession!r} ({root_url} does not exist); check the "
                "accession on https://massive.ucsd.edu."
            ) from None
        listing = list(_ftp_walk(ftp, root))
    return [
        RemoteFile(name=rel, url=f"{root_url}/{quote(rel)}", size=size) for rel, size in listing
    ]


def _list(accession: str, base_url: str | None) -> tuple[str, list[RemoteFile]]:
    accession = str(accession).strip().upper()
    repo = _repository(accession)
    if repo == "pride":
        base = base_url or os.environ.get(ENV_PRIDE) or PRIDE_API
        return accession, _pride_files(accession, base)
    base = base_url or os.environ.get(ENV_MASSIVE) or MASSIVE_FTP
    return accession, _massive_files(accession, base)


def remote_files(accession: str, *, base_url: str | None = None) -> Any:
    """List the files of a PRIDE or MassIVE dataset.

    Parameters
    ----------
    accession
        ``PXD...``/``PRD...`` (PRIDE) or ``MSV...`` (MassIVE).
    base_url
        The PRIDE REST API or MassIVE FTP server to ask (default: ``KRATOM_OMICS_PRIDE_API`` /
        ``KRATOM_OMICS_MASSIVE_FTP`` if set, else PRIDE's and MassIVE's public servers).

    Returns
    -------
    DataFrame with one row per file: ``name`` (path in the dataset), ``size`` (bytes, where known),
    ``checksum`` (``md5:...``/``sha1:...`` where the repository gives one) and ``url``.
    """
    import pandas as pd

    _, files = _list(accession, base_url)
    return pd.DataFrame(
        [(f.name, f.size, f.checksum, f.url) for f in files],
        columns=["name", "size", "checksum", "url"],
    ).astype({"size": "Int64"})


# ------------------------------------------------------------------------------------------ download
def _human(n: float | None) -> str:
    if n is None:
        return "size unknown"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


class _Progress:
    """A tqdm bar on a terminal; otherwise a log line at every tenth of a large file."""

    def __init__(self, name: str, total: int | None, initial: int, bar: bool) -> None:
        self.name, self.total, self.done = name, total, initial
        self._bar = None
        self._next = 0.1
        if bar:
            try:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=total,
                    initial=initial,
                    unit="B",
                    unit_scale=True,
                    desc=name,
                    file=sys.stderr,
                    leave=False,
                )
            except ImportError:  # pragma: no cover - tqdm comes with scanpy
                self._bar = None

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.total and self.total >= 10 * _CHUNK:
            while self.done / self.total >= self._next and self._next < 1:
                logger.info(
                    "%s: %d%% of %s", self.name, round(self._next * 100), _human(self.total)
                )
                self._next += 0.1

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _arriving(raw: Any) -> Iterator[bytes]:
    """The bytes of an HTTP answer as they arrive (``read1``), so that what came before a dropped
    connection is kept for the resume."""
    read = getattr(raw, "read1", None)
    while True:
        chunk = read(_CHUNK, decode_content=True) if read else raw.read(_CHUNK, decode_content=True)
        if not chunk:
            return
        yield chunk


class _ResumingDownloader:
    """A pooch downloader that continues ``.<name>.part`` and checks the size before handing over."""

    def __init__(self, remote: RemoteFile, target: Path, bar: bool) -> None:
        self.remote, self.target, self.bar = remote, target, bar
        self.part = target.with_name(f".{target.name}.part")

    def __call__(self, url: str, output_file: str, pooch: Any, check_only: bool = False) -> None:
        offset = self.part.stat().st_size if self.part.exists() else 0
        size = self.remote.size
        if size is not None and offset > size:
            self.part.unlink()
            offset = 0
        if offset:
            logger.info("%s: resuming after %s bytes", self.remote.name, f"{offset:,}")
        scheme = urlsplit(url).scheme
        if scheme in ("http", "https"):
            total = self._http(url, offset)
        elif scheme == "ftp":
            total = self._ftp(url, offset)
        else:
            raise DownloadError(
                f"{self.remote.name}: cannot download {url!r} (not http, https or ftp)."
            )
        got = self.part.stat().st_size
        expected = size if size is not None else total
        if expected is not None and got != expected:
            raise DownloadError(
                f"{self.remote.name}: download cut off after {got:,} of {expected:,} bytes "
                f"({url}); run the same command again to resume it."
            )
        os.replace(self.part, output_file)

    def _http(self, url: str, offset: int) -> int | None:
        import requests
        import urllib3

        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            with requests.get(url, headers=headers, stream=True, timeout=_TIMEOUT) as resp:
                if resp.status_code == 416 and offset:  # nothing left to send
                    return offset
                if resp.status_code == 404:
                    raise DownloadError(
                        f"{self.remote.name}: {url} does not exist (HTTP 404) although the "
                        "repository lists it; try again later or report it to the repository."
                    )
                if not resp.ok:
                    raise DownloadError(
                        f"{self.remote.name}: {url} answered HTTP {resp.status_code} {resp.reason}; "
                        "try again later."
                    )
                append = offset and resp.status_code == 206
                if offset and not append:
                    logger.info("%s: the server does not resume; starting again", self.remote.name)
                start = offset if append else 0
                length = resp.headers.get("Content-Length")
                total = start + int(length) if length and length.isdigit() else None
                self._stream(_arriving(resp.raw), "ab" if append else "wb", start, total)
                return total
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            have = self.part.stat().st_size if self.part.exists() else 0
            raise DownloadError(
                f"{self.remote.name}: download cut off after {have:,} bytes ({exc.__class__.__name__}); "
                "run the same command again to resume it."
            ) from None

    def _ftp(self, url: str, offset: int) -> int | None:
        with _ftp(url) as (ftp, path):
            try:
                total = ftp.size(path)
            except ftplib.error_perm:
                raise DownloadError(
                    f"{self.remote.name}: {url} does not exist on the FTP server although the "
                    "repository lists it; try again later."
                ) from None
            progress = _Progress(self.remote.name, total, offset, self.bar)
            try:
                with open(self.part, "ab" if offset else "wb") as fh:

                    def write(block: bytes) -> None:
                        fh.write(block)
                        progress.update(len(block))

                    ftp.retrbinary(f"RETR {path}", write, blocksize=_CHUNK, rest=offset or None)
            except (OSError, EOFError, ftplib.Error) as exc:
                have = self.part.stat().st_size if self.part.exists() else 0
                raise DownloadError(
                    f"{self.remote.name}: download cut off after {have:,} bytes ({exc}); run the same "
                    "command again to resume it."
                ) from None
            finally:
                progress.close()
            return total

    def _stream(self, chunks: Iterator[bytes], mode: str, start: int, total: int | None) -> None:
        progress = _Progress(self.remote.name, total, start, self.bar)
        try:
            with open(self.part, mode) as fh:
                for chunk in chunks:
                    fh.write(chunk)
                    progress.update(len(chunk))
        finally:
            progress.close()


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    """pooch logs every download on its own handler; our log lines say the same."""
    import pooch

    plog = pooch.get_logger()
    level = plog.level
    plog.setLevel(logging.WARNING)
    try:
        yield
    finally:
        plog.setLevel(level)


def _download(remote: RemoteFile, target: Path, bar: bool) -> Path:
    import pooch

    if target.exists() and remote.size is not None and target.stat().st_size != remote.size:
        logger.warning(
            "%s: %s has %s, the repository lists %s; downloading it again",
            remote.name,
            target,
            _human(target.stat().st_size),
            _human(remote.size),
        )
        target.unlink()
    fresh = not target.exists()
    if fresh:
        logger.info("%s: downloading %s from %s", remote.name, _human(remote.size), remote.url)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _quiet_pooch():
            pooch.retrieve(
                remote.url,
                known_hash=remote.checksum,
                fname=target.name,
                path=target.parent,
                downloader=_ResumingDownloader(remote, target, bar),
                progressbar=False,
            )
    except ValueError as exc:
        if "hash" not in str(exc).lower():
            raise
        raise DownloadError(
            f"{remote.name}: the downloaded file does not match the repository's checksum "
            f"({remote.checksum}); it was discarded, run the same command again to download it anew."
        ) from None
    logger.info(
        "%s: %s %s%s",
        remote.name,
        "downloaded to" if fresh else "already in",
        target,
        f" ({remote.checksum.split(':')[0]} checked)" if remote.checksum else "",
    )
    return target


def _is_sdrf(name: str) -> bool:
    base = PurePosixPath(name).name.lower()
    return "sdrf" in base and base.endswith((".tsv", ".txt"))


def _select(files: list[RemoteFile], patterns: Sequence[str], accession: str) -> list[RemoteFile]:
    chosen: dict[str, RemoteFile] = {}
    for pattern in patterns:
        exact = [f for f in files if pattern in (f.name, PurePosixPath(f.name).name)]
        hits = exact or [
            f
            for f in files
            if fnmatch.fnmatchcase(f.name, pattern)
            or fnmatch.fnmatchcase(PurePosixPath(f.name).name, pattern)
        ]
        if not hits:
            names = [f.name for f in files]
            close = difflib.get_close_matches(pattern.strip("*"), names, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            shown = names[:30] + ([f"... ({len(names) - 30} more)"] if len(names) > 30 else [])
            raise KeyNotFoundError(
                f"{accession}: no file matches {pattern!r}.{hint} Files: {shown} "
                "(kom.datasets.remote_files / kratom-omics fetch --list shows them all)."
            )
        for f in hits:
            chosen.setdefault(f.name, f)
    return list(chosen.values())


def default_cache() -> Path:
    """The download cache: ``KRATOM_OMICS_CACHE`` if set, else the user cache folder."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env)
    import pooch

    return Path(pooch.os_cache("kratom-omics"))


def fetch(
    accession: str,
    *,
    files: str | Sequence[str] | None = None,
    dest: str | os.PathLike | None = None,
    sdrf: bool = True,
    base_url: str | None = None,
    progress: bool | None = None,
) -> dict[str, Path]:
    """Download files of a PRIDE or MassIVE dataset, and its SDRF, into a local cache.

    A file already in the cache is not downloaded again (its checksum is checked where the
    repository gives one). An interrupted download resumes where it stopped when the same call is
    made again; a file appears under its name only when complete (right size and checksum).

    Parameters
    ----------
    accession
        ``PXD...``/``PRD...`` (PRIDE) or ``MSV...`` (MassIVE).
    files
        Name(s) or shell-style pattern(s) of the files to get, matched against the file's path in
        the dataset and its name (``"*proteinGroups.txt"``, ``["report.pg_matrix.tsv", "*.mzTab"]``;
        ``"*"`` is every file, raw files included); every pattern must match at least one file.
        ``None``: only the SDRF (see :func:`remote_files` for what there is).
    dest
        Cache folder; files land in ``<dest>/<accession>/<name>``. Default:
        ``KRATOM_OMICS_CACHE`` if set, else the user cache folder (``~/.cache/kratom-omics``).
    sdrf
        Also get the dataset's SDRF sample metadata (files named ``*sdrf*.tsv``), if it has one.
    base_url
        The PRIDE REST API (default ``https://www.ebi.ac.uk/pride/ws/archive/v3``, or
        ``KRATOM_OMICS_PRIDE_API``) or MassIVE FTP server (default ``ftp://massive.ucsd.edu``, or
        ``KRATOM_OMICS_MASSIVE_FTP``) to ask, e.g. a mirror.
    progress
        Show a progress bar; default: when standard error is a terminal (else log lines).

    Returns
    -------
    Mapping of each file's name in the dataset to its local path (the SDRF included).

    Raises
    ------
    KeyNotFoundError
        Unknown accession, or a pattern that matches no file.
    DownloadError
        The repository cannot be reached, a download was cut off (run again to resume) or the file
        does not match its checksum.
    """
    patterns = (
        [] if files is None else [files] if isinstance(files, str) else [str(f) for f in files]
    )
    if not patterns and not sdrf:
        raise InputFormatError(
            "no file asked for; give files= (e.g. '*proteinGroups.txt') or sdrf=True."
        )
    accession, listing = _list(accession, base_url)
    chosen = _select(listing, patterns, accession)
    if not patterns:
        logger.info(
            "%s: getting the SDRF only; name result files with files= (CLI --files); "
            "kom.datasets.remote_files (CLI --list) lists the %d files",
            accession,
            len(listing),
        )
    if sdrf:
        sheets = [f for f in listing if _is_sdrf(f.name)]
        if not sheets:
            logger.warning(
                "%s has no SDRF file (*sdrf*.tsv); write a sample sheet (sample, phase) yourself",
                accession,
            )
        chosen += [f for f in sheets if f.name not in {c.name for c in chosen}]
    root = Path(dest) if dest is not None else default_cache()
    root = root / accession
    bar = sys.stderr.isatty() if progress is None else bool(progress)
    out: dict[str, Path] = {}
    for remote in chosen:
        rel = PurePosixPath(remote.name)
        if rel.is_absolute() or ".." in rel.parts:
            raise DownloadError(
                f"{accession}: refusing the file name {remote.name!r} (outside the cache)."
            )
        out[remote.name] = _download(remote, root.joinpath(*rel.parts), bar)
    return out
