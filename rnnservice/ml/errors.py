"""The error types the sequence-model core raises; callers catch MLError."""
from __future__ import annotations


class MLError(Exception):
    """Base of every error the core raises on purpose."""


class ConfigError(MLError):
    """A configuration value that cannot be used: names the field and the allowed values."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


class FormatError(MLError):
    """A data file we cannot read: the file, the 1-based line (0: the file as a whole), and what was wrong."""

    def __init__(self, path: str, line: int, problem: str):
        super().__init__(f"{path}, line {line}: {problem}" if line else f"{path}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


class ArtifactError(MLError):
    """A model version folder that is missing a file, fails its manifest or cannot be read."""


class TrainingStopped(MLError):
    """Raised by an epoch callback to stop a run (cancel); the last checkpoint is kept."""


class InputError(MLError):
    """A prediction input of the wrong shape; names the item (0-based) and what was expected."""

    def __init__(self, index: int, problem: str):
        super().__init__(f"inputs[{index}]: {problem}")
        self.index, self.problem = index, problem
