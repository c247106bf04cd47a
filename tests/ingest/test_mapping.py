"""sources.yaml: a customer's own headers and values mapped to the contract, and what a broken mapping does."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ingest_support import (
    T1,
    T2,
    csv_text,
    reasons,
    row,
    rows_of,
    write,
    write_reference_data,
    write_source,
)
from kam_pipeline.defs.assets.ingest import ingest_assets
from kam_pipeline.defs.resources import build_resources
from kam_pipeline.ingest.load import ingest_source
from kam_pipeline.ingest.mapping import load_for
from kam_pipeline.settings import Settings

STATUSES = "['completed', 'cancelled', 'returned']"

ERP_MAPPING = """\
orders:
  columns: {订单号: order_id, 行号: line_no, 客户编号: account_id, 订单日期: order_date, 金额: net_amount, 状态: status}
  values:
    status: {已完成: completed, 已取消: cancelled, 退货: returned}
"""

# An ERP's daily file: its own headers, its own status words, an unknown extra column (备注).
ERP_ORDERS = """\
订单号,行号,客户编号,订单日期,product_category,quantity,金额,状态,备注
E1,1,A1,2025/1/31,widgets,2,"104,664.47",已完成,加急
E2,1,A2,2025-02-03,widgets,1,￥1200,退货,
E3,2,A1,2025.3.7,gears,5,-30,已取消,
E4,1,A1,2025-03-08,gears,1,10,未知,
"""


def ingest_mapped(conn, data_dir: Path, *sources: str, now: dt.datetime = T1, sources_file: Path | None = None):
    """Ingest `sources` in order under the mapping in force for `data_dir`; return the reports."""
    mappings = load_for(data_dir, sources_file)
    return {s: ingest_source(conn, data_dir, s, now=now, mapping=mappings.get(s)) for s in sources}


def test_erp_file_with_chinese_headers_loads_through_the_mapping(conn, data_dir):
    write_reference_data(data_dir)
    write(data_dir, "sources.yaml", ERP_MAPPING)
    write(data_dir, "orders_erp.csv", ERP_ORDERS, encoding="gbk")
    report = ingest_mapped(conn, data_dir, "managers", "accounts", "orders")["orders"]
    assert [(f.file, f.status, f.rows_read) for f in report.files] == [("orders_erp.csv", "loaded", 4)]
    assert rows_of(
        conn,
        "select order_id, line_no, account_id, order_date, product_category, quantity, "
        "net_amount, status from staging.orders order by _row_number",
    ) == [
        ("E1", 1, "A1", dt.date(2025, 1, 31), "widgets", 2.0, Decimal("104664.47"), "completed"),
        ("E2", 1, "A2", dt.date(2025, 2, 3), "widgets", 1.0, Decimal("1200"), "returned"),
        ("E3", 2, "A1", dt.date(2025, 3, 7), "gears", 5.0, Decimal("-30"), "cancelled"),
    ]
    # A value the mapping does not know is quarantined, named by the header it was delivered under.
    assert reasons(conn, "orders") == [("orders_erp.csv", 4, f"状态 (status): isin({STATUSES}) (value '未知')", 1)]
    # raw keeps the cells as delivered, under the contract's column names; unknown columns in _extra.
    assert rows_of(conn, "select order_id, status, net_amount, _extra from raw.orders order by _row_number")[:2] == [
        ("E1", "已完成", "104,664.47", '{"备注":"加急"}'),
        ("E2", "退货", "￥1200", '{"备注":null}'),
    ]
    assert rows_of(conn, "select status, order_id from quarantine.orders") == [("未知", "E4")]


def test_contract_files_load_beside_mapped_ones_and_keep_their_reasons(conn, data_dir):
    write_reference_data(data_dir)
    write(data_dir, "sources.yaml", ERP_MAPPING)
    write(data_dir, "orders_erp.csv", ERP_ORDERS, encoding="gbk")
    # The status map applies to every file of the source; headers stay the contract's.
    write_source(
        data_dir,
        "orders",
        [
            row("orders", order_id="P1", status="已完成"),
            row("orders", order_id="P2", status="Completed"),
            row("orders", order_id="P3", status="done", account_id="A9"),
        ],
    )
    ingest_mapped(conn, data_dir, "managers", "accounts", "orders")
    assert rows_of(
        conn, "select order_id, status from staging.orders where _source_file = 'orders.csv' order by _row_number"
    ) == [("P1", "completed"), ("P2", "completed")]
    assert reasons(conn, "orders") == [
        (
            "orders.csv",
            3,
            f"status: isin({STATUSES}) (value 'done'); account_id: unknown account_id (not in accounts) (value 'A9')",
            2,
        ),
        ("orders_erp.csv", 4, f"状态 (status): isin({STATUSES}) (value '未知')", 1),
    ]


def test_a_file_may_mix_mapped_and_contract_headers_matched_leniently(conn, data_dir):
    write_reference_data(data_dir)
    write(
        data_dir,
        "sources.yaml",
        "orders:\n  columns: {Order Date: order_date, 客户编号: account_id, 金额: net_amount}\n",
    )
    header = ["Order_ID", " line_no", " 客户编号 ", "ORDER DATE", "product_category", "quantity", "金额", "Status"]
    text = csv_text("orders", [], header=header) + 'O1,1,A9,2025/3/1,widgets,1,"1,000",completed\n'
    write(data_dir, "orders.csv", text)
    ingest_mapped(conn, data_dir, "managers", "accounts", "orders")
    assert rows_of(conn, "select order_id, account_id, order_date, net_amount from quarantine.orders") == [
        ("O1", "A9", "2025/3/1", "1,000")
    ]
    # A mapped header is named as the file has it (trimmed); a contract header as before.
    assert reasons(conn, "orders") == [
        ("orders.csv", 1, "客户编号 (account_id): unknown account_id (not in accounts) (value 'A9')", 1)
    ]


def test_a_header_matches_a_mapping_key_only_after_trimming_and_case(conn, data_dir):
    write_reference_data(data_dir)
    write(data_dir, "sources.yaml", ERP_MAPPING)
    write(data_dir, "orders.csv", ERP_ORDERS.replace("订单号", "订单 号"), encoding="gbk")
    report = ingest_mapped(conn, data_dir, "managers", "accounts", "orders")["orders"]
    assert [(f.status, f.reason) for f in report.files] == [
        ("failed", "missing required column(s): order_id (or '订单号' as sources.yaml maps)")
    ]


def test_a_mapped_header_and_the_contract_header_of_one_column_fail_the_file(conn, data_dir):
    write_reference_data(data_dir)
    write(data_dir, "sources.yaml", ERP_MAPPING)
    write(data_dir, "orders.csv", ERP_ORDERS.replace("备注", "net_amount"), encoding="gbk")
    report = ingest_mapped(conn, data_dir, "managers", "accounts", "orders")["orders"]
    assert [(f.status, f.reason) for f in report.files] == [
        ("failed", "column(s) delivered twice after the sources.yaml mapping: net_amount as '金额' and 'net_amount'")
    ]


def test_value_maps_on_free_text_columns_match_exactly(conn, data_dir):
    write(data_dir, "sources.yaml", "accounts:\n  values:\n    segment: {战略客户: strategic, Key: key}\n")
    write_source(data_dir, "managers", [row("managers")])
    write_source(
        data_dir,
        "accounts",
        [
            row("accounts", account_id="A1", segment=" 战略客户 "),
            row("accounts", account_id="A2", segment="Key"),
            row("accounts", account_id="A3", segment="key "),
            row("accounts", account_id="A4", segment="KEY"),
        ],
    )
    ingest_mapped(conn, data_dir, "managers", "accounts")
    assert rows_of(conn, "select account_id, segment from staging.accounts order by account_id") == [
        ("A1", "strategic"),
        ("A2", "key"),
        ("A3", "key"),
        ("A4", "KEY"),
    ]


def test_quotes_in_a_mapping_are_values_not_sql(conn, data_dir):
    write(
        data_dir,
        "sources.yaml",
        'accounts:\n  columns: {"客户\'名": account_name}\n'
        '  values:\n    region: {"O\'Hare": "north\'); drop table raw.accounts; --"}\n',
    )
    write_source(data_dir, "managers", [row("managers")])
    header = [c if c != "account_name" else "客户'名" for c in row("accounts")]
    write(
        data_dir,
        "accounts.csv",
        csv_text("accounts", [{**row("accounts", region="O'Hare"), "客户'名": "Acme"}], header=header),
    )
    ingest_mapped(conn, data_dir, "managers", "accounts")
    assert rows_of(conn, "select account_name, region from staging.accounts") == [
        ("Acme", "north'); drop table raw.accounts; --")
    ]


def test_a_changed_mapping_reloads_the_sources_files_and_an_unchanged_one_changes_nothing(conn, data_dir):
    write_reference_data(data_dir)
    write(data_dir, "orders_erp.csv", ERP_ORDERS, encoding="gbk")
    write_source(data_dir, "orders", [row("orders", order_id="P1", status="已完成")])
    # Without a mapping the ERP file cannot be read, and 已完成 is no status.
    report = ingest_mapped(conn, data_dir, "managers", "accounts", "orders")["orders"]
    assert [f.status for f in report.files] == ["loaded", "failed"]
    assert rows_of(conn, "select count(*) from staging.orders") == [(0,)]

    write(data_dir, "sources.yaml", ERP_MAPPING)
    report = ingest_mapped(conn, data_dir, "managers", "accounts", "orders", now=T2)["orders"]
    assert [(f.file, f.status) for f in report.files] == [("orders.csv", "loaded"), ("orders_erp.csv", "loaded")]
    assert rows_of(conn, "select order_id, status from staging.orders order by order_id") == [
        ("E1", "completed"),
        ("E2", "returned"),
        ("E3", "cancelled"),
        ("P1", "completed"),
    ]
    assert report.quarantined_rows == 1

    # The same mapping again, rewritten with other formatting and key order: nothing is read again.
    write(
        data_dir,
        "sources.yaml",
        "orders:\n  values: {status: {退货: returned, 已取消: cancelled, 已完成: completed}}\n"
        "  columns:\n    订单号: order_id\n    行号: line_no\n    客户编号: account_id\n"
        "    订单日期: order_date\n    金额: net_amount\n    状态: status\n",
    )
    t3 = T2 + dt.timedelta(days=1)
    report = ingest_mapped(conn, data_dir, "managers", "accounts", "orders", now=t3)["orders"]
    assert [f.status for f in report.files] == ["unchanged", "unchanged"]
    assert rows_of(conn, "select distinct _ingested_at from raw.orders") == [(T2,)]

    # Another value map re-types both files.
    write(data_dir, "sources.yaml", ERP_MAPPING.replace("退货: returned", "退货: returned, 未知: cancelled"))
    report = ingest_mapped(conn, data_dir, "managers", "accounts", "orders", now=t3)["orders"]
    assert [f.status for f in report.files] == ["loaded", "loaded"]
    assert report.quarantined_rows == 0
    assert rows_of(conn, "select status from staging.orders where order_id = 'E4'") == [("cancelled",)]
    assert reasons(conn, "orders") == []

    # Without the mapping again, the ERP file fails as at first and its rows are gone.
    (data_dir / "sources.yaml").unlink()
    report = ingest_mapped(conn, data_dir, "managers", "accounts", "orders", now=t3)["orders"]
    assert [f.status for f in report.files] == ["loaded", "failed"]
    assert rows_of(conn, "select count(*) from raw.orders where _source_file = 'orders_erp.csv'") == [(0,)]
    assert rows_of(conn, "select count(*) from raw.file_mapping") == [(0,)]


def test_a_changed_mapping_of_a_referenced_source_rebuilds_the_referencing_one(conn, data_dir):
    write_source(data_dir, "managers", [row("managers")])
    write(
        data_dir,
        "accounts.csv",
        csv_text("accounts", [row("accounts", account_id="X1")]).replace("account_id", "客户编号", 1),
    )
    write_source(data_dir, "orders", [row("orders", account_id="X1")])
    write(data_dir, "sources.yaml", "accounts:\n  columns: {客户编号: account_id}\n")
    ingest_mapped(conn, data_dir, "managers", "accounts", "orders")
    assert rows_of(conn, "select count(*) from staging.orders") == [(1,)]
    # The account's id header now maps to nothing: accounts fails, so X1 is an unknown account.
    write(data_dir, "sources.yaml", "accounts:\n  columns: {客户号: account_id}\n")
    ingest_mapped(conn, data_dir, "managers", "accounts", "orders")
    assert rows_of(conn, "select count(*) from staging.orders") == [(0,)]
    assert [r[2] for r in reasons(conn, "orders")] == ["account_id: unknown account_id (not in accounts) (value 'X1')"]


# --- a broken mapping fails before any data is read ---------------------------------------------------------

KAM = [sys.executable, "-m", "kam_pipeline.cli"]

BROKEN = [
    ("ordrs:\n  columns: {订单号: order_id}\n", "ordrs: unknown source (did you mean 'orders'?"),
    (
        "orders:\n  columns: {金额x: net_amont}\n",
        "orders.columns.金额x: unknown contract column 'net_amont' (did you mean 'net_amount'? columns of orders: "
        "order_id, line_no,",
    ),
    (
        "orders:\n  values: {net_amount: {a: '1'}}\n",
        "orders.values.net_amount: not a text column (value maps apply to the text columns of orders: "
        "order_id, account_id, product_category, status)",
    ),
    (
        "orders:\n  values: {status: {已完成: complete}}\n",
        "orders.values.status.已完成: 'complete' is not a value of status (did you mean 'completed'? "
        "values: completed, cancelled, returned)",
    ),
    (
        "orders:\n  values: {statuses: {已完成: completed}}\n",
        "orders.values.statuses: unknown contract column 'statuses'",
    ),
    (
        "orders:\n  columns: {金额: net_amount, 总额: net_amount}\n",
        "orders.columns.总额: '金额' is already mapped to 'net_amount' (one header per contract column)",
    ),
    (
        "orders:\n  columns: {Amount: net_amount, amount: cost_amount}\n",
        "orders.columns.amount: the same header as 'Amount' (headers match ignoring case)",
    ),
    ("orders:\n  columns: {金额: net_amount}\n  column: {}\n", "orders.column: unknown key (did you mean 'columns'?"),
    ("orders:\n  columns: {金额: net_amount\n", "line 3, column 1: not valid YAML: expected ',' or '}'"),
    ("orders:\n  columns: {金额: net_amount, 金额: cost_amount}\n", "not valid YAML: found duplicate key '金额'"),
    ("- orders\n", "must be a mapping of source names"),
]


@pytest.mark.integration
@pytest.mark.parametrize(("text", "message"), BROKEN)
def test_a_broken_mapping_fails_kam_run_before_any_data_is_read(tmp_path, text, message):
    data = tmp_path / "data"
    write_reference_data(data)
    write(data, "sources.yaml", text)
    db = tmp_path / "out" / "kam.duckdb"
    proc = subprocess.run(
        [*KAM, "run", "--data", str(data), "--db", str(db), "--as-of", "2026-07-01"],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ,
    )
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert line.startswith(f"kam: error: invalid sources mapping: {data / 'sources.yaml'}: ")
    assert message in line
    assert not db.parent.exists()


@pytest.mark.integration
def test_sources_flag_and_environment_take_precedence_over_the_data_folder(tmp_path):
    data = tmp_path / "data"
    write_reference_data(data)
    write(data, "sources.yaml", ERP_MAPPING)
    broken = write(tmp_path, "elsewhere.yaml", "orders: {columns: {a: no_such_column}}\n")
    db = tmp_path / "out" / "kam.duckdb"
    run = [*KAM, "run", "--data", str(data), "--db", str(db), "--as-of", "2026-07-01"]
    flag = subprocess.run([*run, "--sources", str(broken)], capture_output=True, text=True, timeout=120)
    env = subprocess.run(
        run, capture_output=True, text=True, timeout=120, env={**os.environ, "KAM_SOURCES": str(broken)}
    )
    missing = subprocess.run(
        [*run, "--sources", str(tmp_path / "none.yaml")], capture_output=True, text=True, timeout=120
    )
    for proc in (flag, env):
        assert proc.returncode == 2
        assert f"{broken}: orders.columns.a: unknown contract column 'no_such_column'" in proc.stderr
    assert missing.returncode == 2
    assert f"invalid sources mapping: {tmp_path / 'none.yaml'}: file not found" in missing.stderr
    assert not db.parent.exists()


def _materialize_ingest(settings: Settings) -> dg.ExecuteInProcessResult:
    keys = [dg.AssetKey(["staging", s]) for s in ("managers", "accounts", "orders")]
    return dg.materialize(ingest_assets, selection=keys, resources=build_resources(settings), raise_on_error=False)


@pytest.mark.integration
def test_dagster_ingest_takes_the_mapping_from_the_environment(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_reference_data(data)
    write(data, "orders_erp.csv", ERP_ORDERS, encoding="gbk")
    mapping = write(tmp_path, "mapping.yaml", ERP_MAPPING)
    monkeypatch.setenv("KAM_DATA_DIR", str(data))
    monkeypatch.setenv("KAM_DB_PATH", str(tmp_path / "kam.duckdb"))
    monkeypatch.setenv("KAM_SOURCES", str(mapping))
    settings = Settings.from_env()
    assert settings.sources_path == mapping
    result = _materialize_ingest(settings)
    assert result.success
    with duckdb.connect(str(build_resources(settings)["kam"].work_path), read_only=True) as db:
        assert rows_of(db, "select order_id, status from staging.orders order by order_id") == [
            ("E1", "completed"),
            ("E2", "returned"),
            ("E3", "cancelled"),
        ]


@pytest.mark.integration
def test_a_broken_mapping_fails_the_dagster_ingest_before_any_data_is_read(tmp_path):
    data = tmp_path / "data"
    write_reference_data(data)
    write(data, "sources.yaml", "orders:\n  columns: {金额x: net_amont}\n")
    settings = Settings(data_dir=data, db_path=tmp_path / "kam.duckdb", model_path=None)
    result = _materialize_ingest(settings)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert (
        f"invalid sources mapping: {data / 'sources.yaml'}: orders.columns.金额x: unknown contract column "
        "'net_amont'" in failure.message
    )
    # The ingest stopped before it opened the working database.
    assert not build_resources(settings)["kam"].work_path.exists()


@pytest.mark.integration
def test_a_mapping_file_named_by_the_run_is_no_ignored_data_file(tmp_path):
    data = tmp_path / "data"
    write_reference_data(data)
    write(data, "orders_erp.csv", ERP_ORDERS, encoding="gbk")
    mapping = write(data, "erp_mapping.yaml", ERP_MAPPING)
    write(data, "notes.yaml", "not: data\n")
    settings = Settings(data_dir=data, db_path=tmp_path / "kam.duckdb", model_path=None, sources_path=mapping)
    result = _materialize_ingest(settings)
    assert result.success
    with duckdb.connect(str(build_resources(settings)["kam"].work_path), read_only=True) as db:
        ignored = rows_of(db, "select file_name, status from raw.ingest_log where status = 'ignored' order by 1")
        staged = rows_of(db, "select count(*) from staging.orders")
    # The mapping in force is read as a mapping; any other YAML file is listed with its reason.
    assert ignored == [("notes.yaml", "ignored")]
    assert staged == [(3,)]


def test_an_excel_survey_export_with_its_own_headers_loads_through_the_mapping(conn, data_dir):
    from test_excel import write_xlsx

    write_reference_data(data_dir)
    write(
        data_dir,
        "sources.yaml",
        "surveys:\n  columns: {问卷编号: response_id, 客户编号: account_id, "
        "填写日期: responded_on, 总体满意度: overall, 推荐意愿: recommend}\n",
    )
    write_xlsx(
        data_dir / "surveys.xlsx",
        {
            "问卷": [
                ["问卷编号", "客户编号", "填写日期", "总体满意度", "推荐意愿"],
                ["S1", "A1", dt.date(2025, 3, 7), 4, 9],
                ["S2", "A2", dt.date(2025, 3, 8), 7, 10],
            ]
        },
    )
    reports = ingest_mapped(conn, data_dir, "managers", "accounts", "surveys")
    assert reports["surveys"].staged_rows == 1
    assert rows_of(conn, "select response_id, responded_on, overall, recommend from staging.surveys") == [
        ("S1", dt.date(2025, 3, 7), 4.0, 9.0)
    ]
    # The rejected cell is named by the header the export used.
    assert [r[2] for r in reasons(conn, "surveys")] == ["总体满意度 (overall): less_than_or_equal_to(5) (value '7.0')"]
