"""The lab: what only ground truth can tell — error rates, sweeps, reference cases, the report."""
