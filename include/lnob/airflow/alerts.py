"""Alerts when a task of the night fails: an e-mail and/or a chat message, off by default.

The data team should not have to open the Airflow UI each morning to learn that the night failed.
:class:`FailureAlert` is an Airflow notifier, wired as every task's ``on_failure_callback`` (it
runs once a task has failed for good, not on a retry). It sends through two Airflow connections,
each optional:

``lnob_alert_webhook``
    an HTTP POST of JSON to a chat webhook (Slack, Mattermost, Rocket.Chat, Google Chat and Teams
    incoming webhooks all read the ``text`` key; the other keys carry the same facts for machines).
    The URL is the connection's host when it holds a scheme
    (``{"conn_type": "http", "host": "https://chat.example.org/hooks/abc"}``), else
    ``<conn_type>://<host>[:<port>]/<schema>`` as Airflow parses a URI connection
    (``http://127.0.0.1:8099/hook``). Extra ``headers`` (a JSON object) are sent as given.
``lnob_alert_smtp``
    an e-mail through the SMTP server of the connection (host, port, login, password), with the
    extras of Airflow's SMTP provider: ``from_email``, ``to`` (comma-separated), ``disable_ssl``,
    ``disable_tls`` (SSL by default, else STARTTLS unless disabled too), ``timeout``.

A connection that is not configured (unset, or an empty ``AIRFLOW_CONN_...`` as docker-compose
passes it) sends nothing and logs nothing alarming. A channel that fails is logged and never
changes the task's outcome: an alert must not hide the failure it reports.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Any

import requests
from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

WEBHOOK_CONN_ID = "lnob_alert_webhook"
SMTP_CONN_ID = "lnob_alert_smtp"
TIMEOUT = 30
MAX_ERROR = 2000


@dataclass(frozen=True)
class Failure:
    """What the reader of an alert needs: which DAG, which run, which task, why, where the log is."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    logical_date: str
    error: str
    log_url: str

    @classmethod
    def from_context(cls, context: Any) -> Failure:
        ti = context["ti"]
        exc = context.get("exception")
        error = (
            f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc or "unknown error")
        )
        if len(error) > MAX_ERROR:
            error = error[:MAX_ERROR] + " [...]"
        logical = context.get("logical_date")
        try:
            log_url = ti.log_url
        except Exception:  # noqa: BLE001 - a link is a convenience, the alert goes anyway
            log_url = ""
        return cls(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index if ti.map_index is not None else -1,
            try_number=ti.try_number or 0,
            logical_date=logical.isoformat() if logical else "",
            error=error,
            log_url=log_url,
        )

    @property
    def task(self) -> str:
        return self.task_id + (f"[{self.map_index}]" if self.map_index >= 0 else "")

    def subject(self) -> str:
        return f"[LNOB] {self.dag_id}: task {self.task} failed (run {self.run_id})"

    def text(self) -> str:
        return (
            f"Airflow task failed: {self.dag_id}.{self.task}\n"
            f"DAG: {self.dag_id}\n"
            f"Run: {self.run_id} (logical date {self.logical_date})\n"
            f"Task: {self.task} (try {self.try_number})\n"
            f"Error: {self.error}\n"
            f"Log: {self.log_url}\n"
        )


def connection(conn_id: str):
    """The Airflow connection, or None when it is not configured (alerts are off)."""
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - AirflowNotFoundException: this channel is off
        return None
    return conn if conn is not None and conn.host else None


def webhook_url(conn) -> str:
    if "://" in conn.host:
        return conn.host
    scheme = conn.conn_type if conn.conn_type in ("http", "https") else "https"
    port = f":{conn.port}" if conn.port else ""
    path = f"/{conn.schema.lstrip('/')}" if conn.schema else ""
    return f"{scheme}://{conn.host}{port}{path}"


def send_webhook(conn, failure: Failure) -> None:
    headers = dict(conn.extra_dejson.get("headers") or {})
    resp = requests.post(
        webhook_url(conn), json={"text": failure.text(), **asdict(failure)}, headers=headers, timeout=TIMEOUT
    )
    resp.raise_for_status()


def send_email(conn, failure: Failure) -> None:
    extra = conn.extra_dejson
    recipients = [a.strip() for a in str(extra.get("to") or "").split(",") if a.strip()]
    if not recipients:
        raise ValueError(f"connection {conn.conn_id}: extra 'to' names no recipient")
    msg = EmailMessage()
    msg["Subject"] = failure.subject()
    msg["From"] = extra.get("from_email") or conn.login or "airflow@localhost"
    msg["To"] = ", ".join(recipients)
    msg.set_content(failure.text())
    timeout = int(extra.get("timeout") or TIMEOUT)
    use_ssl = not _true(extra.get("disable_ssl"))
    if use_ssl:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            conn.host, conn.port or 465, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(conn.host, conn.port or 587, timeout=timeout)
    with smtp:
        if not use_ssl and not _true(extra.get("disable_tls")):
            smtp.starttls(context=ssl.create_default_context())
        if conn.login:
            smtp.login(conn.login, conn.password or "")
        smtp.send_message(msg)


def _true(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


CHANNELS = ((WEBHOOK_CONN_ID, send_webhook), (SMTP_CONN_ID, send_email))


def send(failure: Failure) -> list[str]:
    """Send the alert on every configured channel; returns the connections it went through."""
    sent = []
    for conn_id, deliver in CHANNELS:
        conn = connection(conn_id)
        if conn is None:
            continue
        try:
            deliver(conn, failure)
        except Exception as exc:  # noqa: BLE001 - an alert channel down must not mask the failure
            log.error("alert through %s failed: %s", conn_id, exc)
            continue
        log.info("alert sent through %s: %s", conn_id, failure.subject())
        sent.append(conn_id)
    return sent


class FailureAlert(BaseNotifier):
    """``on_failure_callback`` of the night's tasks: the failure, through every configured channel."""

    def notify(self, context: Any) -> None:
        send(Failure.from_context(context))
