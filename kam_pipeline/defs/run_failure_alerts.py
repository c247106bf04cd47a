"""Where a failed run is reported besides the log: a webhook and e-mail, each only when configured.

Settings come from the environment of the process that evaluates sensors (the
Dagster daemon):

- `KAM_ALERT_WEBHOOK`: URL that receives a JSON POST (`{"text": ..., "run_id": ...}`;
  the `text` field is what Slack/Teams/Mattermost incoming webhooks display).
- `KAM_SMTP_HOST`, `KAM_SMTP_PORT` (587), `KAM_SMTP_USER`, `KAM_SMTP_PASSWORD`,
  `KAM_SMTP_FROM`, `KAM_SMTP_TO` (comma-separated), `KAM_SMTP_STARTTLS` (true unless
  `false`/`0`/`no`): e-mail, sent when host and recipients are set.
- `KAM_ALERT_TIMEOUT` (10): seconds each delivery may take.
- `KAM_DAGSTER_URL`: base URL of the webserver, to put a link to the run in the alert.

No Dagster import: the sensor builds an `Alert` and calls `deliver`.
"""

from __future__ import annotations

import json
import smtplib
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage

from kam_pipeline.settings import env

_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Alert:
    """One failed run: what the webhook receives as JSON and the e-mail as text."""

    run_id: str
    job: str
    partition: str | None
    message: str
    failed_steps: list[dict[str, str]] = field(default_factory=list)
    run_url: str | None = None

    @property
    def title(self) -> str:
        partition = f" for {self.partition}" if self.partition else ""
        return f"kam_pipeline: run of {self.job}{partition} failed"

    @property
    def text(self) -> str:
        """Return the alert as plain text: title, reason, failed steps and the link to the run."""
        lines = [self.title, self.message]
        lines += [f"- {s['step']}: {s['error']}" for s in self.failed_steps]
        lines.append(f"run: {self.run_url or self.run_id}")
        return "\n".join(line for line in lines if line)

    def payload(self) -> dict[str, object]:
        """Return the JSON body of the webhook POST."""
        return {"text": self.text, "status": "FAILURE", **asdict(self)}


@dataclass(frozen=True)
class AlertSettings:
    """Which channels are configured; a channel without its settings is skipped."""

    webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "kam-pipeline@localhost"
    smtp_to: tuple[str, ...] = ()
    smtp_starttls: bool = True
    timeout_seconds: float = 10.0
    dagster_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AlertSettings:
        """Read the KAM_ALERT_* and KAM_SMTP_* variables from `environ` (default os.environ)."""

        def get(name: str) -> str | None:
            return env(name, environ)

        return cls(
            webhook_url=get("KAM_ALERT_WEBHOOK"),
            smtp_host=get("KAM_SMTP_HOST"),
            smtp_port=int(get("KAM_SMTP_PORT")),
            smtp_user=get("KAM_SMTP_USER"),
            smtp_password=get("KAM_SMTP_PASSWORD"),
            smtp_from=get("KAM_SMTP_FROM"),
            smtp_to=tuple(a.strip() for a in (get("KAM_SMTP_TO") or "").split(",") if a.strip()),
            smtp_starttls=get("KAM_SMTP_STARTTLS").lower() not in _FALSE,
            timeout_seconds=float(get("KAM_ALERT_TIMEOUT")),
            dagster_url=(get("KAM_DAGSTER_URL") or "").rstrip("/") or None,
        )

    def run_url(self, run_id: str) -> str | None:
        """Return the link to a run in the webserver, when its URL is configured."""
        return f"{self.dagster_url}/runs/{run_id}" if self.dagster_url else None


def post_webhook(url: str, alert: Alert, timeout: float) -> int:
    """POST the alert as JSON to `url`; return the HTTP status (raises on an error status or timeout)."""
    if not url.lower().startswith(("https://", "http://")):
        raise ValueError("KAM_ALERT_WEBHOOK must be an http(s) URL")
    request = urllib.request.Request(
        url,
        data=json.dumps(alert.payload()).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "kam-pipeline-alerts"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
        return response.status


def send_email(settings: AlertSettings, alert: Alert) -> None:
    """Send the alert as a plain-text e-mail to the configured recipients."""
    message = EmailMessage()
    message["Subject"] = alert.title
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(settings.smtp_to)
    message.set_content(alert.text)
    with smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=settings.timeout_seconds) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(message)


def deliver(settings: AlertSettings, alert: Alert) -> dict[str, str]:
    """Send the alert on every configured channel; return channel -> 'sent' or the error text.

    A channel that fails does not stop the others, and nothing is raised: the alert
    is already in the sensor's log, and a retried sensor tick would re-send it on
    the channels that worked.
    """
    outcome: dict[str, str] = {}
    if settings.webhook_url:
        try:
            status = post_webhook(settings.webhook_url, alert, settings.timeout_seconds)
            outcome["webhook"] = f"sent (HTTP {status})"
        except Exception as exc:  # any network or HTTP error becomes a logged outcome
            outcome["webhook"] = f"failed: {type(exc).__name__}: {exc}"
    if settings.smtp_host and settings.smtp_to:
        try:
            send_email(settings, alert)
            outcome["email"] = f"sent to {', '.join(settings.smtp_to)}"
        except Exception as exc:
            outcome["email"] = f"failed: {type(exc).__name__}: {exc}"
    return outcome
