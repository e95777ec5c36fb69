"""Lightning's test helpers (``RunIf`` reasons) are private to Lightning's own test suite; the path exists."""
