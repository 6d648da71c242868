"""Running Legato as an operator does: the docs page offline, operator-only /metrics and /readyz,
tenants added to the tokens file while the API runs, JSON logs from every process, and Ctrl-C on
`legato up`. Everything goes through the real HTTP API, the real CLI or a real `legato up`."""

from __future__ import annotations

import re

import pytest

from tests.stack import running_stack


@pytest.fixture(scope="module")
async def stack(tmp_path_factory, temporal_server):
    data = tmp_path_factory.mktemp("operations")
    async with running_stack(data / "legato", temporal_server.address) as s:
        yield s


async def test_docs_pages_load_nothing_from_outside(stack):
    """A browser offline gets the whole page: every script, style and icon of /docs and /redoc is
    served by the API itself, and the OpenAPI they read too."""
    async with stack.http() as client:
        for page, kinds in (("/docs", {"javascript", "css", "image"}), ("/redoc", {"javascript", "image"})):
            resp = await client.get(page, headers={"Authorization": ""})  # a browser sends no token
            assert resp.status_code == 200 and "text/html" in resp.headers["content-type"], page
            html = resp.text
            assert "://" not in html, html  # no absolute URL: nothing from a CDN
            assets = re.findall(r'(?:src|href)="([^"]+)"', html)
            assert assets and all(a.startswith("/") for a in assets), assets
            seen = set()
            for asset in assets:
                got = await client.get(asset)
                assert got.status_code == 200 and len(got.content) > 500, (asset, got.status_code)
                seen |= {kind for kind in kinds if kind in got.headers["content-type"]}
            assert seen == kinds, (page, seen)
            spec_url = re.search(r"""(?:url: ?'|spec-url=")([^'"]+)""", html).group(1)
            spec = await client.get(spec_url)
            assert spec.status_code == 200 and spec.json()["info"]["title"] == "Legato"
