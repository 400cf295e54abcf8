"""A Python package index on loopback (PEP 503 "simple" pages), serving wheels made on the spot.

No index beyond loopback can be reached here, and a campus mirror is what `environments.index_url` points
at in production: this is a small one, for the environment benchmark and the tests (which import it as
`bench.package_index`, as they do `bench.ports`). `running_index(packages)` builds one pure-Python wheel
per (name, version, module source) and serves `/simple/`, `/simple/<name>/` and the files with their
sha256, which real pip checks. Everything pip asked for is recorded in `requests`, so a caller can tell a
build that installed from one that found everything already there.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.ports import HOST, free_port


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    module: str
    source: str
    payload: int = 0  # bytes of (seeded, incompressible) data shipped beside the module, as real packages have


GREETING = Package("campushub-demo-greeting", "1.0", "campushub_demo_greeting", 'GREETING = "hello from the index"\n')


@dataclass
class PackageIndex:
    url: str  # ends in /simple/
    requests: list[str] = field(default_factory=list)
    served_bytes: int = 0  # of package files


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def build_wheel(package: Package, into: Path) -> Path:
    """A pure-Python wheel of `package` (one module), with the METADATA, WHEEL and RECORD pip reads."""
    distribution = package.name.replace("-", "_")
    info = f"{distribution}-{package.version}.dist-info"
    files = {
        f"{package.module}.py": package.source.encode(),
        **(
            {f"{package.module}_data.bin": random.Random(package.name).randbytes(package.payload)}
            if package.payload
            else {}
        ),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {package.name}\nVersion: {package.version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: campushub-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = into / f"{distribution}-{package.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


@contextmanager
def running_index(packages: Sequence[Package]) -> Iterator[PackageIndex]:
    with tempfile.TemporaryDirectory(prefix="campushub-index-") as directory:
        wheels: dict[str, list[Path]] = {}
        for package in packages:
            wheels.setdefault(normalized(package.name), []).append(build_wheel(package, Path(directory)))
        port = free_port()
        index = PackageIndex(f"http://{HOST}:{port}/simple/")

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                index.requests.append(self.path)
                parts = [part for part in self.path.split("?")[0].split("/") if part]
                if parts == ["simple"]:
                    links = "".join(f'<a href="/simple/{name}/">{name}</a>\n' for name in wheels)
                    return self.reply(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode(), "text/html")
                if len(parts) == 2 and parts[0] == "simple" and parts[1] in wheels:
                    links = "".join(
                        f'<a href="/files/{wheel.name}#sha256={hashlib.sha256(wheel.read_bytes()).hexdigest()}">'
                        f"{wheel.name}</a>\n"
                        for wheel in wheels[parts[1]]
                    )
                    return self.reply(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode(), "text/html")
                if len(parts) == 2 and parts[0] == "files":
                    for wheel in (wheel for group in wheels.values() for wheel in group):
                        if wheel.name == parts[1]:
                            body = wheel.read_bytes()
                            index.served_bytes += len(body)
                            return self.reply(body, "application/octet-stream")
                self.send_error(404)

            def reply(self, body: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer((HOST, port), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield index
        finally:
            server.shutdown()
            server.server_close()
