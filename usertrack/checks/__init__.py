"""The SQL people write into rule and query files, run in a sandboxed DuckDB and
checked with DuckDB's own parser before anything runs. Above the core, below the engines.
"""
