"""GX Data Docs that render offline: the CDN styles and scripts of the built pages served from the site.

Great Expectations' page templates load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega
from five CDNs, and its logo from a web bucket; GX has no setting to serve them locally (its
``static`` folder holds only its own CSS and images). Offline, or behind a proxy that blocks
those hosts, the pages stay blank: the validation tables are built by bootstrap-table's script.

:func:`make_offline` runs after each build: it copies the vendored files
(``lnob/quality/data_docs_vendor``, stored under ``<CDN host>/<CDN path>``, sources and licences in its
SOURCES.md) into the site's ``static/vendor/`` and rewrites every page's ``<script src>`` and
``<link href>`` to them by relative path (so the pages work from ``file://`` and from any web
server), dropping the ``integrity``/``crossorigin`` attributes that only make sense for a CDN.
A CDN URL with no vendored file is an error naming it (a GX upgrade changed a version), never
a page left half online. Idempotent: a rewritten page has nothing left to rewrite.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

VENDOR = Path(__file__).with_name("data_docs_vendor")
#: where GX's own pages load the logo from; served from the site's static/images instead
GX_ASSETS = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"

_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.I)
_URL_ATTR = re.compile(r"""\b(src|href)\s*=\s*(["'])(https?:)?//([^"'/]+)/([^"'?#]*)[^"']*\2""", re.I)
_CDN_ONLY_ATTR = re.compile(r"""\s+(integrity|crossorigin)(\s*=\s*(["'])[^"']*\3)?""", re.I)
_GX_ASSET = re.compile(re.escape(GX_ASSETS) + r"""([A-Za-z0-9_.-]+)(\?[^"')\s]*)?""")
#: any resource a page would still fetch from the network: <script src>, <link href>, <img src>, css url()
_REMOTE = re.compile(
    r"""<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*["'](?:https?:)?//[^"']+|url\(\s*["']?(?:https?:)?//""",
    re.I,
)


class DataDocsError(RuntimeError):
    pass


def _relative(target: Path, page: Path) -> str:
    return Path(os.path.relpath(target, page.parent)).as_posix()


def rewrite_page(page: Path, site: Path) -> int:
    """Point one page's CDN scripts and styles (and GX's logo) at ``site/static``; returns how many
    references it rewrote. Raises :class:`DataDocsError` for a CDN file that is not vendored."""
    text = page.read_text(encoding="utf-8")
    vendor = site / "static" / "vendor"
    count = 0

    def tag(match: re.Match) -> str:
        nonlocal count
        original = match.group(0)

        def url(m: re.Match) -> str:
            nonlocal count
            attr, quote, host, path = m.group(1), m.group(2), m.group(4), m.group(5)
            local = vendor / host / path
            if not (VENDOR / host / path).is_file():
                raise DataDocsError(
                    f"{page}: {m.group(0)} is loaded from a CDN and no copy is vendored in "
                    f"{VENDOR / host / path}; add it (see {VENDOR / 'SOURCES.md'})"
                )
            count += 1
            return f"{attr}={quote}{_relative(local, page)}{quote}"

        rewritten = _URL_ATTR.sub(url, original)
        if rewritten != original:
            rewritten = _CDN_ONLY_ATTR.sub("", rewritten)
        return rewritten

    text = _TAG.sub(tag, text)

    def gx_asset(m: re.Match) -> str:
        nonlocal count
        images = site / "static" / "images"
        name = m.group(1) if (images / m.group(1)).is_file() else "logo-long.png"
        count += 1
        return _relative(images / name, page)

    text = _GX_ASSET.sub(gx_asset, text)
    remote = _REMOTE.search(text)
    if remote:
        raise DataDocsError(f"{page}: still loads {remote.group(0)!r} from the network after the rewrite")
    if count:
        page.write_text(text, encoding="utf-8")
    return count


def make_offline(site: Path | str, since: float | None = None) -> int:
    """Vendor the CDN files into ``site/static/vendor`` and rewrite every page of the site to them
    (only the pages written at or after ``since``, a POSIX time, when given: the others were
    rewritten when they were written); returns how many references were rewritten (0 on a site
    already offline)."""
    site = Path(site)
    if not (site / "index.html").is_file():
        raise DataDocsError(f"no Data Docs site at {site} (index.html missing)")
    shutil.copytree(VENDOR, site / "static" / "vendor", dirs_exist_ok=True)
    pages = sorted(site.rglob("*.html"))
    if since is not None:
        pages = [page for page in pages if page.stat().st_mtime >= since]
    return sum(rewrite_page(page, site) for page in pages)
