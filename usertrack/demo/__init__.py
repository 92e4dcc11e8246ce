"""The built-in demo workspace: generated data, its embedded PostgreSQL and event store."""
