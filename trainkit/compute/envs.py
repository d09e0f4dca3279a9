"""Environments that are built, not just checked (Azure ML built an image from the environment spec
once, cached it by hash and reused it on every node).

An environment config with requirements (`environment.pip`, `requirements_file`) is built with uv
into `<workspace>/environments/<hash of the spec>/`: a virtual environment layered on the base
interpreter (the one with trainkit, TensorFlow and Horovod: a `.pth` adds the base's site-packages,
the env's own packages come first), the requirements installed into it, the resolved versions
frozen into `lock.txt`. Built once, under a lock, into a temporary directory renamed into place;
the same spec later is reused (nothing built), a changed spec builds a new environment and leaves
the old one. One shell recipe (BUILD) does it here, on the submit host for Slurm (a shared
filesystem), and on each ssh host (once per shared filesystem), with the uv binary shipped there.

Container images (`environment.image`) belong here later: `worker_command` is where an image would
prefix the worker's command (`apptainer exec IMAGE python ...`); they are not built yet."""
from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..errors import ConfigError, TrainkitError
from ..keras2_shim import is_keras2, requirement, wheel_glob

NO_DEPS = "::no-deps::"   # BUILD: the arguments after it are installed without dependencies
# Where scripts/setup.sh caches wheels (Horovod's, tf-keras's); TRAINKIT_WHEEL_CACHE overrides it
WHEEL_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "wheels"
TF_VERSION = ("import importlib.metadata as m; print(next((d.version for d in m.distributions() if "
              "(d.metadata['Name'] or '').lower().replace('_', '-') in ('tensorflow', 'tensorflow-cpu')), ''))")

BUILD = r"""
set -eu
root=$1; hash=$2; base=$3; uv=$4; spec=$5; shift 5
# index URLs with credentials come on stdin (never on a command line): UV_INDEX_URL, then UV_EXTRA_INDEX_URL
IFS= read -r UV_INDEX_URL || true; IFS= read -r UV_EXTRA_INDEX_URL || true
if [ -n "$UV_INDEX_URL" ]; then export UV_INDEX_URL; else unset UV_INDEX_URL; fi
if [ -n "$UV_EXTRA_INDEX_URL" ]; then export UV_EXTRA_INDEX_URL; else unset UV_EXTRA_INDEX_URL; fi
mkdir -p "$root" && cd "$root"
exec 9>"$hash.lock"
flock 9
if [ -f "$hash/ready.json" ]; then touch "$hash/ready.json"; echo "environment $hash: reused"; exit 0; fi
rm -rf "$hash.tmp" "$hash"    # without ready.json it is a leftover (a killed build or prune)
start=$(date +%s.%N)
"$uv" venv --quiet --python "$base" "$hash.tmp" >&2
base_site=$("$base" -c 'import site; print(site.getsitepackages()[0])')
env_site=$("$hash.tmp/bin/python" -c 'import site; print(site.getsitepackages()[0])')
echo "import site; site.addsitedir('$base_site')" > "$env_site/_trainkit_base.pth"
# "$@": uv pip install's arguments, then (after ::no-deps::) those of an install without dependencies
# (environment.keras "2": tf-keras, whose `tensorflow` requirement the base's tensorflow-cpu satisfies)
main=(); nodeps=(); into=main
for a in "$@"; do
  if [ "$a" = "::no-deps::" ]; then into=nodeps; elif [ "$into" = main ]; then main+=("$a"); else nodeps+=("$a"); fi
done
if [ "${#main[@]}" -gt 0 ]; then "$uv" pip install --quiet --python "$hash.tmp/bin/python" "${main[@]}" >&2; fi
if [ "${#nodeps[@]}" -gt 0 ]; then "$uv" pip install --quiet --no-deps --python "$hash.tmp/bin/python" "${nodeps[@]}" >&2; fi
"$uv" pip freeze --python "$hash.tmp/bin/python" > "$hash.tmp/lock.txt"
printf '%s\n' "$spec" > "$hash.tmp/spec.json"
printf '{"started": %s, "built": %s, "base": "%s"}\n' "$start" "$(date +%s.%N)" "$base" > "$hash.tmp/ready.json"
mv "$hash.tmp" "$hash"
echo "environment $hash: built"
"""


