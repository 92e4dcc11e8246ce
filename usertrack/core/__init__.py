"""The small core every package may import: errors and exit codes, the clock, the
configuration, bounds, files and locks, the house style. It imports nothing of usertrack
above it.
"""
