"""Test layer two: later layers win, as Lambda extracts them into /opt in order."""
NAME = "two"
