"""Lightning's ``overrides`` package: distributed samplers and DDP helpers."""
