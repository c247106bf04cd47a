"""Reading delivered files: encodings, Parquet, headers, extra and absent columns, broken files, verbatim text."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingest_support import (
    count,
    csv_text,
    ingest,
    reasons,
    row,
    rows_of,
    staged,
    write,
    write_reference_data,
    write_source,
)
from kam_pipeline.ingest.contract import SOURCES
from kam_pipeline.ingest.reader import scan_file

CHINESE_MANAGERS = [
    row("managers", manager_name="王伟", team_name="华东大客户部"),
    row("managers", manager_id="M2", manager_name="李娜", team_id="T2", team_name="华南区（重点）"),
]
CHINESE_ACCOUNTS = [
    row("accounts", account_name="上海某某贸易有限公司", industry="零售", region="华东"),
    row("accounts", account_id="A2", account_name="深圳“星辰”科技, 股份", manager_id="M2", region="华南"),
]


def _load_staging(data_dir: Path, db: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db)) as c:
        ingest(c, data_dir, "managers", "accounts")
        return {s: staged(c, s, f"{', '.join(SOURCES[s].column_names)}, _row_number") for s in ("managers", "accounts")}


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-8-sig"])
def test_chinese_file_in_another_encoding_loads_like_utf8(tmp_path, encoding):
    for folder, enc in (("utf8", "utf-8"), ("other", encoding)):
        write(tmp_path / folder, "managers.csv", csv_text("managers", CHINESE_MANAGERS), enc)
        write(tmp_path / folder, "accounts.csv", csv_text("accounts", CHINESE_ACCOUNTS), enc)

    as_utf8 = _load_staging(tmp_path / "utf8", tmp_path / "utf8.duckdb")
    as_other = _load_staging(tmp_path / "other", tmp_path / "other.duckdb")

    assert as_other == as_utf8
    assert as_utf8["accounts"][1][1] == "深圳“星辰”科技, 股份"
    assert [r[1] for r in as_utf8["managers"]] == ["王伟", "李娜"]


def test_bom_does_not_hide_the_first_column(conn, data_dir):
    write(data_dir, "managers.csv", "\ufeff" + csv_text("managers", CHINESE_MANAGERS))

    report = ingest(conn, data_dir, "managers")["managers"]

    assert [(f.status, f.rows_read) for f in report.files] == [("loaded", 2)]
    assert staged(conn, "managers", "manager_id, manager_name") == [("M1", "王伟"), ("M2", "李娜")]


def test_parquet_loads_like_csv(conn, data_dir):
    write_reference_data(data_dir)
    pl.DataFrame(
        {
            "order_id": ["O1", "O2"],
            "line_no": [1, 2],
            "account_id": ["A1", "A2"],
            "order_date": [dt.date(2024, 1, 5), dt.date(2024, 1, 6)],
            "product_category": ["widgets", "机械"],
            "quantity": [2.0, 0.5],
            "net_amount": [100.5, -20.0],
            "cost_amount": [60.0, None],
            "status": ["completed", "Returned"],
            "note": ["extra", None],
        }
    ).write_parquet(data_dir / "orders_2024-01.parquet")
    pl.DataFrame(
        {
            "complaint_id": ["C1"],
            "account_id": ["A1"],
            "opened_at": [dt.datetime(2024, 3, 1, 10, 0)],
            "resolved_at": [None],
            "severity": ["low"],
            "category": ["billing"],
        },
        schema_overrides={"resolved_at": pl.Datetime("us")},
    ).write_parquet(data_dir / "complaints.parquet")

    reports = ingest(conn, data_dir)

    assert [(f.file, f.status, f.rows_read) for f in reports["orders"].files] == [
        ("orders_2024-01.parquet", "loaded", 2)
    ]
    assert staged(
        conn,
        "orders",
        "order_id, line_no, order_date, product_category, quantity, "
        "cast(net_amount as double), cast(cost_amount as double), status",
    ) == [
        ("O1", 1, dt.date(2024, 1, 5), "widgets", 2.0, 100.5, 60.0, "completed"),
        ("O2", 2, dt.date(2024, 1, 6), "机械", 0.5, -20.0, None, "returned"),
    ]
    assert rows_of(conn, "select _extra from raw.orders order by _row_number") == [
        ('{"note":"extra"}',),
        ('{"note":null}',),
    ]
    assert staged(conn, "complaints", "complaint_id, opened_at, resolved_at") == [
        ("C1", dt.datetime(2024, 3, 1, 10, 0), None)
    ]


def test_header_with_spaces_and_capitals_is_recognised(conn, data_dir):
    write_reference_data(data_dir)
    header = [
        " Order_ID ",
        "LINE_NO",
        "Account Id",
        "order_date\t",
        "Product_Category",
        "quantity",
        "Net_Amount",
        "cost_amount",
        "STATUS",
    ]
    text = csv_text("orders", [row("orders")]).splitlines()
    write(data_dir, "orders.csv", ",".join(header) + "\n" + text[1] + "\n")

    report = ingest(conn, data_dir)["orders"]

    assert (report.staged_rows, report.quarantined_rows) == (1, 0)
    assert staged(conn, "orders", "order_id, account_id, status") == [("O1", "A1", "completed")]


def test_unknown_columns_are_kept_in_raw_extra_and_absent_from_staging(conn, data_dir):
    write_reference_data(data_dir)
    header = [
        "order_id",
        "sales_rep",
        "line_no",
        "account_id",
        "order_date",
        "product_category",
        "quantity",
        "net_amount",
        "cost_amount",
        "status",
        "_row_number",
        "备注",
    ]
    write(
        data_dir,
        "orders.csv",
        csv_text("orders", [{**row("orders"), "sales_rep": "Zhang", "_row_number": "99", "备注": "加急"}], header),
    )

    report = ingest(conn, data_dir)["orders"]

    assert report.staged_rows == 1
    ((extra, row_number),) = rows_of(conn, "select _extra, _row_number from raw.orders")
    assert json.loads(extra) == {"sales_rep": "Zhang", "_row_number": "99", "备注": "加急"}
    assert row_number == 1
    staging_columns = [r[0] for r in rows_of(conn, "describe staging.orders")]
    assert staging_columns == [*SOURCES["orders"].column_names, "_source_file", "_row_number"]


def test_absent_optional_columns_take_their_defaults(conn, data_dir):
    write_reference_data(data_dir)
    header = ["order_id", "account_id", "order_date", "product_category", "quantity", "net_amount", "status"]
    write(data_dir, "orders.csv", csv_text("orders", [row("orders"), row("orders", order_id="O2")], header))
    write(data_dir, "orders_lines.csv", csv_text("orders", [row("orders", order_id="O3", line_no="")]))
    write(
        data_dir,
        "surveys.csv",
        csv_text("surveys", [row("surveys")], ["response_id", "account_id", "responded_on", "overall"]),
    )

    reports = ingest(conn, data_dir)

    assert staged(conn, "orders", "order_id, line_no, cost_amount") == [("O1", 1, None), ("O2", 1, None), ("O3", 1, 60)]
    assert staged(conn, "surveys", "overall, product_quality, recommend") == [(4.0, None, None)]
    assert reports["orders"].quarantined_rows == reports["surveys"].quarantined_rows == 0
    # The raw layer shows what was delivered: no line_no at all, not the default.
    assert rows_of(conn, "select line_no from raw.orders order by _source_file, _row_number") == [
        (None,),
        (None,),
        (None,),
    ]


GARBAGE = bytes(range(256)) * 8


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("orders_garbage.csv", GARBAGE, "not valid UTF-8 or GB18030 text"),
        (
            "orders_semicolon.csv",
            csv_text("orders", [row("orders", order_id="X")]).replace(",", ";"),
            "missing required column(s): order_id, account_id, order_date, product_category, quantity, "
            "net_amount, status",
        ),
        (
            "orders_short.csv",
            csv_text(
                "orders",
                [row("orders", order_id="X")],
                ["order_id", "line_no", "account_id", "order_date", "product_category", "net_amount"],
            ),
            "missing required column(s): quantity, status",
        ),
        ("orders_twice.csv", "order_id,Order_ID\nX,Y\n", "column(s) named twice in the header: order_id"),
        ("orders_fake.parquet", csv_text("orders", [row("orders", order_id="X")]), "not a readable Parquet file"),
        ("orders_quote.csv", 'order_id,line_no\n"X,1\n', "could not parse"),
    ],
    ids=["binary", "semicolon", "missing-columns", "repeated-column", "fake-parquet", "open-quote"],
)
def test_unreadable_file_is_reported_and_the_others_still_load(conn, data_dir, name, content, reason):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders")])
    write(data_dir, name, content)

    report = ingest(conn, data_dir)["orders"]

    outcomes = {f.file: f for f in report.files}
    assert outcomes["orders.csv"].status == "loaded"
    assert outcomes[name].status == "failed"
    assert outcomes[name].reason.startswith(reason)
    assert [f.file for f in report.unreadable] == [name]
    assert rows_of(conn, "select status, reason from raw.ingest_log where file_name = ?", [name]) == [
        ("failed", outcomes[name].reason)
    ]
    assert (report.staged_rows, report.quarantined_rows) == (1, 0)
    assert rows_of(conn, "select count(*) from raw.orders where _source_file = ?", [name]) == [(0,)]

    # Still broken next time: reported again, with the same reason, without re-reading.
    again = ingest(conn, data_dir, "orders")["orders"]
    assert [(f.status, f.reason) for f in again.unreadable] == [("failed", outcomes[name].reason)]


@pytest.mark.parametrize(
    ("content", "description"),
    [
        (b"", "empty"),
        (b"order_id,line_no,account_id,order_date,product_category,quantity,net_amount,status\n", "header"),
    ],
)
def test_empty_and_header_only_files_load_no_rows(conn, data_dir, content, description):
    write_reference_data(data_dir)
    write(data_dir, "orders.csv", content)

    report = ingest(conn, data_dir)["orders"]

    assert [(f.status, f.rows_read, f.reason) for f in report.files] == [("loaded", 0, None)]
    assert (report.staged_rows, report.quarantined_rows) == (0, 0)
    assert rows_of(conn, "select status, rows_read from raw.ingest_log where source = 'orders'") == [("loaded", 0)]


def test_blank_lines_are_not_rows(conn, data_dir):
    write_reference_data(data_dir)
    lines = csv_text("orders", [row("orders"), row("orders", order_id="O2")]).splitlines()
    write(data_dir, "orders.csv", "\r\n".join([lines[0], lines[1], "", lines[2], "", ""]) + "\r\n")

    report = ingest(conn, data_dir)["orders"]

    assert report.files[0].rows_read == 2
    assert staged(conn, "orders", "order_id, _row_number") == [("O1", 1), ("O2", 3)]


@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
@pytest.mark.parametrize("shift", [-3, -2, -1, 0, 1])
@pytest.mark.parametrize("then", [b"O9,1\n", b""])
def test_a_blank_line_is_found_across_the_blocks_a_file_is_read_in(tmp_path, end, shift, then):
    # The scan reads 1 MiB blocks: a blank line on a block's edge counts, trailing blank lines do not.
    line = b"O1,1" + end
    head = b"order_id,line_no" + end + line * ((1 << 20) // len(line))
    head = head[: (1 << 20) + shift].rsplit(end, 1)[0] + end
    data = head + end + then.replace(b"\n", end) + end
    path = tmp_path / "orders.csv"
    path.write_bytes(data)
    # Independently: a line with nothing in it, before the last line with content.
    lines = data.rstrip(b"\r\n").split(b"\n")
    expected = any(not text.rstrip(b"\r") for text in lines)

    assert scan_file(path) == (hashlib.sha256(data).hexdigest(), expected)


def test_row_wider_than_the_header_is_quarantined_not_the_file(conn, data_dir):
    write_reference_data(data_dir)
    lines = csv_text("accounts", [row("accounts", account_id="A3")]).splitlines()
    # An unquoted comma in a name shifts every later cell one column to the right.
    wide = "A4,Acme, Inc.,strategic,retail,east,M1,2020-01-01"
    write(data_dir, "accounts_new.csv", "\n".join([lines[0], lines[1], wide]) + "\n")

    report = ingest(conn, data_dir, "managers", "accounts")["accounts"]

    assert [(f.file, f.status, f.rows_read) for f in report.files] == [
        ("accounts.csv", "loaded", 2),
        ("accounts_new.csv", "loaded", 2),
    ]
    assert reasons(conn, "accounts") == [
        (
            "accounts_new.csv",
            2,
            "*: row has more fields than the header (value '2020-01-01'); "
            "since: not a date (year first: YYYY-MM-DD, YYYY/M/D or YYYY.M.D) (value 'M1'); "
            "manager_id: unknown manager_id (not in managers) (value 'east')",
            3,
        )
    ]
    assert rows_of(conn, "select account_name, segment, _extra from quarantine.accounts") == [
        ("Acme", " Inc.", '{"_surplus_fields":"2020-01-01"}')
    ]
    assert staged(conn, "accounts", "account_id") == [("A1",), ("A2",), ("A3",)]


def test_quarantine_keeps_delivered_text_verbatim_and_injection_text_is_only_data(conn, data_dir):
    injection = "'); drop table staging.orders; --"
    bobby = 'Robert"); DELETE FROM raw.ingest_log;--'
    chinese = '华东 "大客户", 有限公司'
    write_reference_data(data_dir)
    write_source(
        data_dir,
        "accounts",
        [
            row("accounts", account_id="A3", account_name=bobby, manager_id="M9"),
            row("accounts", account_id="A4", account_name=chinese, since="2020-02-30"),
        ],
        name="accounts_new.csv",
    )
    write_source(
        data_dir,
        "orders",
        [
            row("orders"),
            row("orders", order_id=injection, product_category=bobby, quantity=" -1 ", status=" Shipped "),
            row("orders", order_id="O3", account_id=injection, product_category=chinese),
        ],
    )

    ingest(conn, data_dir)
    ingest(conn, data_dir)  # a second run reads its own quarantine back without harm

    assert rows_of(
        conn,
        "select account_name, manager_id, since, _source_file, _row_number "
        "from quarantine.accounts order by _row_number",
    ) == [
        (bobby, "M9", "2020-01-01", "accounts_new.csv", 1),
        (chinese, "M1", "2020-02-30", "accounts_new.csv", 2),
    ]
    assert rows_of(
        conn,
        "select order_id, account_id, product_category, quantity, status, _source_file, "
        "_row_number from quarantine.orders order by _row_number",
    ) == [
        (injection, "A1", bobby, " -1 ", " Shipped ", "orders.csv", 2),
        ("O3", injection, chinese, "2", "completed", "orders.csv", 3),
    ]
    assert [r[2] for r in reasons(conn, "orders")] == [
        "quantity: greater_than_or_equal_to(0) (value '-1.0'); "
        "status: isin(['completed', 'cancelled', 'returned']) (value 'shipped')",
        f"account_id: unknown account_id (not in accounts) (value '{injection}')",
    ]
    assert staged(conn, "orders", "order_id") == [("O1",)]
    assert count(conn, "raw.ingest_log") == 4
    assert count(conn, "staging.orders") == 1


def test_symlink_pointing_outside_the_folder_is_ignored(conn, data_dir, tmp_path):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders")])
    outside = write_source(tmp_path / "elsewhere", "orders", [row("orders", order_id="SECRET")])
    (data_dir / "orders_link.csv").symlink_to(outside)
    (data_dir / "orders_dir.csv").mkdir()

    report = ingest(conn, data_dir)["orders"]

    assert [f.file for f in report.files] == ["orders.csv"]
    assert staged(conn, "orders", "order_id") == [("O1",)]
    assert rows_of(conn, "select count(*) from raw.orders where order_id = 'SECRET'") == [(0,)]


def test_file_names_select_the_source(conn, data_dir):
    write_reference_data(data_dir)
    for name in (
        "orders.csv",
        "Orders_2024-02.CSV",
        "orders_x.parquet.bak",
        "old_orders.csv",
        "orders.txt",
        "ordersx.csv",
    ):
        write(data_dir, name, csv_text("orders", [row("orders", order_id=name)]))

    report = ingest(conn, data_dir)["orders"]

    assert [f.file for f in report.files] == ["Orders_2024-02.CSV", "orders.csv"]
    assert report.staged_rows == 2


def test_empty_header_cells_of_a_spreadsheet_export_are_unknown_columns(conn, data_dir):
    write_reference_data(data_dir)
    lines = csv_text("orders", [row("orders")]).splitlines()
    write(data_dir, "orders.csv", f"{lines[0]},,\n{lines[1]},,x\n")

    report = ingest(conn, data_dir)["orders"]

    assert [(f.status, f.rows_read) for f in report.files] == [("loaded", 1)]
    assert report.staged_rows == 1
    assert rows_of(conn, "select _extra from raw.orders") == [('{"_unnamed_10":null,"_unnamed_11":"x"}',)]


def test_row_numbers_follow_the_file_in_a_file_read_by_several_threads(conn, data_dir):
    # About 30 MB, large enough for DuckDB's CSV reader to read in parallel; every row must carry its
    # own position in the file (a quarantine reason points at it), whichever thread read it.
    lines = 400_000
    bad = {3, 200_001, 399_998}
    header = ",".join(SOURCES["orders"].column_names)
    body = "".join(
        f"O{i},1,A1,2024-01-05,widgets,{'-1' if i in bad else '2'},100.50,60,completed,{'x' * 20}\n"
        for i in range(1, lines + 1)
    )
    write_reference_data(data_dir)
    write(data_dir, "orders.csv", f"{header},note\n{body}")
    ingest(conn, data_dir)
    assert [(r, reason) for _, r, reason, _ in reasons(conn, "orders")] == [
        (n, "quantity: greater_than_or_equal_to(0) (value '-1.0')") for n in sorted(bad)
    ]
    # The row number of every staged row is the number in its order id, written on the same line.
    assert rows_of(conn, "select count(*) from staging.orders where order_id <> 'O' || _row_number") == [(0,)]
    assert count(conn, "staging.orders") == lines - len(bad)
