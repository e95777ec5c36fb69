"""Lightning's ``utilities.argparse`` has only private helpers (``PL_TRAINER_*`` environment defaults); the
module path exists so imports of it resolve."""
