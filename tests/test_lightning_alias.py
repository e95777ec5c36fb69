"""fastlit standing in for Lightning inside a library that imports Lightning itself (``python -m fastlit.run``,
``fastlit.as_lightning()``).

Every case runs in a fresh interpreter (the hook is process-wide, and this test process may hold the real
Lightning). A tiny third-party package written to a temp dir imports Lightning under all its names, subclasses
``LightningModule`` and trains with ``EarlyStopping``; the reports check that every name is fastlit's very object,
the once-only notice, the loud failures, and that no module of the real Lightning was ever loaded.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

import fastlit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(fastlit.__file__)))
NOTICE = "is standing in for Lightning"

FAKELIB = '''
"""A stand-in for a third-party library built on Lightning."""
import lightning as L
import lightning.pytorch as pl
import pytorch_lightning
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from pytorch_lightning.callbacks import EarlyStopping
from pytorch_lightning.callbacks.early_stopping import EarlyStopping as DeepEarlyStopping
from torch.utils.data import DataLoader, TensorDataset


class FakeModel(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(max_epochs):
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
    model = FakeModel()
    trainer = L.Trainer(max_epochs=max_epochs, callbacks=[EarlyStopping(monitor="val_loss", patience=50)],
                        enable_progress_bar=False, enable_model_summary=False, logger=False,
                        enable_checkpointing=False)
    trainer.fit(model, DataLoader(data, batch_size=8), DataLoader(data, batch_size=8))
    return trainer, model
'''

TRAIN = '''
import json, os, sys
import fakelib
import fastlit
import lightning, lightning.pytorch, pytorch_lightning
from pytorch_lightning.callbacks.early_stopping import EarlyStopping

fastlit.as_lightning()  # a second call: nothing happens, no second notice
trainer, model = fakelib.fit(int(sys.argv[1]))
forbidden = json.loads(os.environ["FORBIDDEN_DIRS"])
report = {
    "argv": sys.argv, "name": __name__, "path0": sys.path[0],
    "same": {
        "pytorch_lightning": pytorch_lightning is fastlit,
        "lightning.pytorch": lightning.pytorch is fastlit,
        "L.LightningModule": lightning.LightningModule is fastlit.LightningModule,
        "L.Trainer": lightning.Trainer is fastlit.Trainer,
        "EarlyStopping": fakelib.EarlyStopping is fastlit.callbacks.EarlyStopping is EarlyStopping
                         is fakelib.DeepEarlyStopping,
        "ModelCheckpoint": fakelib.ModelCheckpoint is fastlit.callbacks.ModelCheckpoint,
        "sys.modules": sys.modules["pytorch_lightning.callbacks.early_stopping"]
                       is fastlit.callbacks.early_stopping,
        "isinstance": isinstance(model, pytorch_lightning.LightningModule) and isinstance(model, fastlit.Module),
        "issubclass": issubclass(fakelib.FakeModel, lightning.pytorch.LightningModule),
        "trainer": type(trainer) is fastlit.Trainer,
    },
    "spec_names": [fastlit.__spec__.name, fastlit.callbacks.__spec__.name],
    "early_stopping": [type(c).__name__ for c in trainer.callbacks if isinstance(c, EarlyStopping)],
    "val_loss": "val_loss" in trainer.callback_metrics,
    "global_step": trainer.global_step,
    "real_lightning": sorted(m for m, mod in list(sys.modules.items()) if m.startswith("lightning_fabric")
                             or any((getattr(mod, "__file__", None) or "").startswith(d) for d in forbidden)),
}
print("REPORT " + json.dumps(report))
'''


def _forbidden_dirs() -> list[str]:
    """Where the real Lightning packages live (found without importing them)."""
    out = []
    for name in ("pytorch_lightning", "lightning_fabric", "lightning"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            out += [os.path.join(p, "") for p in spec.submodule_search_locations]
    return out


def _run(args: list[str], cwd: Path, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
    full = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
                FORBIDDEN_DIRS=json.dumps(_forbidden_dirs()), OMP_NUM_THREADS="1", **env)
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        full.pop(key, None)
    return subprocess.run([sys.executable, *args], cwd=str(cwd), env=full, capture_output=True, text=True,
                          timeout=timeout)


def _report(proc: subprocess.CompletedProcess) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("REPORT ")]
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0][len("REPORT "):])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A library directory (on the script's path, like an installed package) and the user's script."""
    (tmp_path / "fakelib").mkdir()
    (tmp_path / "fakelib" / "__init__.py").write_text(FAKELIB)
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def test_library_trains_on_fastlit_under_fastlit_run(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("cwd")  # run from another directory: the script's own dir is on the path
    proc = _run(["-m", "fastlit.run", str(project / "train.py"), "2", "--flag"], cwd=elsewhere)
    rep = _report(proc)
    assert rep["argv"] == [str(project / "train.py"), "2", "--flag"] and rep["name"] == "__main__"
    assert rep["path0"] == str(project)
    assert rep["same"] == {k: True for k in rep["same"]}, rep["same"]
    assert rep["spec_names"] == ["fastlit", "fastlit.callbacks"]  # aliasing left fastlit's own specs alone
    assert rep["early_stopping"] == ["EarlyStopping"] and rep["val_loss"] and rep["global_step"] == 8
    assert rep["real_lightning"] == []
    assert proc.stderr.count(NOTICE) == 1, proc.stderr


def test_module_form_and_as_lightning_in_code(project: Path) -> None:
    """``python -m fastlit.run -m module args`` and a program calling ``fastlit.as_lightning()`` itself."""
    (project / "train_mod.py").write_text(TRAIN)
    rep = _report(_run(["-m", "fastlit.run", "-m", "train_mod", "1"], cwd=project))
    assert rep["argv"] == [str(project / "train_mod.py"), "1"] and rep["name"] == "__main__"
    assert rep["same"] == {k: True for k in rep["same"]} and rep["real_lightning"] == []
    (project / "own.py").write_text("import fastlit\nfastlit.as_lightning()\n" + TRAIN)
    proc = _run(["own.py", "1"], cwd=project)
    rep = _report(proc)
    assert rep["same"] == {k: True for k in rep["same"]} and rep["real_lightning"] == []
    assert proc.stderr.count(NOTICE) == 1, proc.stderr


FAILURES = '''
import json, os, sys
import fastlit
light = "fastlit._lightning_alias" not in sys.modules  # `import fastlit` does not load the hook
fastlit.as_lightning()
errors = {}
for stmt in ["import pytorch_lightning.no_such_module", "import lightning.fabric.strategies",
             "import lightning_fabric.accelerators", "from lightning_fabric.utilities import apply_func",
             "from lightning_fabric.utilities.distributed import _distributed_is_initialized",
             "from lightning.fabric import Fabric", "from lightning_fabric import Fabric",
             "from lightning import Fabric", "import lightning.app",
             "from pytorch_lightning.callbacks import NoSuchCallback"]:
    try:
        exec(stmt)
        errors[stmt] = None
    except ImportError as e:
        errors[stmt] = [type(e).__name__, str(e)]
forbidden = json.loads(os.environ["FORBIDDEN_DIRS"])
ours = lambda mod: mod.__name__.startswith("fastlit") or (mod.__doc__ or "").startswith("fastlit stand-in")
real = sorted(m for m, mod in list(sys.modules.items()) if (m.startswith("lightning_fabric") and not ours(mod))
              or any((getattr(mod, "__file__", None) or "").startswith(d) for d in forbidden))
print("REPORT " + json.dumps({"light": light, "errors": errors, "real_lightning": real}))
'''


def test_missing_names_fail_loudly_and_never_load_real_lightning(tmp_path: Path) -> None:
    rep = _report(_run(["-c", FAILURES], cwd=tmp_path))
    assert rep["light"]
    errors = rep["errors"]
    kind, msg = errors["import pytorch_lightning.no_such_module"]
    assert kind == "ModuleNotFoundError" and "fastlit has no module `fastlit.no_such_module`" in msg
    assert "standing in for Lightning" in msg
    for stmt in ("import lightning.fabric.strategies", "import lightning_fabric.accelerators",
                 "from lightning_fabric.utilities.distributed import _distributed_is_initialized"):
        assert errors[stmt][0] == "ModuleNotFoundError" and "fastlit has no Fabric" in errors[stmt][1], stmt
    for stmt in ("from lightning.fabric import Fabric", "from lightning_fabric import Fabric",
                 "from lightning_fabric.utilities import apply_func"):  # the stand-in packages refuse the rest
        assert errors[stmt][0] == "ImportError" and "fastlit has no Fabric" in errors[stmt][1], stmt
    assert "fastlit has no Fabric" in errors["from lightning import Fabric"][1]
    assert "only provides `lightning.pytorch`" in errors["import lightning.app"][1]
    # a missing name inside a module fastlit has: Python's own message, naming fastlit's module
    assert "cannot import name 'NoSuchCallback' from 'fastlit.callbacks'" in errors[
        "from pytorch_lightning.callbacks import NoSuchCallback"][1]
    assert rep["real_lightning"] == []


def test_refused_after_real_lightning_was_imported(tmp_path: Path) -> None:
    pytest.importorskip("pytorch_lightning")
    code = ("import pytorch_lightning, fastlit\ntry:\n    fastlit.as_lightning()\nexcept RuntimeError as e:\n"
            "    print('REPORT ' + __import__('json').dumps(str(e)))\n")
    msg = _report(_run(["-c", code], cwd=tmp_path))
    assert "Lightning is already imported (pytorch_lightning" in msg and "python -m fastlit.run" in msg


def test_fastlit_run_usage(tmp_path: Path) -> None:
    proc = _run(["-m", "fastlit.run"], cwd=tmp_path)
    assert proc.returncode == 2 and "usage: python -m fastlit.run script.py" in proc.stderr
    proc = _run(["-m", "fastlit.run", "missing.py"], cwd=tmp_path)
    assert proc.returncode == 2 and "can't open file 'missing.py'" in proc.stderr


DDP_SCRIPT = '''
import json, os, sys
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset
import fastlit


class M(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch):
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, logger=False,
                     enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
trainer.fit(M(), DataLoader(TensorDataset(torch.randn(16, 4)), batch_size=4))
with open(os.path.join(sys.argv[1], f"rank{trainer.global_rank}.json"), "w") as f:
    json.dump({"fastlit": pl is fastlit, "real": "lightning_fabric" in sys.modules, "step": trainer.global_step}, f)
'''


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_ddp_relaunch_keeps_fastlit_standing_in(tmp_path: Path) -> None:
    """fastlit's DDP re-runs the program for the other ranks: through ``fastlit.run`` again, so every rank
    imports fastlit under Lightning's name (not the real Lightning the script names)."""
    (tmp_path / "ddp_train.py").write_text(DDP_SCRIPT)
    # a rank on the real Lightning would wait for a peer that never comes: bound the wait
    proc = _run(["-m", "fastlit.run", "ddp_train.py", str(tmp_path)], cwd=tmp_path, timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks == [{"fastlit": True, "real": False, "step": 2}] * 2
    assert proc.stderr.count(NOTICE) == 1  # rank 1 is quiet


FABRIC_UTILS = '''
import json, sys
import fastlit
fastlit.as_lightning()
from lightning.fabric.utilities.types import _MAP_LOCATION_TYPE, _PATH
from lightning.fabric.utilities.cloud_io import get_filesystem, _load
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning_fabric.utilities import seed
from lightning_fabric.utilities.seed import seed_everything
import lightning.fabric.utilities.types as t1, lightning_fabric.utilities.types as t2, fastlit._fabric.types as t3
import fastlit.utilities.rank_zero as rz
print("REPORT " + json.dumps({
    "same_module": t1 is t2 is t3, "seed": seed_everything is fastlit.seed_everything,
    "rank_zero": rank_zero_only is rz.rank_zero_only, "seed_mod": seed is sys.modules["fastlit._fabric.seed"],
    "real": sorted(m for m, mod in sys.modules.items() if m.partition(".")[0] in ("lightning_fabric", "lightning")
                   and "site-packages" in (getattr(mod, "__file__", None) or ""))}))
'''


def test_fabric_utility_modules_libraries_import_map_to_fastlit(tmp_path: Path) -> None:
    """pytorch-forecasting & co. import a few Fabric utilities: those paths resolve to fastlit._fabric, nothing
    of the real Lightning is loaded (the rest of Fabric still fails: see the test above)."""
    rep = _report(_run(["-c", FABRIC_UTILS], cwd=tmp_path))
    assert rep == {"same_module": True, "seed": True, "rank_zero": True, "seed_mod": True, "real": []}


@pytest.mark.parametrize("mod", ["types", "seed", "cloud_io", "rank_zero"])
def test_fabric_utility_modules_have_fabrics_names(mod: str) -> None:
    """Every name Lightning 2.6.6's ``lightning_fabric.utilities.<mod>`` defines itself (private ones included:
    libraries import ``_PATH``, ``_MAP_LOCATION_TYPE``, ``_load``) exists in fastlit's stand-in."""
    real = pytest.importorskip(f"lightning_fabric.utilities.{mod}")
    ours = importlib.import_module(f"fastlit._fabric.{mod}")
    wanted = {n for n, v in vars(real).items() if not n.startswith("__") and not isinstance(v, type(os))
              and getattr(v, "__module__", real.__name__) == real.__name__}
    wanted |= {"_PATH", "_MAP_LOCATION_TYPE", "_DEVICE"} if mod == "types" else set()
    wanted -= {"log", "rank_zero_module"}  # a logger and lightning_utilities' module, not API
    assert sorted(n for n in wanted if not hasattr(ours, n)) == []


def test_fabric_seed_helpers_behave_like_fabrics() -> None:
    real = pytest.importorskip("lightning_fabric.utilities.seed")
    from fastlit._fabric import seed as ours

    assert ours._generate_seed_sequence(7, 2, 1, 4) == real._generate_seed_sequence(7, 2, 1, 4)
    assert (ours.min_seed_value, ours.max_seed_value) == (real.min_seed_value, real.max_seed_value)
    for impl in (real, ours):  # the worker seeding draws the same numbers
        torch.manual_seed(123)
        impl.pl_worker_init_function(3, rank=1)
        import random

        import numpy as np
        impl_draws = (torch.rand(2).tolist(), random.random(), float(np.random.rand()))
        if impl is real:
            expected = impl_draws
    assert impl_draws == expected
    states = ours._collect_rng_states()
    a = torch.rand(3)
    ours._set_rng_states(states)
    assert torch.equal(torch.rand(3), a)
