"""A local stand-in for PRIDE and MassIVE: PRIDE Archive's REST API (v3) and its files over HTTP, and
an anonymous FTP server with MassIVE's layout (``/<MSV accession>/<folders>/<files>``).

The JSON answers have the shape of PRIDE's (``/projects/{accession}`` and
``/projects/{accession}/files/all``: file records with ``fileName``, ``fileSizeBytes``, ``checksum``,
``fileCategory`` and ``publicFileLocations`` CV params, unknown projects answered with 404). Files
are served with HTTP ``Range`` support; ``cut`` makes the next answer for a path stop early, as a
dropped connection does.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

API = "/pride/ws/archive/v3"
ARCHIVE = "/pride/data/archive/2024/01"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(
        self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        repo = self.server.repo
        path = unquote(urlsplit(self.path).path)
        rng = self.headers.get("Range")
        repo.requests.append((path, rng))
        if path in repo.json:
            self._send(200, json.dumps(repo.json[path]).encode(), "application/json")
            return
        if path not in repo.blobs:
            body = {
                "timestamp": "2024-01-01T00:00:00",
                "status": 404,
                "error": "Not Found",
                "path": path,
            }
            self._send(404, json.dumps(body).encode(), "application/json")
            return
        data = repo.blobs[path]
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m:
            start = int(m.group(1))
            if start >= len(data):
                self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{len(data)}"})
                return
        body = data[start:]
        self.send_response(206 if m else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if m:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        cut = repo.cut.pop(path, None)
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        if cut is not None:
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    repo: Repository


class Repository:
    """PRIDE's REST API and files (HTTP) and MassIVE's FTP server, on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import ThreadedFTPServer

        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.json: dict[str, Any] = {}
        self.blobs: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []
        self._http = _Server(("127.0.0.1", 0), _Handler)
        self._http.repo = self
        self.http = f"http://127.0.0.1:{self._http.server_address[1]}"
        auth = DummyAuthorizer()
        auth.add_anonymous(str(root))
        handler = type("Handler", (FTPHandler,), {"authorizer": auth, "banner": "test"})
        self._ftp = ThreadedFTPServer(("127.0.0.1", 0), handler)
        self.ftp = f"ftp://127.0.0.1:{self._ftp.address[1]}"
        self._threads = [
            threading.Thread(target=self._http.serve_forever, daemon=True),
            threading.Thread(
                target=self._ftp.serve_forever,
                kwargs={"timeout": 0.05, "handle_exit": False},
                daemon=True,
            ),
        ]
        for t in self._threads:
            t.start()

    @property
    def pride_api(self) -> str:
        return self.http + API

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._ftp.close_all()

    def add_pride_project(
        self,
        accession: str,
        files: dict[str, bytes],
        *,
        via: str = "http",
        checksums: dict[str, str] | None = None,
    ) -> None:
        """Publish a project: its record, its file list and the files.

        ``via="http"``: the records give PRIDE's FTP address (``ftp://ftp.pride.ebi.ac.uk/...``) and the
        files are served over HTTP here (point ``KRATOM_OMICS_PRIDE_FILES`` at :attr:`http`);
        ``via="ftp"``: the records give this FTP server's address.
        """
        self.json[f"{API}/projects/{accession}"] = {
            "accession": accession,
            "title": f"Test project {accession}",
            "projectDescription": "Brain proteomics after chronic mitragynine and withdrawal.",
            "sampleProcessingProtocol": "Tissue lysis, tryptic digestion.",
            "dataProcessingProtocol": "MaxQuant LFQ.",
            "submissionDate": "2024-01-10",
            "publicationDate": "2024-02-01",
            "keywords": ["withdrawal"],
            "organisms": [
                {
                    "@type": "CvParam",
                    "cvLabel": "NEWT",
                    "accession": "10116",
                    "name": "Rattus norvegicus (Rat)",
                }
            ],
            "instruments": [
                {
                    "@type": "CvParam",
                    "cvLabel": "MS",
                    "accession": "MS:1002877",
                    "name": "Q Exactive HF-X",
                }
            ],
            "references": [],
            "doi": f"10.6019/{accession}",
        }
        records = []
        for i, (name, data) in enumerate(files.items()):
            rel = f"{ARCHIVE}/{accession}/{name}"
            if via == "http":  # PRIDE's own FTP address; the client fetches it over HTTP(S)
                self.blobs[rel] = data
                location = "ftp://ftp.pride.ebi.ac.uk" + rel
            else:
                target = self.root / rel.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                location = self.ftp + rel
            category = (
                "EXPERIMENTAL DESIGN"
                if "sdrf" in name.lower()
                else "RAW"
                if name.endswith(".raw")
                else "SEARCH"
            )
            checksum = (checksums or {}).get(name, hashlib.sha1(data).hexdigest())
            records.append(
                {
                    "projectAccessions": [accession],
                    "analysisAccessions": [],
                    "accession": hashlib.md5(f"{accession}/{name}".encode()).hexdigest(),
                    "fileCategory": {
                        "@type": "CvParam",
                        "cvLabel": "PRIDE",
                        "accession": f"PRIDE:00004{i:02d}",
                        "name": category.title(),
                        "value": category,
                    },
                    "checksum": checksum,
                    "publicFileLocations": [
                        {
                            "@type": "CvParam",
                            "cvLabel": "PRIDE",
                            "accession": "PRIDE:0000469",
                            "name": "FTP Protocol",
                            "value": location,
                        },
                        {
                            "@type": "CvParam",
                            "cvLabel": "PRIDE",
                            "accession": "PRIDE:0000468",
                            "name": "Aspera Protocol",
                            "value": f"prd_ascp@fasp.ebi.ac.uk:pride/data/archive/2024/01/{accession}/{name}",
                        },
                    ],
                    "fileSizeBytes": len(data),
                    "fileExtension": name.rsplit(".", 1)[-1],
                    "fileName": name,
                    "compress": False,
                    "submissionDate": 1704844800000,
                    "publicationDate": 1706745600000,
                    "updatedDate": 1706745600000,
                    "additionalAttributes": [],
                    "totalDownloads": 0,
                }
            )
        self.json[f"{API}/projects/{accession}/files/all"] = records

    def add_massive_dataset(self, accession: str, files: dict[str, bytes]) -> None:
        """Publish a MassIVE dataset on the FTP server (``/<accession>/<relative path>``)."""
        for rel, data in files.items():
            target = self.root / accession / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
