"""Alerts on a failed task, delivered for real to local receivers: a chat webhook (an HTTP server
here) and an SMTP server (a minimal one here), each configured as an Airflow connection through
the environment, while a real `airflow dags test` of lnob_nightly fails on an invalid registry.
Without the connections nothing is sent and the run fails exactly as before."""

from __future__ import annotations

import email
import email.policy
import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from helpers import lnob
from lnob import registry
from lnob.airflow import alerts


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append({"path": self.path, "json": json.loads(body)})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to receive a message: EHLO, MAIL, RCPT, DATA, QUIT."""

    received: list[dict] = []

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        self._say("220 localhost test receiver")
        envelope: dict = {"rcpt": []}
        while line := self.rfile.readline():
            verb = line.decode(errors="replace").strip()
            upper = verb.upper()
            if upper.startswith(("EHLO", "HELO")):
                self._say("250 localhost")
            elif upper.startswith("MAIL FROM:"):
                envelope["from"] = verb[10:].strip()
                self._say("250 OK")
            elif upper.startswith("RCPT TO:"):
                envelope["rcpt"].append(verb[8:].strip())
                self._say("250 OK")
            elif upper == "DATA":
                self._say("354 end with <CRLF>.<CRLF>")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                envelope["message"] = email.message_from_bytes(b"".join(data), policy=email.policy.default)
                type(self).received.append(envelope)
                envelope = {"rcpt": []}
                self._say("250 OK queued")
            elif upper == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 OK")


@pytest.fixture
def receivers():
    _Webhook.received, _Smtp.received = [], []
    web = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    smtp.daemon_threads = True
    for server in (web, smtp):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        # the URI form; Airflow parses it into conn_type http, host, port and schema (the path)
        "AIRFLOW_CONN_LNOB_ALERT_WEBHOOK": f"http://127.0.0.1:{web.server_port}/hooks/lnob",
        "AIRFLOW_CONN_LNOB_ALERT_SMTP": json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": smtp.server_address[1],
                "extra": {
                    "from_email": "airflow@lnob.test",
                    "to": "data-team@lnob.test, oncall@lnob.test",
                    "disable_ssl": True,
                    "disable_tls": True,
                },
            }
        ),
    }
    yield env
    for server in (web, smtp):
        server.shutdown()
        server.server_close()


@pytest.fixture
def bad_registry(tmp_path):
    doc = yaml.safe_load(registry.load().path.read_text())
    doc["sources"][4]["fields"][2]["type"] = "txet"
    path = tmp_path / "registry.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _failing_night(night: str, bad_registry, env: dict):
    return lnob(
        "airflow",
        "dags",
        "test",
        "lnob_nightly",
        night,
        timeout=900,
        env={"LNOB_TASK_RETRIES": "0", "LNOB_REGISTRY": str(bad_registry), **env},
    )


ERROR = "sources[4].fields[2].type: 'txet' is not one of"


@pytest.mark.integration
def test_a_failed_task_alerts_the_webhook_and_by_email(warehouse_url, receivers, bad_registry):
    result = _failing_night("2027-01-05", bad_registry, receivers)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and ERROR in output, output[-3000:]

    by_task = {a["json"]["task_id"]: a for a in _Webhook.received}
    assert "api_sources" in by_task, (_Webhook.received, output[-3000:])
    alert = by_task["api_sources"]
    assert alert["path"] == "/hooks/lnob"
    body = alert["json"]
    assert body["dag_id"] == "lnob_nightly" and body["run_id"] and "2027-01-05" in body["logical_date"]
    assert body["error"].startswith("AirflowFailException: ") and f"{bad_registry}: {ERROR}" in body["error"]
    assert (
        f"/dags/lnob_nightly/runs/{body['run_id'].replace(':', '%3A').replace('+', '%2B')}/tasks/api_sources"
        in body["log_url"]
    )
    for needle in ("lnob_nightly", body["run_id"], "api_sources", ERROR, body["log_url"]):
        assert needle in body["text"], needle
    # only tasks that failed alert: a task skipped as upstream_failed does not
    assert "fetch_api" not in by_task and "transform" not in by_task

    mails = [m for m in _Smtp.received if "api_sources" in m["message"]["Subject"]]
    assert len(mails) == 1, [m["message"]["Subject"] for m in _Smtp.received]
    mail = mails[0]
    assert mail["rcpt"] == ["<data-team@lnob.test>", "<oncall@lnob.test>"]
    assert mail["message"]["From"] == "airflow@lnob.test"
    assert (
        mail["message"]["Subject"] == f"[LNOB] lnob_nightly: task api_sources failed (run {body['run_id']})"
    )
    text = mail["message"].get_content()
    assert ERROR in text and body["log_url"] in text and body["run_id"] in text
    # every e-mail matches a webhook alert: one alert per failed task on each channel
    assert len(_Smtp.received) == len(_Webhook.received)


@pytest.mark.integration
def test_without_alert_connections_nothing_is_sent_and_the_run_fails_the_same(
    warehouse_url, receivers, bad_registry
):
    # unset, and set empty as docker-compose passes an unset variable: both mean "off"
    for off in ({}, {"AIRFLOW_CONN_LNOB_ALERT_WEBHOOK": "", "AIRFLOW_CONN_LNOB_ALERT_SMTP": ""}):
        night = "2027-01-06" if not off else "2027-01-07"
        result = _failing_night(night, bad_registry, off)
        output = result.stdout + result.stderr
        assert result.returncode != 0, output[-3000:]
        assert f"{bad_registry}: {ERROR}" in output and "AirflowFailException" in output
        assert "alert sent through" not in output and "alert through" not in output
    assert _Webhook.received == [] and _Smtp.received == []


@pytest.mark.unit
def test_webhook_url_from_either_connection_form():
    from airflow.sdk import Connection

    full = Connection(conn_id="x", conn_type="http", host="https://chat.example.org/hooks/abc")
    assert alerts.webhook_url(full) == "https://chat.example.org/hooks/abc"
    parts = Connection(conn_id="x", conn_type="https", host="chat.example.org", port=8443, schema="hooks/abc")
    assert alerts.webhook_url(parts) == "https://chat.example.org:8443/hooks/abc"


@pytest.mark.unit
def test_a_channel_that_is_down_is_logged_and_does_not_raise(monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_LNOB_ALERT_WEBHOOK", "http://127.0.0.1:9/nobody-listens")
    monkeypatch.delenv("AIRFLOW_CONN_LNOB_ALERT_SMTP", raising=False)
    failure = alerts.Failure(
        "lnob_nightly",
        "manual__x",
        "publish",
        -1,
        1,
        "2027-01-05T00:00:00+00:00",
        "RuntimeError: boom",
        "http://localhost:8080/dags/lnob_nightly/runs/manual__x",
    )
    assert alerts.send(failure) == []
    assert "alert through lnob_alert_webhook failed" in caplog.text
