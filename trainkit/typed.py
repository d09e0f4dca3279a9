"""Plain dicts (resolved configs, JSON) as the schema's dataclasses, without Hydra or omegaconf."""
from __future__ import annotations

import dataclasses
import typing
from typing import Any

MISSING = "???"   # omegaconf.MISSING: a value the config must set (spelled out so workers need no omegaconf)


def from_dict(schema: type, data: dict) -> Any:
    """A validated plain dict as the schema's dataclass (nested dataclasses and lists of them too)."""
    hints = typing.get_type_hints(schema)
    return schema(**{f.name: _as_type(hints[f.name], data[f.name])
                     for f in dataclasses.fields(schema) if f.name in data})


def _as_type(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:
        return _as_type(next(a for a in args if a is not type(None)), value)
    if origin is list and args and dataclasses.is_dataclass(args[0]):
        return [from_dict(args[0], v) for v in value]
    return value