def wanted(env_cfg: dict) -> bool:
    """Whether this environment config asks for a built environment."""
    return bool(env_cfg.get("pip") or env_cfg.get("requirements_file") or is_keras2(env_cfg))


def requirement_lines(path: str | Path) -> list[str]:
    """A requirements file's requirement lines (comments and blank lines dropped)."""
    text = Path(path).expanduser().read_text()
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def redact(url: str | None) -> str | None:
    """A URL without its credentials (`https://user:token@host/simple` -> `https://***@host/simple`)."""
    from urllib.parse import urlsplit, urlunsplit

    if not url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def redacted_config(env_cfg: dict) -> dict:
    """The environment config as it may be written down (config.yaml): index URLs without credentials."""
    return {**env_cfg, "index_url": redact(env_cfg.get("index_url")),
            "extra_index_urls": [redact(u) for u in env_cfg.get("extra_index_urls") or []]}


def without_credentials(cfg: dict, overrides: list[str]) -> tuple[dict, list[str]]:
    """The job's config and overrides as they are written down (config.yaml, spec.json,
    status.json, overrides.yaml), once the environment is built: URLs without credentials."""
    return {**cfg, "environment": redacted_config(cfg["environment"])}, [hide_credentials(o) for o in overrides]


def hide_credentials(text: str) -> str:
    """Every `scheme://user:secret@` in free text (an override, a requirements line) as `scheme://***@`."""
    import re

    return re.sub(r"(://)[^/@\s'\",\]]+@", r"\1***@", text)


