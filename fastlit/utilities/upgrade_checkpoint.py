"""``python -m lightning.pytorch.utilities.upgrade_checkpoint``: upgrades pre-2.0 files; not in fastlit."""
from fastlit._placeholders import placeholder_function, reason
from fastlit.utilities.migration import migrate_checkpoint, pl_legacy_patch  # noqa: F401

main = placeholder_function(__name__, "main", *reason("legacy_checkpoint"))

if __name__ == "__main__":
    main()
