"""Sensors on real files and real failed runs: the data-folder sensor and the run-failure alert."""

from __future__ import annotations

import json
import os
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest

from kam_pipeline.definitions import defs
from kam_pipeline.defs.partitions import as_of_partitions
from kam_pipeline.defs.resources import KamResource
from kam_pipeline.defs.sensors import data_folder_sensor, run_failure_alert

HOUR_AGO = time.time() - 3600


def _write(folder: Path, name: str, text: str, mtime: float = HOUR_AGO) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    _write(data, "accounts.csv", "account_id,account_name\nA1,Acme\n")
    _write(data, "managers.csv", "manager_id,manager_name\nM1,Ann\n")
    _write(data, "orders.csv", "order_id,account_id\nO1,A1\n")
    _write(data, "notes.txt", "not a source file")
    return data


def _evaluate(folder: Path, cursor: str | None = None):
    kam = KamResource(data_dir=str(folder), db_path=str(folder.parent / "kam.duckdb"))
    # A context manager: KamResource has a teardown (it releases the run lock of a run).
    with dg.build_sensor_context(cursor=cursor, resources={"kam": kam}, definitions=defs) as context:
        return data_folder_sensor(context)


def _keys(request: dg.RunRequest) -> set[str]:
    return {key.to_user_string() for key in request.asset_selection}


def test_first_look_at_the_folder_runs_every_source_for_today(folder):
    result = _evaluate(folder)
    assert isinstance(result, dg.SensorResult)
    [request] = result.run_requests
    today = as_of_partitions.get_last_partition_key()
    assert request.partition_key == today
    assert request.run_key.startswith(f"{today}:")
    assert request.tags["kam/changed_sources"] == "accounts,managers,orders"
    assert {
        "staging/accounts",
        "staging/managers",
        "staging/orders",
        "marts/account_scores",
        "published_snapshot",
    } <= _keys(request)
    assert set(json.loads(result.cursor)) == {"accounts.csv", "managers.csv", "orders.csv"}


def test_unchanged_files_request_nothing(folder):
    first = _evaluate(folder)
    again = _evaluate(folder, first.cursor)
    assert isinstance(again, dg.SkipReason)
    assert "no new or changed files" in again.skip_message


def test_the_run_key_is_the_folder_state(folder):
    # Same paths, sizes and mtimes -> same run key, so Dagster never runs a state twice.
    assert _evaluate(folder).run_requests[0].run_key == _evaluate(folder).run_requests[0].run_key
    first = _evaluate(folder).run_requests[0].run_key
    os.utime(folder / "orders.csv", (HOUR_AGO + 60, HOUR_AGO + 60))
    assert _evaluate(folder).run_requests[0].run_key != first


def test_a_new_daily_drop_runs_its_source_and_everything_downstream(folder):
    cursor = _evaluate(folder).cursor
    _write(folder, "orders_2026-07-01.csv", "order_id,account_id\nO2,A1\n")
    result = _evaluate(folder, cursor)
    [request] = result.run_requests
    assert request.tags["kam/changed_sources"] == "orders"
    keys = _keys(request)
    assert {"staging/orders", "marts/account_indicators", "marts/account_scores", "published_snapshot"} <= keys
    assert "staging/accounts" not in keys and "staging/managers" not in keys
    assert "orders_2026-07-01.csv" in json.loads(result.cursor)


def test_a_source_read_by_later_marts_only_also_runs_the_marts_they_read(folder):
    cursor = _evaluate(folder).cursor
    _write(folder, "feedback.csv", "feedback_id,manager_id\nF1,M1\n")
    [request] = _evaluate(folder, cursor).run_requests
    keys = _keys(request)
    # account_indicators does not read feedback, but book_indicators reads its rows of the date.
    assert {"staging/feedback", "marts/book_indicators", "marts/account_indicators", "published_snapshot"} <= keys
    assert not {"staging/orders", "staging/accounts"} & keys


def test_a_changed_referenced_source_reruns_the_sources_that_reference_it(folder):
    cursor = _evaluate(folder).cursor
    _write(folder, "accounts.csv", "account_id,account_name\nA1,Acme\nA2,Beta\n")
    [request] = _evaluate(folder, cursor).run_requests
    # orders are checked against the known accounts, so they are re-validated too.
    assert {"staging/accounts", "staging/orders"} <= _keys(request)


def test_a_removed_file_counts_as_a_change(folder):
    cursor = _evaluate(folder).cursor
    (folder / "managers.csv").unlink()
    [request] = _evaluate(folder, cursor).run_requests
    assert request.tags["kam/changed_sources"] == "managers"


def test_a_file_still_being_written_waits_for_the_next_tick(folder):
    cursor = _evaluate(folder).cursor
    _write(folder, "orders_2026-07-02.csv", "order_id,account_id\nO3,A1\n", mtime=time.time())
    result = _evaluate(folder, cursor)
    assert isinstance(result, dg.SkipReason)
    assert "orders_2026-07-02.csv" in result.skip_message


