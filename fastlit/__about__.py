__version__ = "0.1.0"
LIGHTNING_VERSION = "2.6.6"  # the Lightning checkpoint format version fastlit writes (what Lightning's loaders check)
