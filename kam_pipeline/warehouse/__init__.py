"""The DuckDB warehouse: connection, SQL files, column comments, data dictionary, Parquet export."""
