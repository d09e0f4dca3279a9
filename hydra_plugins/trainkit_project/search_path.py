"""Puts a trainkit project's `conf/` in front of trainkit's built-in configs (only for trainkit's
own app): project options join trainkit's groups, its experiments are found, and an option with a
built-in's name replaces it."""
from hydra.core.config_search_path import ConfigSearchPath, SearchPathQuery
from hydra.plugins.search_path_plugin import SearchPathPlugin


class TrainkitProjectSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from trainkit.launch.project import BUILTIN_CONF, overlay_dir

        if not any(e.provider == "main" and e.path == BUILTIN_CONF for e in search_path.get_path()):
            return
        conf = overlay_dir()
        if conf is not None:
            search_path.prepend("trainkit-project", f"file://{conf}", anchor=SearchPathQuery(provider="main"))
