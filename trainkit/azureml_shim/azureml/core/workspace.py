"""Azure ML SDK v1's `Workspace` over trainkit's workspace ($TRAINKIT_WORKSPACE, else ~/.trainkit).

Every Workspace object is that one local workspace: `from_config`, `get` and `create` differ only
in the name they report. `ws._tk` is the trainkit.Workspace (runs, sweeps, models, datasets).
`ws.models` and `ws.webservices` come from `azureml.core.model.models_of(ws)` and
`azureml.core.webservice.webservices_of(ws)` (the deployment side), imported when first asked.
The workspace is the bottom layer: what lies above it (Experiment) is found through the package's
names (`azureml.core.__getattr__`), so this module imports none of them."""
from __future__ import annotations

import json
from pathlib import Path

from .._tk import tk_workspace, unsupported

LOCATION = "local"        # where the workspace is: this machine
PLACEHOLDER = "local"     # subscription id and resource group: Azure-only, kept only as given
CONFIG_NAMES = ("config.json", ".azureml/config.json", "aml_config/config.json")


class Workspace:
    """The trainkit workspace, as Azure ML's Workspace."""

    def __init__(self, subscription_id: str | None = None, resource_group: str | None = None,
                 workspace_name: str | None = None, auth=None, _root: str | None = None, **kwargs):
        self._tk = tk_workspace(_root)
        self._name = workspace_name
        self.subscription_id = subscription_id or PLACEHOLDER
        self.resource_group = resource_group or PLACEHOLDER
        self.location = LOCATION

    @property
    def name(self) -> str:
        return self._name or self._tk.root.name.lstrip(".") or "trainkit"

    # ------------------------------------------------------------------ getting one
    @classmethod
    def _at(cls, root=None) -> "Workspace":
        """The workspace at `root` (a run's own, seen from its script); None: the default one."""
        return cls(_root=None if root is None else str(root))

    @classmethod
    def from_config(cls, path: str | None = None, auth=None, _logger=None, _file_name: str | None = None,
                    **kwargs) -> "Workspace":
        """The trainkit workspace; a config.json (here, in a parent, or at `path`) only names it."""
        found = find_config(path, _file_name)
        cfg = json.loads(found.read_text()) if found else {}
        if found:
            print(f"Found the config file in: {found}")
        return cls(cfg.get("subscription_id"), cfg.get("resource_group"), cfg.get("workspace_name"))

    @classmethod
    def get(cls, name: str, auth=None, subscription_id: str | None = None, resource_group: str | None = None,
            **kwargs) -> "Workspace":
        return cls(subscription_id, resource_group, name)

    @classmethod
    def create(cls, name: str, auth=None, subscription_id: str | None = None, resource_group: str | None = None,
               location: str | None = None, exist_ok: bool = True, **kwargs) -> "Workspace":
        """The trainkit workspace (created on first use); `location` is always local."""
        ws = cls(subscription_id, resource_group, name)
        ws._tk.root.mkdir(parents=True, exist_ok=True)
        return ws

    @staticmethod
    def list(subscription_id: str | None = None, auth=None, resource_group: str | None = None) -> dict:
        ws = Workspace()
        return {ws.name: [ws]}

    def write_config(self, path: str | None = None, file_name: str | None = None) -> None:
        """config.json naming this workspace (what from_config reads back)."""
        target = Path(path or ".") / ".azureml" / (file_name or "config.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"subscription_id": self.subscription_id, "resource_group":
                                      self.resource_group, "workspace_name": self.name}, indent=4))

    def get_details(self) -> dict:
        return {"name": self.name, "location": self.location, "subscriptionId": self.subscription_id,
                "resourceGroup": self.resource_group, "root": str(self._tk.root)}

    # ------------------------------------------------------------------ what it holds
    @property
    def experiments(self) -> dict:
        from . import Experiment   # the layers above the workspace, through the package's names

        root = self._tk.paths.experiments
        names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        return {n: Experiment(self, n) for n in names}

    @property
    def datasets(self) -> dict:
        from .dataset import registered

        return registered(self)

    @property
    def compute_targets(self) -> dict:
        from .compute import targets_of

        return targets_of(self)

    @property
    def environments(self) -> dict:
        from .environment import registered_environments

        return registered_environments(self)

    @property
    def datastores(self) -> dict:
        from .datastore import DEFAULT, Datastore, datastores

        return {n: Datastore(self, n) for n in dict.fromkeys([DEFAULT, *datastores(self)])}

    def get_default_datastore(self):
        from .datastore import Datastore

        return Datastore.get_default(self)

    @property
    def models(self) -> dict:
        """{name: Model} of the registry (the deployment side's `models_of`)."""
        return _hook("model", "models_of", "tk.Workspace().models()")(self)

    @property
    def webservices(self) -> dict:
        """{name: Webservice} of the deployments (the deployment side's `webservices_of`)."""
        return _hook("webservice", "webservices_of", "trainkit models serve")(self)

    def get_mlflow_tracking_uri(self):
        unsupported("Workspace.get_mlflow_tracking_uri", "a script's mlflow.log_* calls inside a trainkit run "
                    "(the run records its metrics); `trainkit runs show RUN`")

    def __repr__(self) -> str:
        return (f"Workspace.create(name='{self.name}', subscription_id='{self.subscription_id}', "
                f"resource_group='{self.resource_group}')")

    def __eq__(self, other) -> bool:
        return isinstance(other, Workspace) and other._tk.root == self._tk.root

    def __hash__(self) -> int:
        return hash(str(self._tk.root))


def find_config(path: str | None = None, file_name: str | None = None) -> Path | None:
    """Azure's search for config.json: `path` (a file or folder), else the working directory and its parents."""
    names = (file_name,) if file_name else CONFIG_NAMES
    if path and Path(path).is_file():
        return Path(path)
    start = Path(path or ".").resolve()
    for d in (start, *start.parents):
        for n in names:
            if (d / n).is_file():
                return d / n
    return None


def _hook(module: str, function: str, instead: str):
    """A function of azureml.core.<module> (the deployment side), or NotImplementedError naming `instead`."""
    from importlib import import_module

    try:
        return getattr(import_module(f"azureml.core.{module}"), function)
    except ModuleNotFoundError as e:
        if e.name != f"azureml.core.{module}":
            raise
        unsupported(f"Workspace.{module}s", instead)
