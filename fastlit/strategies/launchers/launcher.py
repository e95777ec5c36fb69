"""Lightning's ``strategies.launchers.launcher`` path (its launcher base class is private)."""
