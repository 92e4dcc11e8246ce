"""The house style and every output form: terminal tables, JSON, CSV, Markdown, files."""
