"""A local HTTP server on 127.0.0.1 that answers as KoboToolbox, ODK Central and the UN SDG API
do: their response shapes and paging, built from the generator's own pages, with switches for a
500 that succeeds on retry and for refused credentials."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

TOKEN = "test-token"


class FakePlatforms:
    def __init__(
        self,
        kobo_results: list[dict],
        odk_values: list[dict],
        unsd_rows: dict[str, list[dict]],
        asset_uid: str,
        project_id: int,
        form_id: str,
    ):
        self.kobo_results, self.odk_values, self.unsd_rows = kobo_results, odk_values, unsd_rows
        self.asset_uid, self.project_id, self.form_id = asset_uid, project_id, form_id
        self.fail_once: set[str] = set()  # paths that answer 500 the first time
        self.hits: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @classmethod
    def from_landing(cls, landing: Path, reg) -> FakePlatforms:
        kobo = reg.source("brac_uhc_survey")
        odk = reg.source("aak_clm_survey")
        results = [
            r
            for p in sorted((landing / kobo.partner).glob("*/submissions_page-*.json"))
            for r in json.loads(p.read_text())["results"]
        ]
        values = [
            r
            for p in sorted((landing / odk.partner).glob("*/Submissions_page-*.json"))
            for r in json.loads(p.read_text())["value"]
        ]
        unsd: dict[str, list[dict]] = {}
        for p in sorted((landing / "un_sdg_database").glob("*/*_page-*.json")):
            unsd.setdefault(p.name.split("_page-")[0], []).extend(json.loads(p.read_text())["data"])
        return cls(
            results, values, unsd, kobo.format["asset_uid"], odk.format["project_id"], odk.format["form_id"]
        )

    def close(self) -> None:
        self.server.shutdown()

    def _handler(self):
        platforms = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, body: dict | str) -> None:
                data = (json.dumps(body) if isinstance(body, dict) else body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - the http.server API
                url = urlparse(self.path)
                q = {k: v[-1] for k, v in parse_qs(url.query).items()}
                platforms.hits.append(self.path)
                key = f"{url.path}?{q.get('start') or q.get('$skip') or q.get('page') or ''}"
                if key in platforms.fail_once:
                    platforms.fail_once.discard(key)
                    return self._send(500, {"detail": "Internal Server Error"})
                auth = self.headers.get("Authorization", "")
                base = platforms.url
                if url.path == f"/api/v2/assets/{platforms.asset_uid}/data/":
                    if auth != f"Token {TOKEN}":
                        return self._send(401, {"detail": "Invalid token."})
                    limit, start = int(q.get("limit", 100)), int(q.get("start", 0))
                    rows = platforms.kobo_results
                    if "query" in q:
                        since = json.loads(q["query"])["_submission_time"]["$gt"]
                        rows = [r for r in rows if r["_submission_time"] > since]
                    page = rows[start : start + limit]
                    nxt = None
                    if start + limit < len(rows):
                        extra = f"&query={q['query']}" if "query" in q else ""
                        nxt = f"{base}{url.path}?format=json&limit={limit}&start={start + limit}{extra}"
                    return self._send(
                        200, {"count": len(rows), "next": nxt, "previous": None, "results": page}
                    )
                odk_path = f"/v1/projects/{platforms.project_id}/forms/{platforms.form_id}.svc/Submissions"
                if url.path == odk_path:
                    if auth != f"Bearer {TOKEN}":
                        return self._send(
                            401,
                            {
                                "message": "Could not authenticate with the provided credentials.",
                                "code": 401.2,
                            },
                        )
                    top, skip = int(q.get("$top", 250)), int(q.get("$skip", 0))
                    rows = platforms.odk_values
                    body = {
                        "@odata.context": f"{base}/v1/projects/{platforms.project_id}/forms/"
                        f"{platforms.form_id}.svc/$metadata#Submissions",
                        "@odata.count": len(rows),
                        "value": rows[skip : skip + top],
                    }
                    if skip + top < len(rows):
                        body["@odata.nextLink"] = (
                            f"{base}{odk_path}?%24top={top}&%24skip={skip + top}&%24count=true"
                        )
                    return self._send(200, body)
                if url.path == "/v1/sdg/Series/Data":
                    rows = platforms.unsd_rows.get(q.get("seriesCode", ""), [])
                    areas = set(parse_qs(url.query).get("areaCode", []))
                    rows = [r for r in rows if not areas or r["geoAreaCode"] in areas]
                    size, number = int(q.get("pageSize", 25)), int(q.get("page", 1))
                    pages = max((len(rows) + size - 1) // size, 1)
                    return self._send(
                        200,
                        {
                            "size": size,
                            "totalElements": len(rows),
                            "totalPages": pages,
                            "pageNumber": number,
                            "attributes": [],
                            "dimensions": [],
                            "data": rows[(number - 1) * size : number * size],
                        },
                    )
                return self._send(404, {"detail": "Not found."})

        return Handler
