"""Score B2B key accounts and their managers: a Dagster + DuckDB + polars pipeline."""

# First: settings sets polars' allocator option, which polars reads when it is first imported.
from kam_pipeline import settings  # noqa: F401
