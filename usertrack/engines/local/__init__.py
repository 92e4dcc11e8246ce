"""The local engine: PostHog's events in a DuckDB store on disk, the HogQL
translated to DuckDB, and the rollups and shortcuts that answer a shipped query faster.
"""
