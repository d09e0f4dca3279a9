"""`trainkit migrate` on the corpus of v1-style projects (tests/fixtures/v1corpus: notebooks and
scripts written here in the style of Azure's v1 TensorFlow/Keras samples). What each construct must
become is a hand-written table (read off the notebooks, with each project's EXPECTED.md), never
derived from the analyzer itself."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ..conftest import FASHION, ROOT, run_cli

CORPUS = ROOT / "tests" / "fixtures" / "v1corpus"
MIRRORS = ["https://azureopendatasets.blob.core.windows.net/mnist/", "http://yann.lecun.com/exdb/mnist/"]

# (project file, cell or None, line, how the call starts, what "became" must say)
TABLE = [
    # digits-tune-deploy: tune + deploy, scripts copied with shutil.copy, %%writefile conda YAML and score.py
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 5, 9, "Dataset.File.from_files(",
     "conf/dataset/mnist-dataset.yaml: sources ['file://"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 5, 10, "digits_ds.register(", "dataset registration"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 9, 4, "ComputeTarget(workspace=ws", "compute=gpu-nc6"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 9, 8, "AmlCompute.provisioning_configuration(",
     "1 GPU(s), 6 CPUs per node"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 9, 13, "compute_target.get_status()", "a note about the cluster"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 15, 1, "Environment.from_conda_specification(",
     "conf/environment/digits-tf23-gpu.yaml: pip [], Keras 2, gpu"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 15, 7, "Environment.get(ws, name='AzureML-TensorFlow-2.3-GPU')",
     "environment=tensorflow-2.21-keras2-gpu"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 17, 3, "digits_ds.as_named_input('mnist').as_mount()",
     "${dataset.path}"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 17, 10, "ScriptRunConfig(",
     "conf/experiment/digits-tf-dnn.yaml (+experiment=digits-tf-dnn): entry=script digits-training/train_digits.py"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 18, 3, "RunDetails(run).show()", "tk.RunDetails(run).show()"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 22, 4, "run.register_model(",
     "registry.model_name=tf-dnn-digits, entry.model_path=outputs/model"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 26, 1, "BanditPolicy(evaluation_interval=2, slack_factor=0.1)",
     "{'name': 'bandit', 'evaluation_interval': 2, 'slack_factor': 0.1}"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 26, 11, "exp.submit(config=htc)",
     "the sweep: `trainkit train -m +experiment=digits-tf-dnn +hparams_search=digits-tf-dnn-htc`"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 28, 1, "htr.get_best_run_by_primary_metric()",
     "`trainkit sweeps best digits-tf-dnn-htc --metric validation_acc --mode max`"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 29, 1, "best_run.register_model(model_name='tf-dnn-digits'",
     "--register tf-dnn-digits"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 32, 4, "InferenceConfig(entry_script='score.py'",
     "serving/digits-dnn-svc/score.py"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 32, 11, "Model.deploy(",
     "`trainkit models serve tf-dnn-digits --score serving/digits-dnn-svc/score.py --environment "
     "tensorflow-2.21-keras2-gpu --auth-key-file serving.key`"),
    ("digits-tune-deploy/digits-train-tune-deploy.ipynb", 37, 1, "service.delete()", "stop the server"),
    ("digits-tune-deploy/train_digits.py", None, 83, "Run.get_context()", "trainkit's run"),
    # estimator-horovod-legacy: the TensorFlow estimator, !cp into the folder, datastore upload of downloads
    ("estimator-horovod-legacy/tf-estimator-horovod.ipynb", 4, 10, "ds.upload(", "the dataset's"),
    ("estimator-horovod-legacy/tf-estimator-horovod.ipynb", 5, 1, "Dataset.File.from_files(path=[(ds, 'mnist/')])",
     "conf/dataset/mnist-files.yaml: sources ['file:///usr/share/datasets/fashion-mnist/', "
     "'http://yann.lecun.com/exdb/mnist/'], 4 file(s), format idx"),
    ("estimator-horovod-legacy/tf-estimator-horovod.ipynb", 10, 8, "TensorFlow(source_directory=project_folder",
     "entry=script tf-hvd-estimator/tf2_hvd_train.py, distribution=horovod"),
    ("estimator-horovod-legacy/tf-estimator-horovod.ipynb", 10, 13, "Mpi(process_count_per_node=2)",
     "distribution=horovod, processes=4 (2 node(s) x 2)"),
    ("estimator-horovod-legacy/tf-estimator-horovod.ipynb", 14, 1, "DataPath(", "resume_from"),
    ("estimator-horovod-legacy/tf-estimator-horovod.ipynb", 15, 1, "resumed_run.register_model(",
     "conf/experiment/tf-hvd-estimator-2.yaml: registry.model_name=tf2-hvd-mnist"),
    # keras-horovod-dist: a cluster made by a function of the notebook, CondaDependencies with conda pins
    ("keras-horovod-dist/keras-horovod-mnist.ipynb", 4, 3, "ComputeTarget(workspace=workspace, name=name)",
     "compute=gpu-nc12-lp"),
    ("keras-horovod-dist/keras-horovod-mnist.ipynb", 10, 3, "cd.add_conda_package('h5py<3.0')",
     "that pin cannot be met"),
    ("keras-horovod-dist/keras-horovod-mnist.ipynb", 10, 5, "Environment('keras-horovod-gpu')",
     "conf/environment/keras-horovod-gpu.yaml"),
    ("keras-horovod-dist/keras-horovod-mnist.ipynb", 12, 1, "MpiConfiguration(process_count_per_node=2, node_count=2)",
     "distribution=horovod, processes=4"),
    ("keras-horovod-dist/keras-horovod-mnist.ipynb", 17, 4, "run.register_model(model_name='keras-hvd-mnist'",
     "entry.model_path=outputs/model.h5"),
    # keras-mlp-grid: standalone Keras 2 written by %%writefile $script_folder/..., grid + median stopping
    ("keras-mlp-grid/keras-mlp-mnist.ipynb", 4, 1, "Dataset.get_by_name(ws, name='mnist-dataset')",
     "dataset=mnist-dataset (conf/dataset/mnist-dataset.yaml)"),
    ("keras-mlp-grid/keras-mlp-mnist.ipynb", 12, 2, "keras_env.python.conda_dependencies.add_pip_package('matplotlib')",
     "provided by the base environment"),
    ("keras-mlp-grid/keras-mlp-mnist.ipynb", 16, 4, "GridParameterSampling(", "hydra.sweeper.sampler=grid"),
    ("keras-mlp-grid/keras-mlp-mnist.ipynb", 16, 9, "MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=5)",
     "{'name': 'median_stopping', 'evaluation_interval': 1, 'delay_evaluation': 5}"),
    ("keras-mlp-grid/keras-mlp-mnist.ipynb", 21, 8, "Model.deploy(ws, 'keras-mlp-local'",
     "--score serving/keras-mlp-local/score_keras.py --environment keras-env --port 6789"),
    # keras-subclass-serve: source_directory '.', Model.register from downloaded files, pip requirements
    ("keras-subclass-serve/subclassed-model-deploy.ipynb", 3, 8, "ScriptRunConfig(source_directory='.'",
     "entry=script src/train_subclassed.py"),
    ("keras-subclass-serve/subclassed-model-deploy.ipynb", 6, 1, "Model.register(ws, model_path='./trained/outputs/model'",
     "`trainkit models register subclassed-mnist ./trained/outputs/model`"),
    ("keras-subclass-serve/subclassed-model-deploy.ipynb", 13, 8, "AciWebservice.deploy_configuration(",
     "--auth-key-file serving.key"),
    ("keras-subclass-serve/subclassed-model-deploy.ipynb", 15, 2, "model.delete()", "trainkit models delete"),
    # multiworker-keras: TensorflowConfiguration without ps; the RunConfiguration style
    ("multiworker-keras/multi-worker-keras.ipynb", 4, 4, "Dataset.File.from_files(path=web_paths)",
     "conf/dataset/mnist_ds.yaml: sources ['file:///usr/share/datasets/fashion-mnist/', "
     "'https://azureopendatasets.blob.core.windows.net/mnist/'], 4 file(s), format idx"),
    ("multiworker-keras/multi-worker-keras.ipynb", 6, 3, "mwms_env.python.conda_dependencies.add_conda_package('pillow')",
     "provided by the base environment"),
    ("multiworker-keras/multi-worker-keras.ipynb", 8, 1, "TensorflowConfiguration(worker_count=2, parameter_server_count=0)",
     "distribution=multi_worker_mirrored, workers=2"),
    ("multiworker-keras/multi-worker-keras.ipynb", 10, 1, "RunConfiguration(framework='Python', communicator='ParameterServer')",
     "part of the experiment config"),
    # resume-from-checkpoint: a datastore path as an argument, a dict literal with variable keys
    ("resume-from-checkpoint/resume-training.ipynb", 9, 4, "DataPath(", "params.resume_from"),
    ("resume-from-checkpoint/resume-training.ipynb", 9, 15, "ref.to_config()", "not needed"),
    ("resume-from-checkpoint/resume-training.ipynb", 10, 5, "resumed_run.register_model(model_name='mnist-resumed'",
     "registry.model_name=mnist-resumed, entry.model_path=outputs/model.keras"),
    # tf1-parameter-server: TF 1 curated environment, parameter servers
    ("tf1-parameter-server/tf1-ps-mnist.ipynb", 6, 5, "Dataset.File.from_files(path=web_paths)",
     "conf/dataset/mnist-lecun.yaml"),
    ("tf1-parameter-server/tf1-ps-mnist.ipynb", 10, 1, "Environment.get(ws, name='AzureML-TensorFlow-1.13-GPU')",
     "TensorFlow 1.x, scripts need a port"),
    ("tf1-parameter-server/tf1-ps-mnist.ipynb", 12, 1, "TensorflowConfiguration(worker_count=2, parameter_server_count=1)",
     "distribution=parameter_server, workers=2, ps=1"),
    # warmstart-sweeps: three HyperDriveConfigs on one ScriptRunConfig, warm start, every policy kind
    ("warmstart-sweeps/hyperdrive-warm-start.ipynb", 5, 7, "Environment.get(workspace=ws, name='azureml-tensorflow-2.11-cuda11')",
     "environment=tensorflow-2.21-keras2-gpu"),
    ("warmstart-sweeps/hyperdrive-warm-start.ipynb", 8, 10, "TruncationSelectionPolicy(truncation_percentage=20",
     "{'name': 'truncation_selection', 'truncation_percentage': 20, 'evaluation_interval': 1, 'delay_evaluation': 3}"),
    ("warmstart-sweeps/hyperdrive-warm-start.ipynb", 11, 1, "BayesianParameterSampling(", "hydra.sweeper.sampler=tpe"),
    ("warmstart-sweeps/hyperdrive-warm-start.ipynb", 11, 10, "NoTerminationPolicy()", "{'name': 'none'}"),
    ("warmstart-sweeps/hyperdrive-warm-start.ipynb", 13, 12, "BanditPolicy(slack_amount=0.02",
     "{'name': 'bandit', 'evaluation_interval': 1, 'slack_amount': 0.02, 'delay_evaluation': 2}"),
    ("warmstart-sweeps/hyperdrive-warm-start.ipynb", 13, 10, "HyperDriveConfig(",
     "20 trials, 4 at once, warm start from ['mnist-warm-start-hdc_1', 'mnist-warm-start-hdc_2']"),
    ("warmstart-sweeps/hyperdrive-warm-start.ipynb", 14, 8, "best_run.register_model(model_name='mnist-mlp-tuned'",
     "trainkit sweeps best mnist-warm-start-hdc_3 --metric validation_acc --mode max --register mnist-mlp-tuned"),
]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    dest = tmp_path_factory.mktemp("corpus") / "project"
    args = ["migrate", str(CORPUS), "--to", str(dest), "--check"]
    for url in MIRRORS:
        args += ["--mirror", f"{url}=file://{FASHION}/"]
    res = run_cli(args, timeout=300)
    return dest, res, (dest / "MIGRATION.md").read_text() if (dest / "MIGRATION.md").exists() else ""


def rows(report: str) -> dict[tuple, str]:
    out = {}
    for ln in report.split("## Every SDK call")[1].split("\n## ")[0].splitlines():
        m = re.match(r"^\| (.+?) \| `(.*?)` \| (.*) \|$", ln)
        if m and m.group(1) != "where":
            out.setdefault(m.group(1), []).append((m.group(2).replace("\\|", "|"), m.group(3)))
    return out


def conf(dest: Path, rel: str) -> dict:
    return yaml.safe_load((dest / "conf" / rel).read_text())


def test_the_whole_corpus_migrates_and_every_experiment_passes_check(migrated):
    dest, res, report = migrated
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    assert "0 call(s) not mapped, 0 construct(s) not understood" in res.stdout, res.stdout
    assert ": check: " not in res.stdout, res.stdout
    assert sorted(p.stem for p in (dest / "conf" / "experiment").glob("*.yaml")) == [
        "digits-tf-dnn", "keras-horovod-mnist", "keras-mlp-mnist", "mnist-multiworker", "mnist-resume",
        "mnist-resume-2", "mnist-warm-start", "mwms_train", "subclassed-local", "tf-hvd-estimator",
        "tf-hvd-estimator-2", "tf1-parameter-server"]


@pytest.mark.parametrize("path,cell,line,call,became", TABLE, ids=[f"{r[0].split('/')[0]}:{r[1]}:{r[2]}" for r in TABLE])
def test_each_construct_becomes_what_the_table_says(migrated, path, cell, line, call, became):
    _, _, report = migrated
    where = f"{CORPUS / path}" + (f" cell {cell}" if cell is not None else "") + f", line {line}"
    found = rows(report).get(where, [])
    matching = [b for c, b in found if c.startswith(call)]
    assert matching, f"no call {call!r} at {where}: {found}"
    assert any(became in b for b in matching), f"{where} {call}: {matching}"


def test_files_the_notebooks_copy_or_write_are_where_the_runs_need_them(migrated):
    dest, _, _ = migrated
    assert (dest / "digits-training" / "train_digits.py").read_bytes() == (
        CORPUS / "digits-tune-deploy" / "train_digits.py").read_bytes()                    # shutil.copy at run time
    assert (dest / "digits-training" / "utils.py").exists()                                # the helper it imports
    assert (dest / "tf-hvd-estimator" / "tf2_hvd_train.py").exists()                       # !cp into the folder
    assert "from keras.models import Sequential" in (dest / "keras-mlp" / "keras_mlp.py").read_text()  # %%writefile $dir/
    assert "def init():" in (dest / "serving" / "digits-dnn-svc" / "score.py").read_text()   # %%writefile score.py
    env = conf(dest, "environment/digits-tf23-gpu.yaml")                                   # %%writefile conda YAML
    assert (env["keras"], env["device"], env["pip"]) == ("2", "gpu", [])


def test_experiments_hold_what_their_notebooks_say(migrated):
    dest, _, _ = migrated
    digits = conf(dest, "experiment/digits-tf-dnn.yaml")
    assert digits["entry"]["arguments"] == [
        "--data-folder", "${dataset.path}", "--batch-size", "${params.batch_size}", "--first-layer-neurons",
        "${params.first_layer_neurons}", "--second-layer-neurons", "${params.second_layer_neurons}", "--learning-rate",
        "${params.learning_rate}", "--epochs", "${params.epochs}"]
    assert digits["params"] == {"batch_size": 64, "first_layer_neurons": 256, "second_layer_neurons": 128,
                                "learning_rate": 0.01, "epochs": 20}
    assert digits["entry"]["azureml_compat"] is True and digits["registry"]["model_name"] == "tf-dnn-digits"
    assert digits["registry"]["resource_configuration"] == {"cpu": 1.0, "memory_gb": 0.5, "gpu": 0}
    hvd = conf(dest, "experiment/keras-horovod-mnist.yaml")
    assert {"override /distribution": "horovod"} in hvd["defaults"] and hvd["distribution"] == {"processes": 4}
    assert hvd["compute"] == {"nodes": 2, "tasks_per_node": 2}
    ps = conf(dest, "experiment/tf1-parameter-server.yaml")
    assert ps["distribution"] == {"workers": 2, "ps": 1} and {"override /environment": "tensorflow-2.21-keras2-gpu"} in ps["defaults"]
    multi = conf(dest, "experiment/mnist-multiworker.yaml")     # only the sweep's best run is registered
    assert multi["registry"] == {"enabled": False}
    assert multi["entry"]["model_path"] == "outputs/keras-model/model.keras"
    second = conf(dest, "experiment/tf-hvd-estimator-2.yaml")      # script_params=dict(script_params, **{'--epochs': 5})
    assert second["entry"]["arguments"][:4] == ["--data-folder", "${dataset.path}", "--batch-size", "64"]
    assert second["params"] == {"epochs": 5}
    resumed = conf(dest, "experiment/mnist-resume-2.yaml")
    assert resumed["entry"]["arguments"][-2:] == ["--resume-from", "${params.resume_from}"]
    assert resumed["params"]["resume_from"] == ""


def test_three_sweeps_on_one_script_keep_their_own_settings_and_warm_start(migrated):
    dest, _, _ = migrated
    searches = {n: conf(dest, f"hparams_search/mnist-warm-start-{n}.yaml")["hydra"]["sweeper"] for n in ("hdc_1", "hdc_2", "hdc_3")}
    assert [s["n_trials"] for s in searches.values()] == [10, 15, 20]
    assert "warm_start" not in searches["hdc_1"]
    assert searches["hdc_2"]["warm_start"] == ["mnist-warm-start-hdc_1"]
    assert searches["hdc_3"]["warm_start"] == ["mnist-warm-start-hdc_1", "mnist-warm-start-hdc_2"]
    experiment = (dest / "conf" / "experiment" / "mnist-warm-start.yaml").read_text()
    # its script falls back to tf.keras.datasets.mnist.load_data(): answered by the run's own dataset, offline
    assert yaml.safe_load(experiment)["entry"]["keras_datasets"] == {"mnist": "mnist-dataset"}
    assert "${params.learning_rate}" in experiment
    params = yaml.safe_load(experiment)["params"]
    assert not [v for v in params.values() if isinstance(v, str) and "${" in v], params     # never a self-reference
    grid = conf(dest, "hparams_search/keras-mlp-mnist-hd_config.yaml")["hydra"]["sweeper"]
    assert grid["sampler"] == "grid" and all(p["type"] == "choice" for p in grid["params"].values())


def test_how_to_run_it_starts_with_a_local_smoke_command_for_every_experiment(migrated):
    _, _, report = migrated
    how = report.split("## How to run it")[1].split("\n## ")[0]
    smoke = how.split("**1. On this machine first")[1].split("**2.")[0]
    assert "`trainkit train +experiment=digits-tf-dnn compute=local params.epochs=1`" in smoke
    assert "`trainkit train +experiment=tf1-parameter-server compute=local params.train_steps=20`" in smoke
    assert how.index("1. On this machine first") < how.index("2. On the cluster") < how.index("3. The hyperparameter")
    assert "`trainkit train -m +experiment=mnist-warm-start +hparams_search=mnist-warm-start-hdc_2`" in how
    assert "`trainkit sweeps best digits-tf-dnn-htc --metric validation_acc --mode max --register tf-dnn-digits`" in how


def test_the_compatibility_report_names_what_breaks_with_its_fix(migrated):
    _, _, report = migrated
    compat = report.split("## What breaks on today's stack")[1].split("\n## ")[0]
    for where, text in (("tf1_ps_mnist.py", "tf1"), ("keras_mlp.py:36", "np.float"), ("train_subclassed.py", "azureml"),
                        ("tf1_ps_mnist.py", "download")):
        assert any(where in ln and text in ln for ln in compat.splitlines()), (where, text)


def test_names_that_collide_across_notebooks_stay_distinct_and_are_reported(migrated):
    dest, _, report = migrated
    first, second = conf(dest, "dataset/mnist-dataset.yaml"), conf(dest, "dataset/mnist-dataset-2.yaml")
    assert first["sources"][-1] == "https://azureopendatasets.blob.core.windows.net/mnist/"
    assert second["sources"][-1] == "http://yann.lecun.com/exdb/mnist/"
    assert "another dataset is also named 'mnist-dataset' with a different definition: this one is 'mnist-dataset-2'" \
        in report


def test_fix_rewrites_the_projects_copies_only_and_lists_each_rewrite(tmp_path):
    notebook = CORPUS / "keras-mlp-grid" / "keras-mlp-mnist.ipynb"      # its script exists only as a %%writefile cell
    before = notebook.read_bytes()
    dest = tmp_path / "fixed"
    res = run_cli(["migrate", str(notebook.parent), "--to", str(dest), "--fix"], timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert notebook.read_bytes() == before
    copy = (dest / "keras-mlp" / "keras_mlp.py").read_text().splitlines()
    assert "np.float" not in "\n".join(copy) and "astype(float)" in copy[35]    # line 36 keeps its number
    report = (dest / "MIGRATION.md").read_text()
    assert "`--fix` rewrote the project's copies (never your files)" in report
    assert re.search(r"\| keras-mlp/keras_mlp\.py:36 \| `np\.float` was removed .* \| the builtin `float` \|", report), report


def test_scripts_with_keras_2_apis_run_in_the_keras_2_environment(migrated):
    dest, _, report = migrated
    local = conf(dest, "experiment/subclassed-local.yaml")
    assert local["environment"] == {"keras": "2"}
    # arguments=['--data-folder', './mnist-local'] after mnist.download(target_path='./mnist-local'): that dataset
    assert local["entry"]["arguments"][:2] == ["--data-folder", "${dataset.path}"]
    assert {"override /dataset": "mnist-dataset"} in local["defaults"]
    assert ("conf/experiment/subclassed-local.yaml: its scripts use Keras 2 APIs that Keras 3 does not have "
            "(src/train_subclassed.py:63)") in report
