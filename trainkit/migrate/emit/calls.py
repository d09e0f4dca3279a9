"""Every other SDK call: what it is in trainkit (the Python API, the CLI, or what a script's `Run`
does under `entry.azureml_compat`), so that the report lists each call with an answer."""
from __future__ import annotations

from ..expressions import Call
from . import Migration

RUN_METHODS = {   # methods of a submitted run, in the notebook
    "wait_for_completion": "run.wait(show_output=True) / `trainkit jobs logs RUN -f`",
    "get_metrics": "run.metrics() / `trainkit runs show RUN --json`",
    "get_file_names": "run.files() / `trainkit runs files RUN`",
    "download_files": "run.download(prefix=..., to=...) / `trainkit runs download RUN --prefix ... --strip-prefix`",
    "download_file": "run.download(prefix=FILE, to=...) / `trainkit runs download RUN --prefix FILE`",
    "get_details": "`trainkit runs show RUN --json` (its config, arguments and state)",
    "get_details_with_logs": "`trainkit runs show RUN --json` and `trainkit runs logs RUN`",
    "get_status": "run.status / `trainkit jobs status RUN`", "cancel": "run.cancel() / `trainkit jobs cancel RUN`",
    "get_portal_url": "`trainkit ui` (the run's page)", "tag": "run tags: run.tags (run.tags=... on the command line)",
    "get_tags": "run.tags", "set_tags": "run.tags=... (on the command line)", "display_name": "run.name",
}
SCRIPT_METHODS = {   # what a script's Run does in a trainkit run (entry.azureml_compat)
    "get_context": "trainkit's run (entry.azureml_compat: `Run.get_context()` works unchanged)",
    "log": "the run's metrics (metrics.jsonl, TensorBoard, `trainkit runs show`); the primary metric reaches the "
           "sweep's pruner", "log_list": "the run's metrics (one row per value)", "log_row": "the run's metrics",
    "log_table": "the run's metrics", "log_image": "an image in the run's record", "upload_file": "outputs/ of the run",
    "upload_folder": "outputs/ of the run", "complete": "the run ends with the script", "flush": "written at once",
    "input_datasets": "the dataset's folder (${dataset.path})", "child_run": "not in trainkit: one run per job",
}
OTHER = {
    "Workspace": "the trainkit workspace: $TRAINKIT_WORKSPACE, else ~/.trainkit (tk.Workspace())",
    "Experiment": "run.experiment (runs are grouped by it)",
    "RunDetails": "tk.RunDetails(run).show() (live in the notebook) / `trainkit ui`",
    "Datastore": "a folder or URL a dataset reads from (its sources)",
    "ResourceConfiguration": "registry.resource_configuration",
    "ComputeTargetException": "an unknown compute target is a config error naming the option",
    "UserErrorException": "trainkit raises errors that name the key and what was expected",
    "Model": "`trainkit models show NAME` / tk.Workspace().model(NAME)",
    "PrimaryMetricGoal": "hydra.sweeper.direction",
}
NOT_IN_TRAINKIT = {
    "PyTorchConfiguration": "PyTorch jobs: trainkit trains TensorFlow/Keras",
    "AksWebservice": "Kubernetes services: serve with `trainkit models serve` on the host you choose",
    "DataReference": "pipeline data references: list the data as a dataset",
    "PipelineData": "Azure ML pipelines: not in trainkit (run the steps as separate runs)",
    "OutputFileDatasetConfig": "pipeline outputs: a run's ./outputs are kept with it",
}


def emit(m: Migration) -> None:
    for c in m.calls:
        if not c.became and not c.unmapped:
            rest(c)


def rest(c: Call) -> None:
    name, method = c.sdk.name, c.sdk.method
    head = name.split(".")[0]
    owner = c.sdk.owner()
    if method in ("get_default_datastore", "register_azure_blob_container", "register_azure_file_share"):
        c.became = "a datastore is a folder or URL a dataset reads from (its sources): nothing to register"
    elif head in NOT_IN_TRAINKIT:
        c.unmapped = f"{head}: {NOT_IN_TRAINKIT[head]}"
    elif owner is not None and method in RUN_METHODS and kind_of(owner) == "Run":
        c.became = RUN_METHODS[method]
    elif method in SCRIPT_METHODS and (head == "Run" or owner is not None and kind_of(owner) == "Run"):
        c.became = SCRIPT_METHODS[method]
    elif name.startswith(("choice", "uniform", "loguniform", "quniform", "qloguniform", "randint", "normal",
                          "lognormal", "qnormal", "qlognormal")):
        c.unmapped = "a search-space expression outside a HyperDriveConfig that was followed"
    elif name.startswith(("RandomParameterSampling", "GridParameterSampling", "BayesianParameterSampling",
                          "BanditPolicy", "MedianStoppingPolicy", "TruncationSelectionPolicy", "NoTerminationPolicy")):
        c.unmapped = "not used by a HyperDriveConfig that was followed"
    elif name.startswith(("InferenceConfig", "AciWebservice", "LocalWebservice", "Webservice")):
        c.became = "`trainkit models serve` (see its command in How to run it)"
    elif head in OTHER:
        c.became = OTHER[head]
    elif method in ("to_config", "create_data_reference") or head in ("DataPath", "DataPathComputeBinding"):
        c.became = "not needed: a folder is passed to the script as a params.* argument (see the experiment)"
    elif method in ("serialize_to_string", "save_to_file", "save", "add_channel", "set_pip_option"):
        c.became = "the environment is its config file (conf/environment/) or trainkit's preset"
    elif method in ("as_mount", "as_download", "as_named_input", "as_hdfs"):
        c.became = "${dataset.path} in entry.arguments: the dataset's verified files, in a folder on each node"
    elif owner is not None and kind_of(owner) == "Dataset":
        c.became = "the dataset config (conf/dataset/) and `trainkit datasets show NAME`"
    else:
        c.unmapped = f"{name}: no trainkit counterpart known to `trainkit migrate`"


def kind_of(sdk) -> str:
    from ..values import kind

    return kind(sdk)
