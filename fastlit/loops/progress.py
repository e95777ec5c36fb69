"""Lightning's ``loops.progress`` path (its progress-tracking classes are private)."""
