"""The weekly report, one user's deep dive, and the failure investigation."""
