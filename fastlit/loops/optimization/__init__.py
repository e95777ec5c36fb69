"""Lightning's ``loops.optimization`` path (see ``fastlit.loops``)."""
