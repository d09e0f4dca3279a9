"""Typed errors; messages say what was expected and what was received. Every command and
`python -m trainkit` exits with the code `EXIT_CODES` gives the error (its nearest listed class):

    0 ok · 1 the run failed · 2 bad input (config, override, argument) · 3 bad data · 4 not found ·
    5 ONNX export failed its checks · 6 a registered artifact no longer matches its digest ·
    130 cancelled
"""
from __future__ import annotations


class TrainkitError(Exception):
    """Base for errors that are the user's to fix; the CLI prints them without a traceback."""

    @property
    def exit_code(self) -> int:
        return exit_code(self)


class ConfigError(TrainkitError):
    """One or more config problems, reported all at once."""


    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid config ({len(self.problems)} problem(s)):\n{lines}")


class DataError(TrainkitError):
    """A dataset file is missing, corrupt or does not match its checksum."""



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
    def __init__(self, dataset: str, filename: str, attempts: list[tuple[str, str]], hint: str,
                 unreachable: bool = False):
        self.attempts = attempts
        self.unreachable = unreachable   # no mirror answered with data (as opposed to data that failed its checks)
        tried = "\n".join(f"  - {url}: {reason}" for url, reason in attempts)
        super().__init__(
            f"dataset {dataset!r}: every mirror failed for {filename}:\n{tried}\n{hint}"
        )


class NotFoundError(TrainkitError):
    """No run, model, dataset, sweep or environment by that name or reference."""


class ExportError(TrainkitError):
    """The model is registered, but its ONNX export failed or missed the parity thresholds."""



class IntegrityError(TrainkitError):
    """A registered artifact no longer matches the sha256 in its manifest."""



class CheckpointError(TrainkitError):
    """The run's checkpoint does not fit the model as configured now (the model config changed).
    Exit code 2, like a bad config or override: the fix is on the command line (the config the
    checkpoint was saved with, or run.resume=never)."""



class UsageError(TrainkitError):
    """A bad command-line argument (a model name, a reference, a flag value)."""



class RunFailed(TrainkitError):
    """A run that was waited for ended failed or cancelled (the Python API's `Run.wait`)."""


EXIT_CODES: dict[type, int] = {
    TrainkitError: 1, ConfigError: 2, UsageError: 2, CheckpointError: 2, DataError: 3, NotFoundError: 4,
    ExportError: 5, IntegrityError: 6,
}


def exit_code(error: BaseException) -> int:
    """The exit code of an error: its nearest class in EXIT_CODES (1 for anything else)."""
    return next((EXIT_CODES[c] for c in type(error).__mro__ if c in EXIT_CODES), 1)
