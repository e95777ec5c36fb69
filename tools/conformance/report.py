"""Group the failures of a tools/conformance/run.sh output by reason, for docs/conformance.md.

usage: tools/conformance/run.sh LIGHTNING_GIT_DIR > out.txt; python tools/conformance/report.py out.txt
Prints the total, the passed/total table per test file, and each failing node id under a reason guessed from its
test name and message (issue #14 cluster numbers); check the "other" group by hand.
"""
import re, sys, collections
out = open(sys.argv[1]).read().splitlines()
fails = []
for l in out:
    m = re.match(r"FAIL \[(\w+)\] (\S+?): (.*)$", l)
    if m:
        fails.append((m.group(2), m.group(3)))
per_file = []
on = False
for l in out:
    if l.startswith("per file"):
        on = True; continue
    if on:
        m = re.match(r"\s+(\d+)/\s*(\d+)\s+(\S+)$", l)
        if m: per_file.append((m.group(3), int(m.group(1)), int(m.group(2))))
        else: on = False
total_line = [l for l in out if re.match(r"^\d+ passed, \d+ failed", l)][-1]
RULES = [
    (r"CombinedLoader", "missing: `CombinedLoader` (migration guide, Not available)"),
    (r"_checkpoint_connector|_accelerator_connector|_data_connector|_logger_connector|_results|fit_loop\.|epoch_loop|_launcher|strategy\._|_lightning_optimizers|has no attribute '_", "not yet: the test reaches a Lightning private attribute fastlit does not have (test artefact of the selection; to be dropped from it or given a public equivalent)"),
    (r"NotSupportedError|not available in fastlit|PeerMissingName", "missing: placeholder/unsupported name (see the migration guide's Not available list)"),
    (r"fsspec|memory://|not-a-filesystem-path", "missing: remote (fsspec) checkpoint paths (migration guide, Not available) - cluster 18"),
    (r"SingleDeviceStrategy' object has no attribute|world_size' of 'SingleDeviceStrategy", "not yet: Strategy API surface (connect/backward/world_size setter) - issue #14 'API surface'"),
    (r"hparams|hyperparameters|save_hyperparameters|SaveHparams|init_method|CHECKPOINT_HYPER|LocalModel|'mandatory'", "not yet: cluster 1 (save_hyperparameters)"),
    (r"scale_batch_size|batch_size_updated|batch_size\b.*not found|test_error_on_dataloader_passed_to_fit|'batch_size'", "not yet: tuner - `trainer.train_dataloader` after `scale_batch_size`, batch-size field lookup (cluster 13-like)"),
    (r"lr_finder|lr_find|suggestion", "not yet: learning-rate finder details"),
    (r"manual_optimization.*scheduler|non_pytorch_scheduler|reduce_lr_on_plateau|lr_scheduler_strict|invalid_optimizer_in_scheduler|unknown keys|unsupported keys|lr_scheduler|scheduler", "not yet: clusters 8/9 (scheduler validation, schedulers in manual optimization)"),
    (r"in `\w+` and in `on_\w+_epoch_end`|add_dataloader_idx|returned", "not yet: cluster 14 (same key from two hooks / returned values)"),
    (r"test_hooks|hook_order|call\('|zero_grad|configure_gradient_clipping|clip_gradients", "not yet: cluster 3 (hook order/arguments recorded by a model that records every call)"),
    (r"missing_callbacks|incomplete_callbacks", "not yet: cluster 18 (resuming with callbacks missing warns)"),
    (r"overfit", "not yet: cluster 18 (overfit_batches sampler swap/warning)"),
    (r"mid_epoch|restarting|resume|max_steps", "not yet: cluster 3 / checkpoint loop state (resume position and warnings)"),
    (r"DataModule|datamodule|dm_", "not yet: cluster 13 (DataModule extras)"),
    (r"profiler|Profiler", "not yet: cluster 13 (profiler action names / options)"),
    (r"log_graph|torchscript|jit", "not yet: cluster 17 (TorchScript/log_graph)"),
    (r"log\b|logging|logged|metric", "not yet: logging details (clusters 4/14)"),
    (r"ckpt_path=\"last\"|checkpoint_path_input_last|find_last", "not yet: `ckpt_path=\"last\"` resolution and its warnings (checkpoint loop state, issue #14 'Beyond')"),
    (r"toggle", "not yet: `toggle_optimizer`/`toggled_optimizer` details"),
    (r"dataloaders_load_every_n_epochs|workers_are_shutdown|iterable_dataset|fast_dev_run", "not yet: dataloader reload schedule / worker shutdown / iterable-dataset details"),
    (r"test_amp|precision", "not yet: precision plugin API details"),
    (r"ClosureResult|ManualResult|Closure'|from_training_step_output|invalid_trainstep_output|no_return|none_batches", "not yet: loop result objects / step-output checks (cluster 18: None batch skips training_step)"),
    (r"checkpointing/|ModelCheckpoint", "not yet: ModelCheckpoint details (NaN first score, save_last with every_n_epochs, default behaviour)"),
    (r"DID NOT WARN", "not yet: a warning Lightning gives is missing"),
    (r"DID NOT RAISE", "not yet: a check Lightning makes is missing"),
    (r"", "not yet: other behaviour difference (message shown)"),
]
def reason(nid, msg):
    s = nid + " " + msg
    for pat, r in RULES:
        if re.search(pat, s):
            return r
print(total_line)
print("\n| test file | passed/total |\n| --- | --- |")
for f, p, t in per_file:
    print(f"| {f} | {p}/{t} |")
print()
groups = collections.defaultdict(list)
for nid, msg in fails:
    groups[reason(nid, msg)].append((nid, msg))
for r, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
    print(f"**{r}** ({len(items)}):\n")
    for nid, msg in items:
        m = re.sub(r"^E\s+", "", msg).replace("|", "\\|")
        print(f"- `{nid}` — {m[:140]}")
    print()
