"""Every module a test imports-or-skips is installed by CI's `pip install -e ".[test]"`, so no test is skipped in
CI for a missing package (psutil and omegaconf once hid DeviceStatsMonitor's and the OmegaConf hparams tests):
a new importorskip of a module needs its package in the `test` extra (or the dependencies) of pyproject.toml."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# import name -> the distribution that installs it, where the names differ or it comes with another requirement
# (the pytorch-lightning wheel ships lightning_fabric and requires torchmetrics and fsspec)
INSTALLED_BY = {"pytorch_lightning": "pytorch-lightning", "sklearn": "scikit-learn",
                "lightning_fabric": "pytorch-lightning", "torchmetrics": "pytorch-lightning",
                "fsspec": "pytorch-lightning"}


def _listed(pyproject: str, key: str) -> set:
    # the list ends at a `]` closing its line (an entry may hold one: "jsonargparse[signatures]>=4.39.0")
    block = re.search(rf"^{key} = \[(.*?)\]$", pyproject, re.M | re.S)
    assert block, f"no `{key} = [...]` in pyproject.toml"
    return {re.split(r"[<>=!~;\[ ]", name)[0].lower() for name in re.findall(r'"([^"]+)"', block.group(1))}


def test_every_importorskip_module_is_installed_by_the_test_extra():
    pyproject = (ROOT / "pyproject.toml").read_text()
    installed = _listed(pyproject, "dependencies") | _listed(pyproject, "test")
    assert {"psutil", "omegaconf", "pytorch-lightning"} <= installed
    skipped = {}
    for path in (ROOT / "tests").rglob("*.py"):
        for module in re.findall(r"importorskip\(\s*[\"']([\w.]+)", path.read_text()):
            skipped.setdefault(module.split(".")[0], path.relative_to(ROOT).as_posix())
    assert {"psutil", "omegaconf"} <= set(skipped)  # the scan sees the tests it is about
    missing = {m: where for m, where in skipped.items() if INSTALLED_BY.get(m, m).replace("_", "-") not in installed}
    assert not missing, f"tests skip without these modules, which the [test] extra does not install: {missing}"
