"""The checkpoint bench suite runs end to end on tiny sizes and reports every figure it promises."""
from __future__ import annotations

import os

from fastlit.bench import checkpoint


def test_checkpoint_suite_small(tmp_path):
    result = checkpoint.run(sizes_mb=(4,), repeats=1, directory=str(tmp_path), training=False)
    (size,) = result["sizes"]
    assert [r["variant"] for r in size["rows"]] == list(checkpoint.LABELS)
    assert all(r["blocked_ms"] > 0 and r["done_ms"] >= r["blocked_ms"] for r in size["rows"])
    assert size["disk_mbs"] > 0 and size["staging_bytes"] >= size["bytes"]
    assert set(result["ratios"]) == {"checkpoint.4MB.blocked_vs_torch_save", "checkpoint.4MB.disk_vs_write"}
    table = checkpoint.format_table(result)
    assert "fastlit AsyncCheckpointIO" in table and "of disk bandwidth" in table
    assert os.listdir(tmp_path) == []  # everything it wrote is gone


def test_checkpoint_training_part_small(tmp_path):
    t = checkpoint.run_training(str(tmp_path), steps=6, every=2, hidden=16, layers=2, batch=4, repeats=1)
    assert set(t["ms_per_step"]) == {"none", "sync", "async"} and all(v > 0 for v in t["ms_per_step"].values())
    assert t["async_vs_none"] > 0 and t["async_vs_none_paired"] > 0
    assert 0 < t["blocked_ms_per_save"] and 0 < t["torch_save_ms"] and t["blocked_vs_torch_save"] > 0
    assert "training loop" in checkpoint.format_table({"sizes": [], "training": t})
