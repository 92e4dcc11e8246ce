"""The query library: the shipped and the user's query files, their parameters,
and the person filter a query is narrowed by. No engine: the engines run what it names.
"""
