"""Datasets: `Dataset.File.from_files(path=[urls])` (+ `.register(name=...)`) and the Tabular
factories become `conf/dataset/NAME.yaml`; `Dataset.get_by_name(ws, name[, version])` is the
dataset defined elsewhere in the project (`dataset=NAME dataset.version=N`), a stub only when no
definition exists anywhere; datastore uploads become local sources."""
from __future__ import annotations

import os

from ..values import Sdk
from . import Migration, slug

IDX_ROLES = (("train-images", "train_images"), ("train-labels", "train_labels"), ("t10k-images", "test_images"),
             ("t10k-labels", "test_labels"), ("test-images", "test_images"), ("test-labels", "test_labels"))
DEFINERS = ("Dataset.File.from_files", "Dataset.Tabular.from_delimited_files", "Dataset.Tabular.from_parquet_files",
            "Dataset.Tabular.from_json_lines_files")


def emit(m: Migration) -> None:
    m.each([s for s in m.of(*DEFINERS) if not s.parent], define)
    m.each(m.of("Dataset.get_by_name", "Dataset.get"), by_name)
    for sdk in m.of("Datastore.upload", "Datastore.upload_files"):
        m.mark(sdk, "the uploaded folder is read in place: it is the dataset's `file://` source (see the dataset config)")
    for sdk in m.of("Dataset.download", "Dataset.mount"):
        name = dataset_of(m, sdk.root())
        m.mark(sdk, f"`trainkit datasets show {name[0] if name else 'NAME'}`: the verified files are in the workspace "
                    "cache; a run gets them in ${dataset.path}")


def registered_name(m: Migration, root: Sdk) -> tuple[str | None, Sdk | None]:
    for reg in m.of("Dataset.register"):
        if reg.parent is not None and reg.parent.root() is root:
            name = reg.arg("name", 1)
            return (name if isinstance(name, str) else None), reg
    return None, None


def define(m: Migration, root: Sdk) -> str:
    name, reg = registered_name(m, root)
    paths = root.arg("path", 0)
    paths = paths if isinstance(paths, list) and not (len(paths) == 2 and isinstance(paths[0], Sdk)) else [paths]
    urls, notes = sources_of(m, paths, root)
    option = m.unique("dataset", name or root.var or "dataset", repr(sorted(urls)), root.where)
    m.remember("dataset", root, (option, None))
    m.made.setdefault("registered", {}).setdefault(slug(name or option), option)
    rel = f"conf/dataset/{option}.yaml"
    data, fmt_note = config(m, option, urls, root, reg)
    m.project.yaml(rel, [f"Migrated from {root.where} ({root.name}).", *notes, *([fmt_note] if fmt_note else [])], data)
    for n in [*notes, *([fmt_note] if fmt_note else [])]:
        m.project.note(f"{rel}: {n}")
    if not urls:
        m.unmapped(root, f"{root.name}: its paths are not literal strings or known uploads: {rel} lists no files")
    else:
        m.mark(root, f"{rel}: sources {data['sources']}, {len(data['files'])} file(s), format {data['format']} "
                     "(sha256 recorded on first fetch)")
    if reg is not None:
        m.mark(reg, f"dataset registration: {rel} (name {option}); versioned by content with "
                    f"`trainkit datasets register {option}`")
        m.project.commands.append(_register_command(option))
    return option


def _register_command(option: str):
    from . import Command

    return Command("data", f"trainkit datasets register {option}", "fetch, verify and version the dataset once")


def sources_of(m: Migration, paths: list, root: Sdk) -> tuple[list[str], list[str]]:
    """URLs of a dataset's paths: web URLs as written; datastore paths through the folder uploaded there."""
    urls, notes = [], []
    for p in paths:
        if isinstance(p, str):
            urls.append(p)
        elif isinstance(p, list) and len(p) == 2 and isinstance(p[0], Sdk) and isinstance(p[1], str):
            local = uploaded(m, p[1])
            if local:
                tree = m.files.tree(local, root.where)
                urls += [made.url or "file://" + os.path.join(local, rel) for rel, made in sorted(tree.items())]
                downloaded = any(made.url for made in tree.values())
                notes.append(f"datastore path {p[1]!r}: " + ("the files the notebook downloaded into the folder it "
                             "uploaded there (their URLs are the sources)" if downloaded else
                             f"the folder uploaded there, {local}, is the source"))
            else:
                notes.append(f"datastore path {p[1]!r}: no upload of it was found: put its files somewhere trainkit "
                             "can read (a folder, http(s), s3://...) and list that in sources")
    return urls, notes


