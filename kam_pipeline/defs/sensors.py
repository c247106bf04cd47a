"""Sensors: new or changed files in the data folder start a run; failed runs are reported."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from kam_pipeline.defs.partitions import as_of_partitions
from kam_pipeline.defs.resources import KamResource
from kam_pipeline.defs.run_failure_alerts import Alert, AlertSettings, deliver
from kam_pipeline.defs.schedules import daily_job
from kam_pipeline.ingest.contract import SOURCES
from kam_pipeline.ingest.reader import discover
from kam_pipeline.settings import env

# A file modified less than this many seconds ago may still be being copied in; the
# sensor waits for the next tick instead of ingesting half a file.
SETTLE_SECONDS = float(env("KAM_SENSOR_SETTLE_SECONDS"))

# The FolderState entry of the mapping file (sources.yaml, --sources, KAM_SOURCES); no source is called so.
MAPPING = "(mapping)"


@dataclass(frozen=True)
class FolderState:
    """Every delivered file of every source: name -> (source, size in bytes, mtime in ns)."""

    files: dict[str, tuple[str, int, int]]

    @classmethod
    def scan(cls, data_dir: Path, mapping_file: Path | None = None) -> FolderState:
        """Return the state of the files `discover` would ingest from `data_dir`, and of the mapping
        file in force (a changed mapping changes how every source's files are read)."""
        files = {f.name: (f.source, f.size, f.mtime_ns) for s in SOURCES for f in discover(data_dir, s)}
        if mapping_file is not None and mapping_file.is_file():
            stat = mapping_file.stat()
            files[f"{MAPPING} {mapping_file.name}"] = (MAPPING, stat.st_size, stat.st_mtime_ns)
        return cls(files)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> FolderState:
        """Return the state stored in a sensor cursor (empty for none or an unreadable one)."""
        try:
            return cls({name: (s, int(size), int(mtime)) for name, (s, size, mtime) in json.loads(cursor).items()})
        except (TypeError, ValueError, AttributeError):
            return cls({})

    def cursor(self) -> str:
        """Return the state as a sensor cursor (JSON)."""
        return json.dumps({name: list(v) for name, v in sorted(self.files.items())}, separators=(",", ":"))

    def digest(self) -> str:
        """Return a short hash of every file's path, size and modification time."""
        return hashlib.sha256(self.cursor().encode()).hexdigest()[:16]

    def changed_sources(self, previous: FolderState) -> list[str]:
        """Return the sources with a file added, changed or removed since `previous`, sorted."""
        names = self.files.keys() | previous.files.keys()
        changed = {n for n in names if self.files.get(n) != previous.files.get(n)}
        sources = {(self.files.get(n) or previous.files[n])[0] for n in changed}
        # The mapping file may map any source: each re-reads only the files its mapping changed.
        return sorted(SOURCES) if MAPPING in sources else sorted(sources)

    def settling(self, now_ns: int, settle_seconds: float) -> list[str]:
        """Return the files modified within the last `settle_seconds` (possibly still being written)."""
        limit = now_ns - int(settle_seconds * 1e9)
        return sorted(n for n, (_, _, mtime) in self.files.items() if mtime > limit)


def affected_assets(sources: list[str], repository: dg.RepositoryDefinition) -> list[dg.AssetKey]:
    """Return the staging assets of `sources`, everything downstream of them (marts, publish, ...)
    and every mart those read."""
    downstream = dg.AssetSelection.assets(*[dg.AssetKey(["staging", s]) for s in sources]).downstream()
    # The run is for a new date: the marts it reads must exist for that date even when their own
    # sources did not change (marts hold a snapshot per date; staging tables hold no dates).
    selection = downstream | (downstream.upstream() - dg.AssetSelection.groups("staging"))
    return sorted(selection.resolve(repository.asset_graph), key=lambda k: k.to_user_string())


@dg.sensor(
    name="kam_data_folder_sensor",
    job=daily_job,
    minimum_interval_seconds=60,
    description="Runs today's partition for the assets affected by new, changed or removed files in KAM_DATA_DIR.",
)
def data_folder_sensor(context: dg.SensorEvaluationContext, kam: KamResource) -> dg.SensorResult | dg.SkipReason:
    """Request one run per distinct folder state (run key: partition + path, size, mtime of every file)."""
    if not kam.data_path.is_dir():
        return dg.SkipReason(f"data folder not found: {kam.data_path}")
    state = FolderState.scan(kam.data_path, kam.mapping_file())
    busy = state.settling(time.time_ns(), SETTLE_SECONDS)
    if busy:
        # The cursor stays put, so the next tick compares against the same old state.
        return dg.SkipReason(f"waiting for files still being written: {', '.join(busy)}")
    previous = FolderState.from_cursor(context.cursor)
    sources = state.changed_sources(previous)
    if not sources:
        return dg.SkipReason(f"no new or changed files in {kam.data_path}")
    partition = as_of_partitions.get_last_partition_key()
    request = dg.RunRequest(
        run_key=f"{partition}:{state.digest()}",
        partition_key=partition,
        # Without the repository (a bare context) the whole job runs, which is also correct.
        asset_selection=affected_assets(sources, context.repository_def) if context.repository_def else None,
        tags={"kam/trigger": "data_folder", "kam/changed_sources": ",".join(sources)},
    )
    context.log.info(f"files changed for {', '.join(sources)}: requesting partition {partition}")
    return dg.SensorResult(run_requests=[request], cursor=state.cursor())


def error_text(error) -> str:
    """Return the last line of the innermost error, its class without the module path."""
    # Dagster wraps the asset's exception; the innermost cause names the problem.
    while error.cause is not None:
        error = error.cause
    lines = (error.message or "").strip().splitlines()
    text = lines[-1] if lines else "failed"
    match = re.match(rf"^(?:[\w.]+\.)?{re.escape(error.cls_name or '')}: (.*)$", text)
    if error.cls_name and match:
        # A dagster.Failure's text is the reason itself; other errors keep their class name.
        text = match[1] if error.cls_name == "Failure" else f"{error.cls_name}: {match[1]}"
    return text


def failure_alert(context: dg.RunFailureSensorContext, settings: AlertSettings) -> Alert:
    """Return the alert for a failed run: the failure message and each failed step with its error."""
    run = context.dagster_run
    steps = [
        {"step": event.step_key or "", "error": error_text(event.step_failure_data.error)}
        for event in context.get_step_failure_events()
        if event.step_failure_data.error is not None
    ]
    return Alert(
        run_id=run.run_id,
        job=run.job_name,
        partition=run.tags.get("dagster/partition"),
        message=(context.failure_event.message or "").strip(),
        failed_steps=steps,
        run_url=settings.run_url(run.run_id),
    )


@dg.run_failure_sensor(
    name="kam_run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Logs every failed run; posts it to KAM_ALERT_WEBHOOK and e-mails it via KAM_SMTP_* when set.",
)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    """Report a failed run on the configured channels (the log always)."""
    settings = AlertSettings.from_env()
    alert = failure_alert(context, settings)
    context.log.error(alert.text)
    for channel, outcome in deliver(settings, alert).items():
        (context.log.info if outcome.startswith("sent") else context.log.error)(f"alert {channel}: {outcome}")


sensors = [data_folder_sensor, run_failure_alert]