def interpreter_id(base: str, version: str | None = None) -> str:
    """What a base interpreter is known by in the spec: its path and full version (an environment
    layered on one Python is never reused for another)."""
    if version is None:
        if Path(base).resolve() == Path(sys.executable).resolve() or base == sys.executable:
            version = sys.version.split()[0]
        else:
            res = subprocess.run([base, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
                                 text=True, timeout=60)
            version = res.stdout.strip() or "unknown"
    return f"{base} ({version})"


def spec_of(env_cfg: dict, interpreter: str | None = None, tensorflow: str | None = None) -> dict:
    """What the environment is made of (a requirements file by its lines, the base interpreter as
    `interpreter_id`; index URLs without their credentials; with environment.keras "2", `keras` and
    tf-keras pinned to `tensorflow`, the base's version): the hash covers this, spec.json and
    environment.json record it. (Keras 3 specs have no `keras` key: their hashes stay as they were.)"""
    lines = list(env_cfg.get("pip") or [])
    if env_cfg.get("requirements_file"):
        lines += requirement_lines(env_cfg["requirements_file"])
    clean = redacted_config(env_cfg)
    spec = {"python": env_cfg.get("python"), "requirements": lines, "index_url": clean["index_url"],
            "extra_index_urls": clean["extra_index_urls"],
            "find_links": list(env_cfg.get("find_links") or []), "no_index": bool(env_cfg.get("no_index")),
            "base": env_cfg.get("base") or "trainkit", "interpreter": interpreter}
    if is_keras2(env_cfg):
        if not tensorflow:
            raise ConfigError([f"environment.keras: '2' installs the tf-keras of the base interpreter's TensorFlow; "
                               f"expected TensorFlow installed in {interpreter or 'the base interpreter'}, found none"])
        spec.update(keras="2", no_deps=[requirement(tensorflow)])
    return spec


def tensorflow_version(base: str) -> str:
    """The TensorFlow version installed for a base interpreter ('' if none), from package metadata."""
    if Path(base).resolve() == Path(sys.executable).resolve():
        from importlib import metadata

        for name in ("tensorflow", "tensorflow-cpu"):
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                pass
        return ""
    res = subprocess.run([base, "-c", TF_VERSION], capture_output=True, text=True, timeout=60)
    return res.stdout.strip()


def wheel_cache(spec: dict) -> str | None:
    """The local wheel directory (TRAINKIT_WHEEL_CACHE, else the checkout's .cache/wheels, filled by
    scripts/setup.sh) when it holds a wheel for the spec's no-dependency requirement: then that
    install needs no index (offline)."""
    import os

    if not spec.get("no_deps"):
        return None
    cache = Path(os.environ.get("TRAINKIT_WHEEL_CACHE") or WHEEL_CACHE)
    return str(cache) if cache.is_dir() and any(cache.glob(wheel_glob(spec["no_deps"][0]))) else None


def index_secrets(env_cfg: dict) -> str:
    """The index URLs as uv reads them from its environment (UV_INDEX_URL, UV_EXTRA_INDEX_URL),
    one a line: what BUILD reads on stdin."""
    return f"{env_cfg.get('index_url') or ''}\n{' '.join(env_cfg.get('extra_index_urls') or [])}\n"


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def index_args(spec: dict, find_links: list[str] | None = None) -> list[str]:
    """uv pip install's index options (the index URLs come through uv's environment, see
    index_secrets); `find_links`: where the spec's wheel directories are on the building machine."""
    args = ["--no-index"] if spec.get("no_index") else []
    for link in spec["find_links"] if find_links is None else find_links:
        args += ["--find-links", link]
    return args


def install_args(spec: dict, find_links: list[str] | None = None, wheels: str | None = None) -> list[str]:
    """BUILD's arguments: the requirements with the index options, then (NO_DEPS) the no-dependency
    requirements, offline from the local wheel directory `wheels` when given, else like the others."""
    args = index_args(spec, find_links) + spec["requirements"] if spec["requirements"] else []
    if spec.get("no_deps"):
        source = ["--offline", "--find-links", wheels] if wheels else index_args(spec, find_links)
        args += [NO_DEPS, *source, *spec["no_deps"]]
    return args


def uv_binary() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(found).exists():
        raise TrainkitError("environment: uv is not installed (pip install uv); trainkit builds environments with it")
    return found


def build_command(root: str, spec: dict, base: str, uv: str, find_links: list[str] | None = None,
                  wheels: str | None = None) -> list[str]:
    """The build as a command; `find_links`: where the spec's wheel directories are on that machine,
    `wheels`: a local wheel directory for the no-dependency requirements (the environment keeps the
    spec's own hash)."""
    args = install_args(spec, find_links, wheels)
    return ["bash", "-c", BUILD, "build", root, spec_hash(spec), base, uv, json.dumps(spec, sort_keys=True), *args]


def explain_failure(spec: dict, output: str, where: str) -> TrainkitError:
    """A failed build as a config error naming the requirement(s) uv complained about (tf-keras:
    environment.keras's)."""
    def named(reqs):
        return [r for r in reqs if r.split("=")[0].split("~")[0].split("<")[0].split(">")[0].split("[")[0].strip() in output]

    pip, keras = named(spec["requirements"]), named(spec.get("no_deps") or [])
    what = f"requirement(s) {', '.join(repr(r) for r in pip or keras)}" if pip or keras else "the environment"
    lines = [ln.strip(" ×╰─▶│") for ln in output.splitlines() if ln.strip()][-4:]
    key = "environment.keras" if keras and not pip else "environment.pip"
    return ConfigError([f"{key}: building {what} failed{where}: {' / '.join(lines)}"])


def build_here(root: Path, env_cfg: dict, base: str | None = None, echo=print) -> dict:
    """Build (or reuse) the environment under root on this machine; returns its record."""
    base = base or sys.executable
    spec = spec_of(env_cfg, interpreter_id(base), tensorflow_version(base) if is_keras2(env_cfg) else None)
    t0 = time.time()
    res = subprocess.run(build_command(str(root), spec, base, uv_binary(), wheels=wheel_cache(spec)),
                         capture_output=True, text=True, input=index_secrets(env_cfg))
    if res.returncode != 0:
        raise explain_failure(spec, res.stderr + res.stdout, "")
    seconds = time.time() - t0
    echo(res.stdout.strip().splitlines()[-1] + f" ({seconds:.1f} s)")
    return {**record(root / spec_hash(spec), spec), "reused": "reused" in res.stdout, "this_run_s": round(seconds, 2)}


def record(env_dir: Path, spec: dict) -> dict:
    """What a run records of its built environment (environment.json)."""
    ready = json.loads((env_dir / "ready.json").read_text())
    return {"hash": spec_hash(spec), "spec": spec, "path": str(env_dir), "python": str(env_dir / "bin" / "python"),
            "lock": (env_dir / "lock.txt").read_text().splitlines(), "built": ready["built"],
            "build_time_s": round(ready["built"] - ready["started"], 2)}


def worker_command(python: str) -> list[str]:
    """How a worker process starts. A future `environment.image` prefixes this (not built yet)."""
    return [python]


def listing(root: Path) -> list[dict]:
    """Built environments under root, newest use last."""
    out = []
    for d in sorted(root.glob("*/ready.json")) if root.is_dir() else []:
        env = d.parent
        ready = json.loads(d.read_text())
        lock = (env / "lock.txt").read_text().splitlines() if (env / "lock.txt").exists() else []
        out.append({"hash": env.name, "path": str(env), "built": ready["built"], "last_used": d.stat().st_mtime,
                    "build_time_s": round(ready["built"] - ready["started"], 2), "base": ready["base"],
                    "packages": len(lock)})
    return sorted(out, key=lambda e: e["last_used"])


def prune(root: Path, older_than_days: float, dry_run: bool = False) -> list[str]:
    """Remove environments not used for that long (under their lock: never one being built or used)."""
    import fcntl

    removed = []
    for env in listing(root):
        if time.time() - env["last_used"] < older_than_days * 86400:
            continue
        with open(root / f"{env['hash']}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not dry_run:   # ready.json first: a prune killed midway leaves a leftover, never a broken "ready" env
                (Path(env["path"]) / "ready.json").unlink(missing_ok=True)
                shutil.rmtree(env["path"], ignore_errors=True)
        removed.append(env["hash"])
    return removed


def remote_build(host, workdir: str, env_cfg: dict, base: str) -> tuple[dict, str]:
    """Build (or reuse) the environment on an ssh host, with the uv binary shipped to
    <workdir>/bin/uv; returns its spec and the environment's interpreter there."""
    version = host.run(f"{shlex.quote(base)} -c 'import sys; print(sys.version.split()[0])'").stdout.strip()
    tensorflow = host.run(f"{shlex.quote(base)} -c {shlex.quote(TF_VERSION)}").stdout.strip() if is_keras2(env_cfg) else None
    spec = spec_of(env_cfg, interpreter_id(base, version or "unknown"), tensorflow)
    uv = f"{workdir}/bin/uv"
    host.run(f"mkdir -p {shlex.quote(workdir + '/bin')} {shlex.quote(workdir + '/find-links')}")
    host.rsync(uv_binary(), uv, delete=False)
    shipped, wheels = ship_wheels(host, workdir, spec)
    root = f"{workdir}/environments"
    script = " ".join(shlex.quote(a) for a in build_command(root, spec, base, uv, shipped, wheels))
    res = host.run(script, timeout=3600, stdin=index_secrets(env_cfg))
    if res.returncode != 0:
        raise explain_failure(spec, res.stderr + res.stdout, f" on host {host.label}")
    print(f"host {host.label}: {res.stdout.strip().splitlines()[-1]}", flush=True)
    return spec, f"{root}/{spec_hash(spec)}/bin/python"


def ship_wheels(host, workdir: str, spec: dict) -> tuple[list[str], str | None]:
    """Local wheel directories (find_links, and the wheel cache for tf-keras) copied to the host:
    where the build finds them there."""
    shipped = []
    for i, link in enumerate(spec["find_links"]):
        local = Path(link).expanduser()
        if "://" not in link and local.is_dir():
            host.rsync(f"{local}/", f"{workdir}/find-links/{i}/", delete=False)
            link = f"{workdir}/find-links/{i}"
        shipped.append(link)
    cache = wheel_cache(spec)
    if cache is None:
        return shipped, None
    there = f"{workdir}/find-links/wheel-cache"
    host.run(f"mkdir -p {shlex.quote(there)}")
    for wheel in Path(cache).glob(wheel_glob(spec["no_deps"][0])):
        host.rsync(str(wheel), f"{there}/{wheel.name}", delete=False)
    return shipped, there
