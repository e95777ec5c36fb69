"""The Trainer's ``__init__`` arguments as ``LightningCLI`` parses them and ``-h`` describes them.

fastlit's Trainer annotates a few arguments loosely (``logger: Any``...), which a plain Python call does not mind
but a config parser does: jsonargparse builds ``class_path`` configs (``--trainer.logger=CSVLogger``,
``trainer: {profiler: {class_path: ...}}``) and validates values from the annotations, and prints each argument's
description from the docstring. So the CLI parses the Trainer's arguments through a stand-in whose signature is
the Trainer's own (names, order, defaults: read from it, so it cannot drift) with the precise types Lightning's
configs rely on, and with a description per argument. The Trainer itself is still what gets built.
"""
from __future__ import annotations

import inspect
import typing
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Optional, Union

_PRECISION = Optional[Union[
    Literal[64, 32, 16],
    Literal["transformer-engine", "transformer-engine-float16", "16-true", "16-mixed", "bf16-true", "bf16-mixed",
            "32-true", "64-true"],
    Literal["64", "32", "16", "bf16"],
]]

# one line per argument, shown by `-h` (fastlit's wording)
DESCRIPTIONS = {
    "accelerator": 'the hardware: "cpu", "gpu"/"cuda", "auto", or an Accelerator instance.',
    "strategy": 'how to distribute: "auto", "ddp", "ddp_spawn", ... or a Strategy instance.',
    "devices": 'how many devices (int), which ones (list of indices, or a string such as "0,1"), or "auto".',
    "num_nodes": "number of machines for distributed training.",
    "precision": 'numeric precision: "32-true", "16-mixed", "bf16-mixed", "bf16-true", "64-true", ...',
    "logger": "a logger, a list of loggers, True for the default TensorBoard/CSV logger, or False for none.",
    "callbacks": "callbacks to add (besides the default progress bar, model summary and checkpointing).",
    "fast_dev_run": "run n batches (True: 1) of train/val/test as a smoke test, without logging or checkpoints.",
    "max_epochs": "stop after this many epochs (None: 1000 unless max_steps is set; -1: no limit).",
    "min_epochs": "train at least this many epochs even if early stopping asks to stop.",
    "max_steps": "stop after this many optimizer steps (-1: no limit).",
    "min_steps": "train at least this many optimizer steps.",
    "max_time": 'stop after this much time: "DD:HH:MM:SS", a dict such as {"hours": 1}, or a timedelta.',
    "limit_train_batches": "training batches per epoch: an int is a count, a float a fraction.",
    "limit_val_batches": "validation batches per run: an int is a count, a float a fraction.",
    "limit_test_batches": "test batches: an int is a count, a float a fraction.",
    "limit_predict_batches": "prediction batches: an int is a count, a float a fraction.",
    "overfit_batches": "train (and validate) on this many batches (int) or this fraction (float) repeatedly.",
    "val_check_interval": "validate every n training batches (int) or at this fraction of an epoch (float).",
    "check_val_every_n_epoch": "validate every n epochs (None: only by val_check_interval).",
    "num_sanity_val_steps": "validation batches run before training starts (-1: all; default 2).",
    "log_every_n_steps": "how often to log within training steps (default 50).",
    "enable_checkpointing": "add a ModelCheckpoint callback when none is given (default True).",
    "enable_progress_bar": "show a progress bar (default True).",
    "enable_model_summary": "print the model summary when fitting starts (default True).",
    "accumulate_grad_batches": "accumulate gradients over this many batches per optimizer step.",
    "gradient_clip_val": "clip gradients at this value (None or 0: no clipping).",
    "gradient_clip_algorithm": '"norm" (default) or "value".',
    "deterministic": 'use deterministic torch algorithms (True), or "warn" to only warn about non-deterministic ones.',
    "benchmark": "set torch.backends.cudnn.benchmark.",
    "inference_mode": "evaluate under torch.inference_mode (True) or torch.no_grad (False).",
    "use_distributed_sampler": "wrap the dataloaders' samplers in a DistributedSampler under distributed training.",
    "profiler": 'profile the run: "simple", "advanced", "pytorch", or a Profiler instance.',
    "detect_anomaly": "enable torch.autograd's anomaly detection.",
    "barebones": "turn off every feature that costs time per step (logging, progress bar, checkpointing...).",
    "plugins": "plugins, e.g. a CheckpointIO.",
    "sync_batchnorm": "synchronize batch-norm statistics across processes.",
    "reload_dataloaders_every_n_epochs": "call the *_dataloader hooks again every n epochs (0: never).",
    "default_root_dir": "where logs and checkpoints go when no logger/callback says otherwise (default: cwd).",
    "enable_autolog_hparams": "log the module's and datamodule's hyperparameters to the loggers.",
    "model_registry": "the name of a model registry entry to save checkpoints under (not supported by fastlit).",
    "fused_optimizer": "fastlit: replace torch.optim.Adam/AdamW/SGD by fastlit's fused kernels (default True).",
    "async_checkpoint": "fastlit: write checkpoints in the background (AsyncCheckpointIO).",
}


def _precise_types() -> dict[str, Any]:
    from fastlit.accelerators import Accelerator
    from fastlit.loggers import Logger
    from fastlit.profilers import Profiler
    from fastlit.strategies import Strategy

    return {
        "accelerator": Union[str, Accelerator],
        "strategy": Union[str, Strategy],
        "precision": _PRECISION,
        "logger": Optional[Union[Logger, Iterable[Logger], bool]],
        "max_time": Optional[Union[str, timedelta, dict[str, int]]],
        "profiler": Optional[Union[Profiler, str]],
        "default_root_dir": Optional[Union[str, Path]],
    }


def trainer_arguments(trainer_class: type) -> type:
    """A class whose ``__init__`` signature is ``trainer_class.__init__``'s (without ``**kwargs``), with
    precise types and a docstring describing every argument: what the parser adds under ``trainer``."""
    init = trainer_class.__init__
    hints = typing.get_type_hints(init)  # the Trainer's annotations are strings (postponed): resolve them here
    hints.update(_precise_types())
    params = [p.replace(annotation=hints.get(p.name, p.annotation))
              for p in list(inspect.signature(init).parameters.values())[1:]
              if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]

    def __init__(self: Any, **kwargs: Any) -> None:  # never called: the parser only reads the signature
        raise TypeError("a signature stand-in; build the Trainer itself")

    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    __init__.__signature__ = inspect.Signature([self_param, *params], return_annotation=None)  # type: ignore
    __init__.__annotations__ = {p.name: p.annotation for p in params}
    summary = (inspect.getdoc(trainer_class) or trainer_class.__name__).split("\n\n")[0]
    args_doc = "\n".join(f"    {p.name}: {DESCRIPTIONS[p.name]}" for p in params if p.name in DESCRIPTIONS)
    return type(trainer_class.__name__, (), {"__init__": __init__, "__module__": trainer_class.__module__,
                                             "__qualname__": trainer_class.__qualname__,
                                             "__doc__": f"{summary}\n\nArgs:\n{args_doc}\n"})
