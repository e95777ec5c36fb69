"""Lightning's FSDP checkpoint consolidation script; fastlit has no FSDP (its checkpoints are single files)."""
from fastlit._placeholders import placeholder_function, reason

_main = placeholder_function(__name__, "main", *reason("fsdp"))

if __name__ == "__main__":
    _main()
