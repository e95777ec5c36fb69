"""Lightning's DeepSpeed model summary (parameter counts of ZeRO-partitioned modules): not in fastlit."""
from fastlit._placeholders import placeholder_class, placeholder_function, reason
from fastlit.utilities.imports import RequirementCache  # noqa: F401  (Lightning's module exports it)
from fastlit.utilities.model_summary.model_summary import (  # noqa: F401
    LayerSummary,
    ModelSummary,
    get_human_readable_count,
)

deepspeed_param_size = placeholder_function(__name__, "deepspeed_param_size", *reason("deepspeed"))
DeepSpeedLayerSummary = placeholder_class(__name__, "DeepSpeedLayerSummary", *reason("deepspeed"),
                                          bases=(LayerSummary,))
DeepSpeedSummary = placeholder_class(__name__, "DeepSpeedSummary", *reason("deepspeed"), bases=(ModelSummary,))
