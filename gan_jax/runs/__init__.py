"""Run directories: their layout and lock, orbax checkpoints, scalar logs, provenance, and sampling
from a run."""
