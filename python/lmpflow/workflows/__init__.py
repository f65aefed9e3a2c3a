"""The top floor: one run, sweeps, barriers, model comparisons, the demo."""