def test_a_missing_folder_is_skipped_with_its_name(tmp_path):
    result = _evaluate(tmp_path / "nowhere")
    assert isinstance(result, dg.SkipReason)
    assert "nowhere" in result.skip_message


# ---------------------------------------------------------------------------------------------
# Run-failure alert


@dg.asset
def broken_asset() -> None:
    raise dg.Failure("orders.csv: required column 'order_id' missing")


@pytest.fixture()
def failure_context():
    """A real failed run in a test instance and the run-failure context the daemon would build."""
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [broken_asset], instance=instance, raise_on_error=False, tags={"dagster/partition": "2026-07-01"}
        )
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        yield dg.build_run_status_sensor_context(
            sensor_name="kam_run_failure_alert",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=run,
        ).for_run_failure()


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"content_type": self.headers["Content-Type"], "json": json.loads(body)})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP (no TLS, no auth) to receive one message on loopback."""

    messages: list[str] = []

    def handle(self):
        self.wfile.write(b"220 localhost ESMTP test\r\n")
        while line := self.rfile.readline():
            verb = line.decode().strip().split(" ")[0].upper()
            if verb == "DATA":
                self.wfile.write(b"354 end with .\r\n")
                data = []
                while (body := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(body.decode())
                type(self).messages.append("".join(data))
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            self.wfile.write(b"250 OK\r\n")


@pytest.fixture()
def webhook():
    _Webhook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Webhook.received
    server.shutdown()
    server.server_close()


@pytest.fixture()
def smtp():
    _Smtp.messages = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], _Smtp.messages
    server.shutdown()
    server.server_close()


@pytest.fixture()
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("KAM_ALERT", "KAM_SMTP", "KAM_DAGSTER_URL")):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.integration
def test_failure_is_logged_and_nothing_is_sent_without_settings(failure_context, clean_env, capfd):
    capfd.readouterr()
    run_failure_alert(failure_context)
    logged = capfd.readouterr().err
    assert "kam_pipeline: run of __ephemeral_asset_job__ for 2026-07-01 failed" in logged
    assert "required column 'order_id' missing" in logged
    assert "alert webhook" not in logged and "alert email" not in logged


@pytest.mark.integration
def test_failure_is_posted_to_the_webhook_as_json(failure_context, clean_env, webhook, capfd):
    url, received = webhook
    clean_env.setenv("KAM_ALERT_WEBHOOK", url)
    clean_env.setenv("KAM_DAGSTER_URL", "http://127.0.0.1:3000/")
    run_failure_alert(failure_context)
    [post] = received
    assert post["content_type"] == "application/json"
    payload = post["json"]
    run_id = failure_context.dagster_run.run_id
    assert payload["run_id"] == run_id and payload["status"] == "FAILURE"
    assert payload["partition"] == "2026-07-01"
    assert payload["failed_steps"] == [
        {"step": "broken_asset", "error": "orders.csv: required column 'order_id' missing"}
    ]
    assert payload["run_url"] == f"http://127.0.0.1:3000/runs/{run_id}"
    assert payload["text"].startswith("kam_pipeline: run of")
    assert "alert webhook: sent (HTTP 204)" in capfd.readouterr().err


@pytest.mark.integration
def test_failure_is_emailed_when_smtp_is_configured(failure_context, clean_env, smtp):
    port, messages = smtp
    for name, value in {
        "KAM_SMTP_HOST": "127.0.0.1",
        "KAM_SMTP_PORT": str(port),
        "KAM_SMTP_STARTTLS": "false",
        "KAM_SMTP_FROM": "kam@example.com",
        "KAM_SMTP_TO": "ops@example.com, kam@example.com",
    }.items():
        clean_env.setenv(name, value)
    run_failure_alert(failure_context)
    [message] = messages
    assert "Subject: kam_pipeline: run of __ephemeral_asset_job__ for 2026-07-01 failed" in message
    assert "To: ops@example.com, kam@example.com" in message
    assert "required column 'order_id' missing" in message


@pytest.mark.integration
def test_an_unreachable_webhook_is_logged_not_raised(failure_context, clean_env, webhook, capfd):
    url, _ = webhook
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    clean_env.setenv("KAM_ALERT_WEBHOOK", url.rsplit(":", 1)[0] + ":1/hook")
    clean_env.setenv("KAM_ALERT_TIMEOUT", "2")
    run_failure_alert(failure_context)
    assert "alert webhook: failed: URLError" in capfd.readouterr().err


def test_a_changed_mapping_file_reruns_every_source(folder):
    _write(folder, "sources.yaml", "orders:\n  columns: {订单号: order_id}\n")
    cursor = _evaluate(folder).cursor
    assert isinstance(_evaluate(folder, cursor), dg.SkipReason)
    _write(folder, "sources.yaml", "orders:\n  columns: {单号: order_id}\n")
    [request] = _evaluate(folder, cursor).run_requests
    # A mapping may map any source; each source then re-reads only the files its mapping changed.
    from kam_pipeline.ingest.contract import SOURCES

    assert request.tags["kam/changed_sources"] == ",".join(sorted(SOURCES))
    assert {"staging/orders", "staging/accounts", "published_snapshot"} <= _keys(request)
