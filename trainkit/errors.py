"""Typed errors. Each carries an exit code; messages say what was expected and what was received."""
from __future__ import annotations


class TrainkitError(Exception):
    """Base for errors that are the user's to fix; the CLI prints them without a traceback."""

    exit_code = 1


class ConfigError(TrainkitError):
    """One or more config problems, reported all at once."""

    exit_code = 2

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid config ({len(self.problems)} problem(s)):\n{lines}")


class DataError(TrainkitError):
    """A dataset file is missing, corrupt or does not match its checksum."""

    exit_code = 3


class DataFormatError(DataError):
    """An IDX file breaks the format: names the file, what was expected and what was found."""

    def __init__(self, path: str, what: str, expected: object, actual: object):
        self.path, self.what, self.expected, self.actual = path, what, expected, actual
        super().__init__(f"{path}: bad {what}: expected {expected}, got {actual}")


class ChecksumError(DataError):
    def __init__(self, path: str, expected: str, actual: list[str]):
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(
            f"{path}: sha256 mismatch: expected {expected}, got {' (file) / '.join(actual)}"
            + (" (content)" if len(actual) > 1 else "")
        )


class MirrorsExhaustedError(DataError):
    def __init__(self, dataset: str, filename: str, attempts: list[tuple[str, str]], hint: str):
        self.attempts = attempts
        tried = "\n".join(f"  - {url}: {reason}" for url, reason in attempts)
        super().__init__(
            f"dataset {dataset!r}: every mirror failed for {filename}:\n{tried}\n{hint}"
        )


class NotFoundError(TrainkitError):
    exit_code = 4


class ExportError(TrainkitError):
    """The model is registered, but its ONNX export failed or missed the parity thresholds."""

    exit_code = 5


class IntegrityError(TrainkitError):
    """A registered artifact no longer matches the sha256 in its manifest."""

    exit_code = 6


class CheckpointError(TrainkitError):
    """The run's checkpoint does not fit the model as configured now (the model config changed).
    Exit code 2, like a bad config or override: the fix is on the command line (the config the
    checkpoint was saved with, or run.resume=never)."""

    exit_code = 2


class UsageError(TrainkitError):
    """A bad command-line argument (a model name, a reference, a flag value)."""

    exit_code = 2
