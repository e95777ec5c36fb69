"""Exceptions raised by fastlit; names match Lightning so users' ``except`` clauses keep working."""


class MisconfigurationException(Exception):
    """The Trainer, a callback or a module was configured in a way that cannot work."""


class SIGTERMException(SystemExit):
    """Raised when the process received SIGTERM."""


class _TunerExitException(Exception):
    """Raised by the Tuner's finder callbacks to end the entry point once tuning is done (not an error)."""
