"""The test bed's chart source: a Helm chart repository served from files. The charts Legato ships
(deploy/charts/) are packaged with the test bed's `helm package`, indexed with `helm repo index`,
and served by a plain HTTP server on a loopback port, as any static chart repository is.

Besides each chart as shipped, the upf chart is packaged at two more versions: 1.1.0 (the same
templates, a new version) and 1.2.0, whose data plane asks for a node label no node has, so its
pods stay Pending: a chart version whose pods never become ready. The test bed's own charts
(tests/real/charts) are served beside them."""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from legato.config import PROJECT_ROOT

CHARTS = PROJECT_ROOT / "deploy" / "charts"
TEST_CHARTS = Path(__file__).parent / "charts"  # the test bed's own (node-agent: a DaemonSet and a Job)
NEVER_READY = "1.2.0"


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test output stays readable
        pass


class ChartRepository:
    """Package, index and serve; `url` is the repository's address while it runs."""

    def __init__(self, helm: Path, workdir: Path, extra: tuple[tuple[str, str], ...] = ()) -> None:
        """`extra`: (chart, version) packaged besides, e.g. the WDM contract's hello-web 1.0, 1.1, 2.0."""
        self.helm, self.workdir, self.extra = helm, workdir, extra
        self.root = workdir / "repo"
        self.url = ""
        self._server: ThreadingHTTPServer | None = None

    def _helm(self, *args: str) -> None:
        subprocess.run([str(self.helm), *args], check=True, capture_output=True, timeout=120)

    def build(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for chart in [*sorted(CHARTS.iterdir()), *sorted(TEST_CHARTS.iterdir())]:
            self._helm("package", str(chart), "--destination", str(self.root))
        self._helm("package", str(CHARTS / "upf"), "--version", "1.1.0", "--destination", str(self.root))
        broken = self.workdir / "upf-never-ready" / "upf"
        shutil.copytree(CHARTS / "upf", broken, dirs_exist_ok=True)
        values = (broken / "values.yaml").read_text().replace(
            "nodeSelector: {}", 'nodeSelector: {"example.com/no-such-node": "true"}')
        (broken / "values.yaml").write_text(values)
        self._helm("package", str(broken), "--version", NEVER_READY, "--destination", str(self.root))
        for chart, version in self.extra:
            self._helm("package", str(CHARTS / chart), "--version", version, "--destination", str(self.root))

    def __enter__(self) -> ChartRepository:
        self.build()
        handler = functools.partial(Quiet, directory=str(self.root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._helm("repo", "index", str(self.root), "--url", self.url)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
