"""The sequence-model core: PyTorch and Python only, never Django. See README, "The core"."""
