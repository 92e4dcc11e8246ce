"""Per-user profiles, the segment rules that classify them, and the history of past runs."""
