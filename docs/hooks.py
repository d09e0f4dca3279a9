"""mkdocs hook: the reference pages are generated from the code before every build (trainkit.docsgen)."""
from pathlib import Path


def on_pre_build(config, **kwargs):
    from trainkit.docsgen import write

    write(Path(config["docs_dir"]) / "reference")
