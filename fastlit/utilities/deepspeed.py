"""DeepSpeed checkpoint conversion: not in fastlit (DeepSpeed is not supported)."""
import torch

from fastlit._placeholders import placeholder_function, reason

CPU_DEVICE = torch.device("cpu")

ds_checkpoint_dir = placeholder_function(__name__, "ds_checkpoint_dir", *reason("deepspeed"))
convert_zero_checkpoint_to_fp32_state_dict = placeholder_function(
    __name__, "convert_zero_checkpoint_to_fp32_state_dict", *reason("deepspeed"))
