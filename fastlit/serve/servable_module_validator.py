"""``ServableModuleValidator`` (serve the model with FastAPI at fit end and check one request): not in fastlit."""
from fastlit._placeholders import placeholder_class
from fastlit.callbacks.callback import Callback
from fastlit.serve.servable_module import ServableModule  # noqa: F401  (Lightning's module exports it)

ServableModuleValidator = placeholder_class(
    __name__, "ServableModuleValidator", "fastlit does not start a model server to validate a ServableModule yet",
    "Check the module directly: deserialize `configure_payload()['body']` with `configure_serialization()[0]`, call "
    "`serve_step`, serialize with `configure_serialization()[1]` and compare with `configure_response()`.",
    bases=(Callback,))


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "DeepSpeedStrategy": "fastlit.strategies.deepspeed",
    "FSDPStrategy": "fastlit.strategies.fsdp",
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "RequirementCache": "fastlit.utilities.imports",
    "is_overridden": "fastlit.utilities.model_helpers",
    "rank_zero_only": "fastlit.utilities.rank_zero",
})
