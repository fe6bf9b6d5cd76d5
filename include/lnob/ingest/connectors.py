"""API connectors: fetch a source's new records into the landing folder, as pages.

KoboToolbox API v2 (paged by ``next``, incremental by ``_submission_time``), ODK Central OData
(paged by ``@odata.nextLink``, incremental by ``__system/submissionDate``) and the UN SDG Global
Database API (paged by ``page``/``totalPages``). Each page lands as a file in
``<landing>/<partner>/<night>/``, the same shape the loader reads from a file drop, so a fetched
page and a dropped one take one code path.

A fetched page is identified by its content, not its name: the loader loads it unless a
byte-identical page is already in the ledger. Its name carries the fetch time and the start of its
sha256 (``submissions_page-20261121T020312Z-0001-3f9a0c1b2d4e.json``), so a second fetch of the
same night (a retried or re-triggered run) never collides with the first, and a file that already
exists is never overwritten. A fetch that finds nothing new lands nothing. Credentials come from an Airflow connection (the
source's ``connection`` in the registry): host, and a token in the password (KoboToolbox
``Token``, ODK Central ``Bearer``), or login and password (ODK Central basic auth).

A 5xx, 408, 429 or a dropped connection is retried with backoff, and after the last try is
:class:`ApiUnavailable` (retryable: the task tries again later); a 401/403 or another 4xx is not
retried at all (:class:`RequestRefused`: it will not fix itself, so the task fails at once) and
fails with a message naming the source and the connection.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import requests

from lnob.platform.errors import LnobError, NotRetryable, Retryable
from lnob.registry import Source

RETRIES = 3
BACKOFF_SECONDS = 1.0
TIMEOUT_SECONDS = 60
#: Answers below 500 that say "try later": a request timeout and a rate limit.
TRANSIENT = (408, 429)


class ConnectorError(LnobError, RuntimeError):
    """A source's API refused or failed; the message names the source, the URL and what to do."""


class RequestRefused(ConnectorError, NotRetryable):
    """The API answered 4xx (credentials refused, a form that does not exist, a bad request) or
    not JSON: the same request will be refused again until the connection or registry is fixed."""


class ApiUnavailable(ConnectorError, Retryable):
    """The API answered 5xx, 408 or 429, or the connection failed, on every one of the connector's
    own tries: it may answer on the task's next try."""


@dataclass(frozen=True)
class Endpoint:
    """What an Airflow connection gives a connector."""

    base_url: str
    token: str | None = None
    login: str | None = None
    password: str | None = None


def _get(
    session: requests.Session,
    src: Source,
    url: str,
    params: dict | None,
    conn_id: str | None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    last = ""
    for attempt in range(1, RETRIES + 1):
        try:
            response = session.get(url, params=params, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code in (401, 403):
                raise RequestRefused(
                    f"{src.id} ({src.partner}): {response.url} answered {response.status_code} "
                    f"{response.reason}: check the credentials in Airflow connection {conn_id!r}"
                )
            if response.status_code < 500 and response.status_code not in TRANSIENT:
                if not response.ok:
                    raise RequestRefused(
                        f"{src.id} ({src.partner}): {response.url} answered "
                        f"{response.status_code} {response.reason}: {response.text[:300]}"
                    )
                try:
                    return response.json()
                except ValueError:
                    raise RequestRefused(
                        f"{src.id} ({src.partner}): {response.url} did not answer JSON: "
                        f"{response.text[:200]!r}"
                    ) from None
            last = f"{response.status_code} {response.reason}"
        if attempt < RETRIES:
            sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
    raise ApiUnavailable(f"{src.id} ({src.partner}): {url} failed {RETRIES} times, last: {last}")


def _session(src: Source, endpoint: Endpoint) -> requests.Session:
    session = requests.Session()
    session.headers["Accept"] = "application/json"
    if src.type == "kobotoolbox" and endpoint.token:
        session.headers["Authorization"] = f"Token {endpoint.token}"
    elif src.type == "odk_central":
        if endpoint.token:
            session.headers["Authorization"] = f"Bearer {endpoint.token}"
        elif endpoint.login:
            session.auth = (endpoint.login, endpoint.password or "")
    return session


def fetch_stamp(now: datetime | None = None) -> str:
    """When a fetch started, as it appears in its page names (UTC, sorts in fetch order)."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")


def _write(folder: Path, stem: str, stamp: str, number: int, page: dict) -> Path | None:
    """Land one page under a name no other fetch uses; never overwrite a file.

    Returns ``None`` when a byte-identical page already lies in the folder (the loader would call
    it a duplicate anyway). The page is written to a hidden ``.part`` file and hard-linked into
    place, which fails rather than replaces when the name exists.
    """
    data = json.dumps(page, ensure_ascii=False).encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()[:12]
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.glob(f"{stem}_page-*-{digest}.json")):
        return None
    path = folder / f"{stem}_page-{stamp}-{number:04d}-{digest}.json"
    tmp = folder / f".{path.name}.part"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)  # FileExistsError, never a silent overwrite
    finally:
        tmp.unlink(missing_ok=True)
    return path


def fetch(
    src: Source,
    endpoint: Endpoint,
    folder: Path,
    since: str | None = None,
    m49: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    stamp: str | None = None,
) -> list[Path]:
    """Fetch what is new since ``since`` (the last submission time already loaded) into pages.
    ``m49`` maps the registry's ISO3 country codes to the UN API's area codes. A page with no
    records lands nothing; the pages returned are the files this fetch wrote."""
    base = endpoint.base_url.rstrip("/")
    fmt = src.format
    session = _session(src, endpoint)
    stamp = stamp or fetch_stamp()
    pages: list[Path] = []
    number = 0

    def land(stem: str, page: dict, records: list) -> None:
        nonlocal number
        if not records:
            return
        number += 1
        path = _write(folder, stem, stamp, number, page)
        if path is not None:
            pages.append(path)

    if src.type == "kobotoolbox":
        first: dict = {"format": "json", "limit": fmt.get("page_size", 500)}
        if since:
            first["query"] = json.dumps({"_submission_time": {"$gt": since}})
        params: dict | None = first
        url: str | None = f"{base}/api/v2/assets/{fmt['asset_uid']}/data/"
        while url:
            page = _get(session, src, url, params, src.connection, sleep)
            if not page.get("results"):
                break
            land("submissions", page, page["results"])
            url, params = page.get("next"), None  # `next` carries the query on
    elif src.type == "odk_central":
        first = {"$top": fmt.get("page_size", 500), "$count": "true"}
        if since:
            first["$filter"] = f"__system/submissionDate gt {since}"
        params = first
        url = f"{base}/v1/projects/{fmt['project_id']}/forms/{fmt['form_id']}.svc/Submissions"
        while url:
            page = _get(session, src, url, params, src.connection, sleep)
            land("Submissions", page, page.get("value") or [])
            url, params = page.get("@odata.nextLink"), None
    elif src.type == "unsd_sdg_api":
        for series in fmt["series"]:
            page_number, total_pages = 1, 1
            while page_number <= total_pages:
                query = urlencode(
                    {"seriesCode": series, "page": page_number, "pageSize": fmt.get("page_size", 50)}
                )
                areas = "&".join(f"areaCode={(m49 or {}).get(a, a)}" for a in fmt["areas"])
                page = _get(
                    session, src, f"{base}/v1/sdg/Series/Data?{query}&{areas}", None, src.connection, sleep
                )
                total_pages = int(page.get("totalPages") or 1)
                land(series, page, page.get("data") or [])
                page_number += 1
    else:
        raise ValueError(f"{src.id}: no connector for source type {src.type!r}")
    return pages
