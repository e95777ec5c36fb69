"""Per-training-step cost of fastlit's RichProgressBar vs its TQDMProgressBar (issue #16), in one run, interleaved.

usage: python tools/bench/progress_bars.py [--steps 1000] [--repeats 5]

Each round fits a tiny model once per configuration (no bar, tqdm, rich; refresh_rate 1 and the defaults) in a
shuffled order, for ``steps`` and for ``5 * steps`` steps. Per configuration the medians over the rounds give the
marginal time per step (the difference of the two fits over the 4 * steps steps between them, so the one-off
setup and teardown of each bar drop out) and that fixed cost; printed with the bar's extra cost per step over the
bar-less run and the rich/tqdm ratio. Both bars draw to /dev/null, rich with ``force_terminal`` so it really
renders.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import statistics
import time
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit
from fastlit.callbacks import RichProgressBar, TQDMProgressBar


class _Tiny(fastlit.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(8, 1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.layer(batch[0]).pow(2).mean()
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _configs(sink: Any) -> dict[str, Callable[[], list]]:
    rich_console = {"force_terminal": True, "file": sink, "width": 120}
    return {
        "no bar": lambda: [],
        "tqdm refresh_rate=1": lambda: [TQDMProgressBar(refresh_rate=1)],
        "rich refresh_rate=1": lambda: [RichProgressBar(refresh_rate=1, console_kwargs=rich_console)],
        "tqdm default": lambda: [TQDMProgressBar()],
        "rich default": lambda: [RichProgressBar(console_kwargs=rich_console)],
        "rich, no 0.1 s floor": lambda: [_unthrottled(RichProgressBar(console_kwargs=rich_console))],
    }


def _unthrottled(bar: RichProgressBar) -> RichProgressBar:
    bar.refresh_interval = 0.0  # redraw refresh_rate (100) times a second, Lightning's rate
    return bar


def _fit_seconds(callbacks: list, loader: DataLoader, steps: int) -> float:
    trainer = fastlit.Trainer(max_steps=steps, callbacks=callbacks, enable_progress_bar=bool(callbacks),
                              logger=False, enable_checkpointing=False, enable_model_summary=False)
    start = time.perf_counter()
    trainer.fit(_Tiny(), loader)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    lengths = (args.steps, 5 * args.steps)
    loader = DataLoader(TensorDataset(torch.randn(lengths[1] * 4, 8)), batch_size=4)
    times: dict[tuple[str, int], list[float]] = {}
    logging.disable(logging.INFO)  # the "`Trainer.fit` stopped" lines
    with open(os.devnull, "w") as sink:
        configs = _configs(sink)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            _fit_seconds([], loader, 50)  # warm-up
            for _ in range(args.repeats):
                order = [(name, steps) for name in configs for steps in lengths]
                random.shuffle(order)
                for name, steps in order:
                    times.setdefault((name, steps), []).append(_fit_seconds(configs[name](), loader, steps))
    logging.disable(logging.NOTSET)
    median = {key: statistics.median(values) for key, values in times.items()}
    per_step = {name: (median[name, lengths[1]] - median[name, lengths[0]]) / (lengths[1] - lengths[0])
                for name in configs}
    base = per_step["no bar"]
    print(f"{'configuration':22} {'us/step':>9} {'bar us/step':>12} {'fixed ms':>9}")
    for name in configs:
        fixed = median[name, lengths[0]] - per_step[name] * lengths[0]
        print(f"{name:22} {per_step[name] * 1e6:9.1f} {(per_step[name] - base) * 1e6:12.1f} {fixed * 1e3:9.1f}")
    for rate in ("refresh_rate=1", "default"):
        print(f"rich/tqdm time per step, {rate}: {per_step[f'rich {rate}'] / per_step[f'tqdm {rate}']:.3f}")


if __name__ == "__main__":
    main()
