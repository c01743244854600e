"""Test-session settings."""

import torch

# The tests use small tensors: one intra-op thread is as fast, and it cannot stall on an oversubscribed CPU
# (two OpenMP threads on a busy 2-core machine wait for each other's time slices at every barrier).
torch.set_num_threads(1)
