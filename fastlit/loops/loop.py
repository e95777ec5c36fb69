"""Lightning's ``loops.loop`` path (its loop base class is private)."""
