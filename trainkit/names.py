"""Name and path policies shared by the registry, datasets and config checks (a leaf: it imports
nothing of trainkit's but its errors)."""
from __future__ import annotations

import re

from .errors import UsageError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def valid_name(value) -> bool:
    """A model or alias name that cannot escape the registry root or confuse a shell or a listing
    (the pattern already excludes '/', spaces and control characters)."""
    return isinstance(value, str) and bool(NAME.fullmatch(value)) and ".." not in value


def check_name(value: str, what: str = "model name") -> str:
    if not valid_name(value):
        raise UsageError(f"{what}: expected 1-128 letters, digits, '.', '_' or '-' starting with a "
                           f"letter or digit (no '/', '..', spaces or control characters), got {value!r}")
    return value


def safe_rel_path(rel) -> bool:
    """A manifest path that stays inside the version directory (and a download's destination):
    '/'-separated names, none empty, '.' or '..', no backslash or control character."""
    return (isinstance(rel, str) and not any(part in ("", ".", "..") for part in rel.split("/"))
            and not any(ch == "\\" or ord(ch) < 32 or ord(ch) == 127 for ch in rel))


SAFE_PATH = "a relative path of '/'-separated names (no empty, '.' or '..' part, no '\\' or control character)"
