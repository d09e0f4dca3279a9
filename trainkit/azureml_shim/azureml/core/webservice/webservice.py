"""Azure ML SDK v1's `Webservice`: a `trainkit models serve --score` process on 127.0.0.1, known by a
record in the workspace (`<workspace>/webservices/<name>.json`: pid, port, key file, models, log),
so that `Webservice(ws, name)` in another kernel finds it. Its state is read from the process and
the server's /v2/health/ready: Transitioning (starting), Healthy, Unhealthy (the score worker
cannot start), Failed (the process ended; `get_logs()` and `error` say why)."""
from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..._tk import tk_workspace, unsupported
from ...exceptions import WebserviceException

NAME = re.compile(r"[a-z][a-z0-9-]{1,30}[a-z0-9]")   # Azure's service names: 3-32 characters
LISTENING = re.compile(r" on http://127\.0\.0\.1:(\d+) ")
STOP_WAIT_S = 60.0   # delete(): how long the server may take to drain and exit before it is killed
UNSUPPORTED = {   # Azure Webservice methods trainkit does not have -> what to do instead
    "update": "Model.deploy(ws, name, models, inference_config, overwrite=True) with the new models or score.py",
    "regen_key": "write new keys into the service's key file and deploy again (the server reads them at start)",
    "get_token": "key authentication: auth_enabled=True and service.get_keys()",
    "get_access_token": "key authentication: auth_enabled=True and service.get_keys()",
    "reload": "Model.deploy(..., overwrite=True): the service starts again with the current score.py",
    "add_tags": "tags given to deploy_configuration(tags=...)",
    "add_properties": "properties given to deploy_configuration(properties=...)",
    "remove_tags": "tags given to deploy_configuration(tags=...)",
}


def records_dir(workspace) -> Path:
    return (workspace._tk if workspace is not None else tk_workspace()).root / "webservices"