def uploaded(m: Migration, target: str) -> str | None:
    """The local folder a notebook uploaded to datastore path `target` (inside the folders given)."""
    want = target.strip("/").rstrip("*").strip("/")
    for up in m.of("Datastore.upload"):
        src, dst = up.arg("src_dir", 0), up.arg("target_path", 1)
        if isinstance(src, str) and isinstance(dst, str) and dst.strip("/") == want:
            path = m.files.absolute(src, up.home)
            if m.files.exists(path) and (path in m.files.dirs or m.files.readable(path, up.where) is not None):
                return path
    return None


def config(m: Migration, option: str, urls: list[str], root: Sdk, reg: Sdk | None) -> tuple[dict, str | None]:
    source = common_folder(urls)
    files, fmt = file_entries(urls, source, tabular=root.name.startswith("Dataset.Tabular"))
    sources = [mirror for prefix, mirror in m.opts.mirrors.items() if source.startswith(prefix)] + ([source] if source else [])
    description = (reg.arg("description", 2) if reg is not None else None)
    data = {"defaults": ["base_dataset", "_self_"], "name": option,
            "description": description if isinstance(description, str) else f"migrated from {root.where}",
            "format": fmt, "sources": sources, "files": files}
    note = None
    if fmt == "idx":
        data["num_classes"] = 10   # the MNIST-format digits and fashion items of the samples
    if fmt == "custom":
        data["loader"] = "TODO:module:function"
        note = (f"the format could not be told from the file names {[u.rsplit('/', 1)[-1] for u in urls[:3]]}: "
                "`format: custom` with a loader to write (or set the format)")
    if fmt in ("csv", "parquet"):
        data["label"] = "TODO"
        note = "a tabular dataset: set `label` to the label column (and `features`, or all other columns are used)"
    return data, note


def by_name(m: Migration, sdk: Sdk) -> None:
    name, version = sdk.arg("name", 1), sdk.arg("version", 2)
    version = version if isinstance(version, int) and not isinstance(version, bool) else None
    found = m.made.get("registered", {}).get(slug(name)) if isinstance(name, str) else None
    option = found or stub(m, sdk, name)
    m.remember("dataset", sdk, (option, version))
    pin = f" dataset.version={version}" if version else ""
    m.mark(sdk, f"dataset={option}{pin} (conf/dataset/{option}.yaml" + (")" if found else ", a stub to fill)"))


def stub(m: Migration, sdk: Sdk, name) -> str:
    option = slug(name if isinstance(name, str) else sdk.var or "dataset")
    rel = f"conf/dataset/{option}.yaml"
    if rel not in m.project.files:
        m.names.setdefault("dataset", {})[option] = "stub"
        m.project.yaml(rel, [f"Dataset.get_by_name({option!r}) at {sdk.where}: no definition of it in the files given.",
                             "TODO: list where its files are (sources) and which files (files), or pass the notebook "
                             "that registers it to `trainkit migrate` too."],
                       {"defaults": ["base_dataset", "_self_"], "name": option, "format": "idx",
                        "sources": [], "files": []})
        m.unmapped(sdk, f"{rel}: the dataset was registered outside these files: its sources and files are TODO "
                        "(or migrate the notebook that registers it together with this one)")
    return option


def dataset_of(m: Migration, sdk) -> tuple[str, int | None] | None:
    """(option, pinned version) of a dataset object (a definition or a get_by_name)."""
    if not isinstance(sdk, Sdk):
        return None
    return m.recall("dataset", sdk.root())


def common_folder(urls: list[str]) -> str:
    """The folder every URL is in (with a trailing '/')."""
    if not urls:
        return ""
    folders = [u.rsplit("/", 1)[0] + "/" for u in urls]
    common = folders[0]
    for f in folders[1:]:
        while not f.startswith(common) and common.count("/") > 3:
            common = common.rstrip("/").rsplit("/", 1)[0] + "/"
    return common


def file_entries(urls: list[str], source: str, tabular: bool = False) -> tuple[list[dict], str]:
    """The dataset's file entries and its format, told from the file names."""
    names = [u[len(source):] or os.path.basename(u.rstrip("/")) + "/" for u in urls]
    lower = [n.lower() for n in names]
    if lower and all("idx" in n and n.endswith(".gz") or "ubyte" in n for n in lower):
        files = [{"name": n, "sha256": None, "role": next((r for key, r in IDX_ROLES if key in n.lower()), "TODO")}
                 for n in names]
        return files, "idx"
    for suffix, fmt in ((".csv", "csv"), (".parquet", "parquet"), (".tfrecord", "tfrecord"), (".npz", "npz")):
        if lower and all(n.endswith(suffix) for n in lower):
            return [{"name": n, "sha256": None, "role": "test" if "test" in n else "train"} for n in names], fmt
    if tabular:
        return [{"name": n, "sha256": None, "role": "train"} for n in names], "csv"
    if lower and all(n.endswith("/") for n in lower):
        return [{"name": n, "sha256": None, "role": "test" if "test" in n else "train"} for n in names], "image_folder"
    return [{"name": n, "sha256": None, "role": "data"} for n in names], "custom"
