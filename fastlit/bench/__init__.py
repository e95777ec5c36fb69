"""``fastlit bench``: what the framework costs per step, measured against baselines in the same run."""