def read_record(workspace, name: str) -> dict | None:
    try:
        return json.loads((records_dir(workspace) / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def write_record(workspace, record: dict) -> None:
    from trainkit.fsutil import atomic_write_json

    atomic_write_json(records_dir(workspace) / f"{record['name']}.json", record)


def alive(pid: int | None, identity: str | None) -> bool:
    """Whether the server process still runs (reaped first when this kernel started it)."""
    from trainkit.records.runs import pid_alive

    if not pid:
        return False
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    return pid_alive(pid, None, identity)


class Webservice:
    """A deployed service: `Webservice(ws, name)` finds an existing one (an AciWebservice or
    LocalWebservice as it was deployed)."""

    _compute_type = ""
    _types: dict[str, type] = {}   # compute_type -> the subclass (AciWebservice, LocalWebservice)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Webservice._types[cls._compute_type] = cls

    def __new__(cls, workspace=None, name: str | None = None, *args, **kwargs):
        if cls is Webservice and name is not None:
            record = read_record(workspace, name) or {}
            cls = Webservice._types.get(record.get("compute_type"), cls)
        return super().__new__(cls)

    def __init__(self, workspace, name: str):
        record = read_record(workspace, name)
        if record is None:
            known = sorted(p.stem for p in records_dir(workspace).glob("*.json")) if records_dir(workspace).is_dir() else []
            raise WebserviceException(f"WebserviceNotFound: no service named {name!r} in this workspace (services: "
                                      f"{', '.join(known) or 'none'})")
        self.workspace, self.name, self._record = workspace, name, record

    # ------------------------------------------------------------------ what it is
    compute_type = property(lambda self: self._record.get("compute_type"))
    tags = property(lambda self: dict(self._record.get("tags") or {}))
    properties = property(lambda self: dict(self._record.get("properties") or {}))
    description = property(lambda self: self._record.get("description"))
    auth_enabled = property(lambda self: bool(self._record.get("key_file")))
    swagger_uri = property(lambda self: None)
    image_id = property(lambda self: None)

    @property
    def created_time(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._record["created"], datetime.timezone.utc)

    @property
    def model_ids(self) -> list[str]:
        """NAME:VERSION of each served model (`Model(ws, id=...)` gives the Model)."""
        return list(self._record.get("models", []))

    @property
    def port(self) -> int | None:
        """The port the server listens on: from the record, else from its log once it says so."""
        if not self._record.get("port"):
            found = LISTENING.search(self._log_text())
            if found:
                self._record["port"] = int(found.group(1))
                write_record(self.workspace, self._record)
        return self._record.get("port")

    @property
    def scoring_uri(self) -> str | None:
        return f"http://127.0.0.1:{self.port}/score" if self.port else None

    @property
    def state(self) -> str:
        """Transitioning | Healthy | Unhealthy | Failed (| Deleted)."""
        if self._record.get("state") == "Deleted":
            return "Deleted"
        if not alive(self._record.get("pid"), self._record.get("pid_id")):
            return "Failed"
        if not self.port:
            return "Transitioning"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/health/ready", timeout=5):
                return "Healthy"
        except urllib.error.HTTPError:
            return "Unhealthy"
        except OSError:
            return "Transitioning"

    @property
    def error(self) -> dict | None:
        """Why a Failed service failed: its log's last lines."""
        if self.state != "Failed":
            return None
        return {"code": "ServiceFailed", "message": "the server process ended; its log ends with:\n"
                + self.get_logs(num_lines=20)}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(workspace={self.workspace!r}, name={self.name}, "
                f"scoring_uri={self.scoring_uri}, state={self.state})")

    # ------------------------------------------------------------------ using it
    def wait_for_deployment(self, show_output: bool = False, timeout_sec: float | None = None) -> None:
        """Wait until the service is Healthy; WebserviceException with the log's end when it fails."""
        deadline = time.monotonic() + (timeout_sec or self._record.get("deploy_timeout_s", 1800))
        state = self.state
        while state == "Transitioning" and time.monotonic() < deadline:
            if show_output:
                print(".", end="", flush=True)
            time.sleep(1.0)
            state = self.state
        if show_output:
            print(f"\nService {self.name}: {state}" + (f" at {self.scoring_uri}" if state == "Healthy" else ""))
        if state != "Healthy":
            raise WebserviceException(f"Service {self.name!r} did not become Healthy (state {state}); the end of its "
                                      f"log (service.get_logs()):\n{self.get_logs(num_lines=30)}")

    def run(self, input_data) -> object:
        """POST `input_data` (JSON text, or a value sent as JSON) to /score; run()'s answer, parsed."""
        if self.state == "Transitioning":
            self.wait_for_deployment()
        data = input_data.encode() if isinstance(input_data, str) else input_data if isinstance(
            input_data, bytes) else json.dumps(input_data).encode()
        headers = {"Content-Type": "application/json"}
        if self.auth_enabled:
            headers["Authorization"] = f"Bearer {self.get_keys()[0]}"
        request = urllib.request.Request(self.scoring_uri or "", data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._record.get("request_timeout_s", 90)) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise WebserviceException(f"Service {self.name!r} answered {e.code}: {e.read().decode(errors='replace')} "
                                      "(service.get_logs() has the details)") from None
        except OSError as e:
            raise WebserviceException(f"Service {self.name!r} at {self.scoring_uri}: no answer ({e}); state "
                                      f"{self.state}") from None

    def get_logs(self, num_lines: int = 5000, init: bool = False) -> str:
        """The server's log (its score worker's output included), its last `num_lines` lines."""
        return "\n".join(self._log_text().splitlines()[-num_lines:])

    def get_keys(self) -> tuple[str, str | None]:
        """(primary, secondary) key of a service deployed with auth_enabled=True."""
        if not self.auth_enabled:
            raise WebserviceException(f"Service {self.name!r}: authentication is not enabled (deploy with "
                                      "deploy_configuration(auth_enabled=True))")
        from trainkit.serve.auth import read_keys

        keys = read_keys(Path(self._record["key_file"]))
        return keys[0], keys[1] if len(keys) > 1 else None

    def delete(self) -> None:
        """Stop the server (SIGTERM: it drains, then stops its score worker) and remove the record."""
        pid = self._record.get("pid")
        if alive(pid, self._record.get("pid_id")):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_WAIT_S
            while alive(pid, self._record.get("pid_id")) and time.monotonic() < deadline:
                time.sleep(0.1)
            if alive(pid, self._record.get("pid_id")):
                os.killpg(pid, signal.SIGKILL)
        folder = records_dir(self.workspace)
        for suffix in (".json", ".key"):
            (folder / f"{self.name}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(folder / self.name, ignore_errors=True)   # the source snapshot (the log stays)
        self._record["state"] = "Deleted"

    def serialize(self) -> dict:
        return {**self._record, "scoringUri": self.scoring_uri, "state": self.state}

    @staticmethod
    def list(workspace, compute_type: str | None = None, model_name: str | None = None, tags=None, **kwargs) -> list:
        """The workspace's services (an ACI or Local type, a served model name, tags: filters)."""
        folder = records_dir(workspace)
        names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        services = [Webservice(workspace, n) for n in names]
        wanted_tags = list(tags) if isinstance(tags, dict) else [t if isinstance(t, str) else t[0] for t in tags or ()]
        return [s for s in services if (not compute_type or s.compute_type == compute_type)
                and (not model_name or model_name in [ref.split(":")[0] for ref in s._record.get("models", [])])
                and all(k in s.tags for k in wanted_tags)]

    def _log_text(self) -> str:
        try:
            return Path(self._record["log"]).read_text(errors="replace")
        except (OSError, KeyError):
            return ""


def _refusal(name: str, instead: str):
    def refuse(self, *args, **kwargs):
        unsupported(f"Webservice.{name}", instead)

    refuse.__name__, refuse.__doc__ = name, f"Not supported; instead: {instead}."
    return refuse


for _name, _instead in UNSUPPORTED.items():
    setattr(Webservice, _name, _refusal(_name, _instead))


def webservices_of(workspace) -> dict:
    """`ws.webservices`: {name: Webservice} of the recorded services."""
    return {s.name: s for s in Webservice.list(workspace)}
