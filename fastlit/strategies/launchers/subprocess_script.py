"""Lightning's ``strategies.launchers.subprocess_script`` path (its launcher is private; fastlit's equivalent is in
``fastlit.strategies.ddp``)."""
from fastlit._reexport import lazy_exports

# the names Lightning's module exports, imported on first use
__getattr__ = lazy_exports(__name__, {
    "ClusterEnvironment": "fastlit.plugins.environments",
    "RequirementCache": "fastlit.utilities.imports",
    "log": "@logger",
})
