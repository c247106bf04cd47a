"""Score B2B key accounts and their managers: a Dagster + DuckDB + polars pipeline."""

import os

# polars' allocator (jemalloc) returns freed pages to the system after half a second, but only when
# it next allocates or frees: what a step freed stayed resident through the steps that followed
# (hundreds of MB at 440,000 accounts). A background thread of jemalloc's returns them on time.
# polars adds this variable to its own settings when it is first imported; a caller's value is kept.
os.environ.setdefault("_RJEM_MALLOC_CONF", "background_thread:true")
