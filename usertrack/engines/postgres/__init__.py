"""The PostgreSQL engine: the app's database read with psycopg, the COPY
helpers, and the local copy of the app's tables with its declared shortcuts.
"""
