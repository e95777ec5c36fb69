"""Lightning's ``loops.fetchers`` path (its data fetchers are private)."""


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "CombinedLoader": "fastlit.utilities.combined_loader",
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "sized_len": "fastlit.utilities.data",
})
