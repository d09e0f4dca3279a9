"""What is served: a model version (its model.onnx, or its SavedModel, downloaded sha256-verified
into a cache; a runtime session, serve/runtimes.py; a batcher) and, per model name, a ModelHolder
that says which version answers now and, for NAME@ALIAS, follows the alias: the new version is
loaded in the background, swapped in between two requests, and the old one retires after answering
everything queued for it.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import TrainkitError
from ..fsutil import sha256_file
from ..registry.store import ModelRef, Registry
from .batcher import Batcher
from .protocol import ProtocolError, Signature
from .runtimes import RUNTIMES, Runtime, choose, open_session

log = logging.getLogger("trainkit.serve")


def default_threads(entry: dict) -> int:
    """ORT intra-op threads from the version's resource_configuration.cpu (at least 1, at most the host's CPUs)."""
    cpu = (entry.get("resource_configuration") or {}).get("cpu") or 1
    return max(1, min(os.cpu_count() or 1, round(float(cpu))))


def fetch(registry: Registry, name: str, version: int, cache_dir: Path,
          runtime: str = "auto", trust_model: bool = False) -> tuple[dict, Runtime, Path]:
    """The version's entry, the runtime that serves it (serve/runtimes.py) and a verified local copy
    of that runtime's artifact, reused when every file's sha256 matches the manifest. A SavedModel's
    graph is checked before anything loads it (registry/graphguard.py) unless `trust_model`."""
    entry = registry.entry(ModelRef(name, version))
    chosen = choose(entry, runtime)
    files = {k: v["sha256"] for k, v in entry["manifest"].items()
             if k == chosen.artifact or k.startswith(chosen.artifact + "/")}
    base = cache_dir / name / str(version)
    target = base / chosen.artifact
    if not all((base / rel).is_file() and sha256_file(base / rel) == digest for rel, digest in files.items()):
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=base))
        try:
            registry.download(name, version, tmp, chosen.artifact)   # verifies every sha256
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(tmp / chosen.artifact, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if chosen.name == "tensorflow" and not trust_model:
        from ..registry.graphguard import check_saved_model

        check_saved_model(target, f"{name}:{version} {chosen.artifact}")
    return entry, chosen, target


@dataclass
class ServedVersion:
    """One loaded model version. `start` gives it a batcher (inside the event loop)."""

    name: str
    version: int
    entry: dict
    signature: Signature
    session: object
    threads: int
    runtime: Runtime = RUNTIMES["onnx"]
    batcher: Batcher | None = field(default=None, repr=False)

    def run(self, feeds: dict) -> dict:
        """One blocking runtime call (in the batcher's worker thread)."""
        names = [t.name for t in self.signature.outputs]
        return dict(zip(names, self.session.run(names, feeds)))

    def start(self, max_batch: int, max_delay_ms: float, observe: Callable[[int, int], None] | None) -> None:
        rows = max_batch if self.signature.batched else 1   # unbatched signatures: one request per call
        self.batcher = Batcher(self.run, rows, max_delay_ms / 1000, observe, name=f"{self.name}-{self.version}")
        self.batcher.start()

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.close()


def load_version(registry: Registry, name: str, version: int, cache_dir: Path, threads: int | None,
                 runtime: str = "auto", trust_model: bool = False) -> ServedVersion:
    """Download, open, check against the registered signature and warm up one version (blocking)."""
    import numpy as np

    entry, chosen, path = fetch(registry, name, version, cache_dir, runtime, trust_model)
    try:
        signature = Signature.from_entry(entry["signature"])
    except (KeyError, TypeError, ValueError) as e:
        raise TrainkitError(f"{name}:{version}: unusable registered signature: {e}") from e
    n = threads or default_threads(entry)
    session = open_session(chosen, path, n, [t.name for t in signature.outputs])
    served = ServedVersion(name, version, entry, signature, session, n, chosen)
    have = sorted(i.name for i in served.session.get_inputs())
    if have != sorted(t.name for t in signature.inputs):
        raise TrainkitError(f"{name}:{version}: {chosen.artifact} inputs: expected the registered signature's "
                            f"{sorted(t.name for t in signature.inputs)}, got {have}")
    served.run({t.name: np.zeros([d or 1 for d in t.shape], t.dtype) for t in signature.inputs})  # warm-up
    return served


class ModelHolder:
    """Serves one model name: the version answering now and, for NAME@ALIAS, the alias follower."""

    def __init__(self, ref: ModelRef, current: ServedVersion):
        self.ref = ref
        self.current = current
        self.skipped: int | None = None   # a version that failed to load; retried once the alias moves on

    @property
    def name(self) -> str:
        return self.ref.name

    def describe(self) -> str:
        following = f" (following {self.ref})" if self.ref.alias else ""
        return f"{self.name}:{self.current.version}{following}"

    def serving(self, version: str | None = None) -> ServedVersion:
        """The version answering `version` (None: the current one); 404 for any other."""
        current = self.current
        if version is None or version == str(current.version):
            return current
        raise ProtocolError(404, f"model {self.name!r}: version {version!r} is not served (serving version "
                                 f"{current.version}{', following ' + str(self.ref) if self.ref.alias else ''})")

    async def switch_to(self, new: ServedVersion) -> ServedVersion:
        """Make `new` (started) answer from the next request on; retire the old version after its queue."""
        old, self.current = self.current, new
        await old.close()
        return old


async def alias_target(registry: Registry, ref: ModelRef) -> int | None:
    """The version the followed alias points at now (None when it is gone)."""
    aliases = await asyncio.to_thread(registry.aliases, ref.name)
    return aliases.get(ref.alias)


@dataclass(frozen=True)
class Lifecycle:
    """How versions come and go: `load` (blocking, run in a thread), `start` (in the event loop: give
    it a batcher), `reloaded` (report an alias switch: model name, success)."""

    load: Callable[[str, int], ServedVersion]
    start: Callable[[ServedVersion], None]
    reloaded: Callable[[str, bool], None] = lambda name, ok: None


async def follow_alias(holder: ModelHolder, registry: Registry, poll_s: float, life: Lifecycle) -> None:
    """Poll the alias every `poll_s`; when it moves, load that version in a thread and switch to it.
    A version that fails to load is not retried until the alias moves again."""
    problem = None
    while True:
        await asyncio.sleep(poll_s)
        try:
            target = await alias_target(registry, holder.ref)
            problem = _report(problem, None if target is not None else
                              f"{holder.ref}: the alias is gone; still serving {holder.describe()}")
        except Exception as e:  # noqa: BLE001 - a registry hiccup must not stop serving
            problem = _report(problem, f"{holder.ref}: cannot read the alias ({type(e).__name__}: {e})")
            continue
        if target is not None and target not in (holder.current.version, holder.skipped):
            await _load_and_switch(holder, target, life)


async def _load_and_switch(holder: ModelHolder, version: int, life: Lifecycle) -> None:
    log.info("%s moved to version %d: loading it", holder.ref, version)
    try:
        new = await asyncio.to_thread(life.load, holder.name, version)
    except Exception as e:  # noqa: BLE001 - keep serving the current version
        holder.skipped = version
        life.reloaded(holder.name, False)
        log.error("%s: cannot serve version %d, still serving %s: %s", holder.ref, version, holder.describe(), e)
        return
    holder.skipped = None
    life.start(new)
    old = await holder.switch_to(new)
    life.reloaded(holder.name, True)
    log.info("%s: switched from version %d to %d", holder.ref, old.version, new.version)


def _report(previous: str | None, problem: str | None) -> str | None:
    """Log a follower's problem once when it appears (not at every poll)."""
    if problem and problem != previous:
        log.warning(problem)
    return problem

