"""Data quality: the great-expectations suites for the marts (suites.py)."""
