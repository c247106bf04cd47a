"""The throwaway Dagster instance of `kam run`: every event of a run stored and read back, from any thread."""

from __future__ import annotations

import threading

import dagster as dg

from kam_pipeline.defs.instance import throwaway_instance


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="numbers")])
def numbers(context) -> dg.MaterializeResult:
    # A log line from another thread, as a resource's background work may send one.
    thread = threading.Thread(target=context.log.info, args=("from a thread",))
    thread.start()
    thread.join()
    return dg.MaterializeResult(
        metadata={"rows": 3}, check_results=[dg.AssetCheckResult(check_name="positive", passed=True)]
    )


@dg.asset(deps=[numbers])
def doubled() -> None:
    raise ValueError("doubled failed on purpose")


def test_a_run_on_the_throwaway_instance_keeps_every_event_readable():
    instance = throwaway_instance()
    assert instance.is_ephemeral
    for _ in range(2):  # the second run reads and writes through the connections the first one left open
        result = dg.materialize([numbers, doubled], instance=instance, raise_on_error=False)
        assert not result.success
    runs = instance.get_runs()
    assert len(runs) == 2 and {r.status for r in runs} == {dg.DagsterRunStatus.FAILURE}
    for run in runs:
        records = instance.all_logs(run.run_id)
        assert any(r.user_message == "from a thread" for r in records)
        types = [r.dagster_event.event_type for r in records if r.dagster_event]
        assert types.count(dg.DagsterEventType.ASSET_MATERIALIZATION) == 1
        assert dg.DagsterEventType.STEP_FAILURE in types
    latest = instance.get_latest_materialization_event(dg.AssetKey("numbers"))
    assert latest is not None and latest.asset_materialization.metadata["rows"].value == 3
    assert instance.get_latest_materialization_event(dg.AssetKey("doubled")) is None
    evaluation = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("numbers"), "positive")]
    )
    assert evaluation[dg.AssetCheckKey(dg.AssetKey("numbers"), "positive")].status.value == "SUCCEEDED"
    instance.dispose()
