"""Lightning's model registry (``ckpt_path="registry:..."``, litmodels): not in fastlit."""
from fastlit._placeholders import placeholder_function, reason
from fastlit.utilities.imports import module_available  # noqa: F401  (Lightning's module exports it)

download_model_from_registry = placeholder_function(__name__, "download_model_from_registry",
                                                    *reason("model_registry"))
find_model_local_ckpt_path = placeholder_function(__name__, "find_model_local_ckpt_path", *reason("model_registry"))
