"""The archive of delivered CSV files: raw.<source> reads the copies, which follow the files delivered."""

from __future__ import annotations

import hashlib

from ingest_support import (
    T1,
    T2,
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


def _archived(tmp_path, source="orders") -> list[str]:
    """Names of the archived copies of `source` (the database is `kam.duckdb` in tmp_path)."""
    folder = tmp_path / "kam.delivered" / source
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_raw_reads_the_archived_copy_not_the_delivered_file(conn, data_dir, tmp_path):
    write_reference_data(data_dir)
    path = write_source(data_dir, "orders", [row("orders", net_amount=" 1,200.50"), row("orders", order_id="O2")])
    delivered = path.read_bytes()
    ingest(conn, data_dir, now=T1)

    (copy,) = _archived(tmp_path)
    assert copy.endswith("_orders.csv")
    assert (tmp_path / "kam.delivered" / "orders" / copy).read_bytes() == delivered
    # The delivered file is overwritten in place without a run: raw still holds what was loaded.
    path.write_text("order_id\nX\n")
    assert rows_of(conn, "select order_id, net_amount, _row_number, _ingested_at from raw.orders order by 3") == [
        ("O1", " 1,200.50", 1, T1),
        ("O2", "100.50", 2, T1),
    ]
    assert rows_of(
        conn, "select table_type from information_schema.tables where table_name = 'orders' and table_schema = 'raw'"
    ) == [("VIEW",)]


def test_replaced_and_removed_files_leave_the_archive(conn, data_dir, tmp_path):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders")], name="orders_a.csv")
    write_source(data_dir, "orders", [row("orders", order_id="O2")], name="orders_b.csv")
    ingest(conn, data_dir, now=T1)
    first = _archived(tmp_path)
    assert [name.split("_", 1)[1] for name in first] == ["orders_a.csv", "orders_b.csv"]
    # A copy a killed run left behind is no file's copy.
    write(tmp_path / "kam.delivered" / "orders", ".0123_orders_c.csv.99.tmp", "order_id\n")

    write_source(data_dir, "orders", [row("orders", order_id="O3")], name="orders_a.csv")
    (data_dir / "orders_b.csv").unlink()
    ingest(conn, data_dir, now=T2)

    (kept,) = _archived(tmp_path)
    assert kept.endswith("_orders_a.csv") and kept not in first
    assert rows_of(conn, "select order_id, _source_file from raw.orders") == [("O3", "orders_a.csv")]
    assert staged(conn, "orders", "order_id") == [("O3",)]


def test_the_archived_copy_whose_checksum_is_recorded_is_the_delivered_file(conn, data_dir, tmp_path):
    write_reference_data(data_dir)
    # More than one read block (1 MiB) of the checksum.
    rows = [row("orders", order_id=f"O{i}", product_category="x" * 200) for i in range(8000)]
    path = write_source(data_dir, "orders", rows)
    # A file with a blank line inside is read by polars: its rows are kept as text, no copy.
    second = csv_text("orders", [row("orders", order_id="P2")]).split("\n", 1)[1]
    write(data_dir, "orders_blank.csv", csv_text("orders", [row("orders", order_id="P1")]) + "\n" + second)
    delivered = path.read_bytes()
    assert len(delivered) > 1 << 20
    ingest(conn, data_dir, now=T1)

    digest = hashlib.sha256(delivered).hexdigest()
    # Named by the checksum of what was delivered; no temporary file is left.
    assert _archived(tmp_path) == [f"{digest[:16]}_orders.csv"]
    assert (tmp_path / "kam.delivered" / "orders" / _archived(tmp_path)[0]).read_bytes() == delivered
    assert rows_of(conn, "select sha256 from raw.ingest_log where file_name = 'orders.csv'") == [(digest,)]
    assert rows_of(conn, "select count(*) from raw.orders_rows where _source_file = 'orders_blank.csv'") == [(2,)]
    assert count(conn, "raw.orders") == 8002

    # Touched but not changed: read for its checksum, not copied again.
    path.write_bytes(delivered)
    report = ingest(conn, data_dir, now=T2)["orders"]
    assert [f.status for f in report.files] == ["unchanged", "unchanged"]
    assert _archived(tmp_path) == [f"{digest[:16]}_orders.csv"]


def test_cross_row_rejects_quote_the_archived_text_after_later_files(conn, data_dir):
    write_reference_data(data_dir)
    # O1 delivered twice with different content: both copies are rejected by a cross-row rule,
    # their reason and cells read back from the archived files.
    write_source(data_dir, "orders", [row("orders", quantity="02")], name="orders_a.csv")
    write_source(data_dir, "orders", [row("orders", quantity="3")], name="orders_b.csv")
    ingest(conn, data_dir, now=T1)
    expected = [
        ("orders_a.csv", 1, "order_id, line_no: duplicate key with different content (value 'O1/1')", 1),
        ("orders_b.csv", 1, "order_id, line_no: duplicate key with different content (value 'O1/1')", 1),
    ]
    assert reasons(conn, "orders") == expected
    assert rows_of(conn, "select quantity from quarantine.orders order by _source_file") == [("02",), ("3",)]

    # A later file and a re-delivery: the rows kept from before and the new ones are quoted alike.
    write_source(data_dir, "orders", [row("orders", order_id="O2", quantity="x")], name="orders_c.csv")
    write_source(data_dir, "orders", [row("orders", quantity="4 ")], name="orders_b.csv")
    ingest(conn, data_dir, now=T2)
    assert rows_of(conn, "select _source_file, quantity from quarantine.orders order by _source_file") == [
        ("orders_a.csv", "02"),
        ("orders_b.csv", "4 "),
        ("orders_c.csv", "x"),
    ]
    assert count(conn, "staging.orders") == 0


def test_database_of_the_layout_before_the_archive_keeps_its_raw_rows(conn, data_dir, tmp_path):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders"), row("orders", order_id="O2", quantity="-1")])
    ingest(conn, data_dir, now=T1)
    raw_before = rows_of(conn, "select * from raw.orders order by all")
    staged_before = staged(conn, "orders")
    # The layout before the archive: raw.orders a table of text, staging rows without their rules.
    conn.execute("create table raw.orders_text as select * from raw.orders")
    conn.execute("drop view raw.orders")
    conn.execute("drop table raw.orders_rows")
    conn.execute("alter table raw.orders_text rename to orders")
    conn.execute("alter table staging.orders_typed drop column _violations")
    conn.execute("delete from raw.archived_files")
    for copy in (tmp_path / "kam.delivered" / "orders").iterdir():
        copy.unlink()

    report = ingest(conn, data_dir, now=T2)["orders"]
    assert [f.status for f in report.files] == ["unchanged"]
    assert rows_of(conn, "select * from raw.orders order by all") == raw_before
    assert staged(conn, "orders") == staged_before

    write_source(data_dir, "orders", [row("orders", order_id="O3", quantity="x")], name="orders_new.csv")
    ingest(conn, data_dir, now=T2)
    assert rows_of(conn, "select _source_file, order_id from raw.orders order by all") == [
        ("orders.csv", "O1"),
        ("orders.csv", "O2"),
        ("orders_new.csv", "O3"),
    ]
    assert [r[:2] for r in reasons(conn, "orders")] == [("orders.csv", 2), ("orders_new.csv", 1)]
