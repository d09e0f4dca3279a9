"""Azure ML SDK v1's deployment surface on trainkit (`azureml.core.model`, `azureml.core.webservice`):
Model.register of files, get_model_path, download, Model.deploy starting a real `trainkit models
serve --score` process, the service's state, run, keys, logs and delete, from this process and from
another one. No TensorFlow: the model is a JSON file of weights."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from trainkit.shimpath import PATH as SHIM

WEIGHTS = {"w": [2.0, -1.0], "b": 1.0}
SCORE = '''import json, os
from azureml.core.model import Model

def init():
    global W
    W = json.load(open(os.path.join(Model.get_model_path("tiny"), "weights.json")))
    INIT

def run(raw_data):
    rows = json.loads(raw_data)["data"]
    return {"predictions": [sum(w * x for w, x in zip(W["w"], r)) + W["b"] for r in rows]}
'''


@pytest.fixture
def v1(tmp_path, monkeypatch):
    """The azureml stand-in importable, a fresh workspace, a model folder and a score.py in the cwd."""
    monkeypatch.syspath_prepend(str(SHIM))
    monkeypatch.setenv("TRAINKIT_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.delenv("AZUREML_MODEL_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs" / "model").mkdir(parents=True)
    (tmp_path / "outputs" / "model" / "weights.json").write_text(json.dumps(WEIGHTS))
    (tmp_path / "score.py").write_text(SCORE.replace("INIT", "pass"))
    from azureml.core import Workspace

    ws = Workspace.from_config()
    yield ws
    from azureml.core.webservice import Webservice

    for service in Webservice.list(ws):
        service.delete()


def pid_gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_model_register_get_download_and_filters(v1, tmp_path):
    from azureml.core.model import Model
    from azureml.exceptions import WebserviceException

    first = Model.register(v1, model_path="outputs/model", model_name="tiny", tags={"stage": "dev"},
                           description="two weights")
    (tmp_path / "outputs" / "model" / "weights.json").write_text(json.dumps({**WEIGHTS, "b": 5.0}))
    second = Model.register(workspace=v1, model_path="outputs/model", model_name="tiny", tags={"stage": "prod"})
    assert (first.id, second.id, second.version) == ("tiny:1", "tiny:2", 2)
    assert v1.models["tiny"].id == "tiny:2" and Model(v1, "tiny").version == 2
    assert Model(v1, "tiny", tags=[["stage", "dev"]]).id == "tiny:1" and Model(v1, id="tiny:1").description == "two weights"
    assert [m.id for m in Model.list(v1, name="tiny")] == ["tiny:2", "tiny:1"]
    local = Path(Model.get_model_path("tiny", version=1, _workspace=v1))
    assert local.name == "model" and json.loads((local / "weights.json").read_text()) == WEIGHTS
    target = first.download(target_dir=str(tmp_path / "dl"))
    assert target == str(tmp_path / "dl" / "model") and json.loads((Path(target) / "weights.json").read_text()) == WEIGHTS
    with pytest.raises(WebserviceException, match="already exist"):
        first.download(target_dir=str(tmp_path / "dl"))
    assert second.download(target_dir=str(tmp_path / "dl"), exist_ok=True) == target
    assert json.loads((Path(target) / "weights.json").read_text())["b"] == 5.0
    second.add_tags({"owner": "me"})
    assert Model(v1, "tiny").tags == {"stage": "prod", "owner": "me"}
    with pytest.raises(WebserviceException, match="'nope'"):
        Model(v1, "nope")


def test_deploy_with_keys_run_logs_and_delete(v1, tmp_path):
    from azureml.core.model import InferenceConfig, Model
    from azureml.core.webservice import AciWebservice, Webservice

    model = Model.register(v1, model_path="outputs/model", model_name="tiny")
    service = Model.deploy(v1, "tiny-svc", [model], InferenceConfig(entry_script="score.py", source_directory="."),
                           AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1, auth_enabled=True))
    service.wait_for_deployment(show_output=False)
    assert service.state == "Healthy" and isinstance(service, AciWebservice)
    assert service.scoring_uri.startswith("http://127.0.0.1:") and service.scoring_uri.endswith("/score")
    assert service.run(json.dumps({"data": [[1, 2], [3, 0]]})) == {"predictions": [1.0, 7.0]}
    primary, secondary = service.get_keys()
    request = urllib.request.Request(service.scoring_uri, data=b'{"data": [[1, 1]]}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=10)
    assert e.value.code == 401
    request.add_header("Authorization", f"Bearer {secondary}")
    assert json.loads(urllib.request.urlopen(request, timeout=10).read()) == {"predictions": [2.0]}
    other = subprocess.run([sys.executable, "-c", "from azureml.core import Workspace; from azureml.core.webservice "
                            "import Webservice; s = Webservice(Workspace(), 'tiny-svc'); "
                            "print(type(s).__name__, s.state, s.scoring_uri)"],
                           env={**os.environ, "PYTHONPATH": str(SHIM)}, capture_output=True, text=True, timeout=60)
    assert other.stdout.split() == ["AciWebservice", "Healthy", service.scoring_uri], other.stderr
    assert v1.webservices["tiny-svc"].scoring_uri == service.scoring_uri
    assert "score worker ready: tiny:1" in service.get_logs()
    pid = service._record["pid"]
    service.delete()
    assert pid_gone(pid) and service.state == "Deleted" and Webservice.list(v1) == []
    assert "drained: answered 2 score request(s), refused 0; stopped" in service.get_logs()   # SIGTERM: a drain
    assert not (tmp_path / "ws" / "webservices" / "tiny-svc.json").exists()


def test_a_service_whose_init_fails_is_failed_with_its_log(v1, tmp_path):
    from azureml.core.model import InferenceConfig, Model
    from azureml.core.webservice import LocalWebservice, Webservice
    from azureml.exceptions import WebserviceException

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "score.py").write_text(SCORE.replace("INIT", "raise KeyError('weights_v2')"))
    model = Model.register(v1, model_path="outputs/model", model_name="tiny")
    service = Model.deploy(v1, "broken", [model], InferenceConfig("score.py", source_directory="bad"),
                           LocalWebservice.deploy_configuration())
    with pytest.raises(WebserviceException, match=r"init\(\) raised: KeyError: 'weights_v2'"):
        service.wait_for_deployment()
    again = Webservice(v1, "broken")
    assert again.state == "Failed" and "KeyError: 'weights_v2'" in again.error["message"]


def test_a_local_service_listens_on_its_port_and_a_name_is_not_taken_twice(v1, tmp_path):
    import socket

    from azureml.core.model import InferenceConfig, Model
    from azureml.core.webservice import LocalWebservice
    from azureml.exceptions import WebserviceException

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = Model.register(v1, model_path="outputs/model", model_name="tiny")
    config = InferenceConfig(entry_script="score.py")
    service = Model.deploy(v1, "local-svc", [model], config, LocalWebservice.deploy_configuration(port=port))
    service.wait_for_deployment()
    assert service.scoring_uri == f"http://127.0.0.1:{port}/score" and not service.auth_enabled
    assert service.run({"data": [[0, 0]]}) == {"predictions": [1.0]}
    with pytest.raises(WebserviceException, match="is running"):
        Model.deploy(v1, "local-svc", [model], config, LocalWebservice.deploy_configuration(port=port))
    old_pid = service._record["pid"]
    replaced = Model.deploy(v1, "local-svc", [model], config, LocalWebservice.deploy_configuration(), overwrite=True)
    replaced.wait_for_deployment()
    assert pid_gone(old_pid) and replaced.run({"data": [[1, 0]]}) == {"predictions": [3.0]}
    with pytest.raises(WebserviceException, match="service name"):
        Model.deploy(v1, "Bad_Name", [model], config)


@pytest.mark.parametrize("call, words", [
    ("AksWebservice.deploy_configuration(autoscale_enabled=True)", "AksWebservice (Azure Kubernetes Service)"),
    ("AciWebservice.deploy_configuration(ssl_enabled=True)", "TLS-terminating proxy"),
    ("InferenceConfig('score.py', conda_file='env.yml')", "Environment.from_conda_specification"),
    ("Model.deploy(ws, 'svc', [], InferenceConfig('score.py'), deployment_target=object())", "trainkit models serve"),
    ("Model.package(ws, [], InferenceConfig('score.py'))", "trainkit models serve"),
    ("Webservice.update(service)", "overwrite=True"),
    ("service.regen_key('Primary')", "key file"),
])
def test_what_trainkit_does_not_do_raises_not_implemented_naming_its_equivalent(v1, call, words):
    from azureml.core.model import InferenceConfig, Model  # noqa: F401 - used by eval
    from azureml.core.webservice import AciWebservice, AksWebservice, Webservice  # noqa: F401
    from azureml.core.webservice.webservice import write_record

    write_record(v1, {"name": "svc", "compute_type": "ACI", "pid": None, "log": "", "created": time.time()})
    service = Webservice(v1, "svc")  # noqa: F841 - used by eval
    with pytest.raises(NotImplementedError) as e:
        eval(call, {**globals(), **locals(), "ws": v1})
    assert "trainkit equivalent" in str(e.value) and words in str(e.value)
    assert service.state == "Failed"     # a record whose process is gone


def test_get_model_path_inside_a_service_without_trainkits_variables(v1, tmp_path, monkeypatch):
    """AZUREML_MODEL_DIR set by hand (a score.py tried outside the server): NAME/VERSION below it, or it."""
    from azureml.core.model import Model

    root = tmp_path / "azureml-models"
    (root / "tiny" / "1" / "model").mkdir(parents=True)
    (root / "tiny" / "3" / "model.json").parent.mkdir(parents=True)
    (root / "tiny" / "3" / "model.json").write_text("{}")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(root))
    assert Model.get_model_path("tiny") == str(root / "tiny" / "3" / "model.json")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(root / "tiny" / "1"))
    assert Model.get_model_path("tiny") == str(root / "tiny" / "1" / "model")
    monkeypatch.setenv("TRAINKIT_SCORE_MODELS", json.dumps({"tiny": 1}))
    with pytest.raises(Exception, match="not deployed with this service"):
        Model.get_model_path("other")


def test_an_environment_becomes_the_score_workers_environment_and_packages(v1, tmp_path):
    from azureml.core import Environment
    from azureml.core.conda_dependencies import CondaDependencies
    from azureml.core.model import InferenceConfig
    from azureml.core.webservice import AciWebservice
    from azureml.core.webservice._launch import command, worker_environment

    env = Environment("score-env")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["tensorflow==2.4.0", "tabulate"])
    env.environment_variables = {"SCORE_MODE": "fast"}
    option, pip, variables = worker_environment(InferenceConfig("score.py", environment=env).environment)
    assert option == "tensorflow-2.21-keras2-cpu" and pip == ["tabulate"] and variables == {"SCORE_MODE": "fast"}
    assert worker_environment("tensorflow-2.21-cpu") == ("tensorflow-2.21-cpu", [], {})
    cmd = command(v1, "svc", ["tiny:1"], tmp_path / "score.py", AciWebservice.deploy_configuration(auth_enabled=True),
                  (option, pip, variables))
    assert cmd[cmd.index("--environment") + 1] == option and "--pip=tabulate" in cmd
    assert cmd[cmd.index("--auth-key-file") + 1].endswith("webservices/svc.key") and cmd[cmd.index("--port") + 1] == "0"
