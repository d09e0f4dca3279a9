"""Python imports this at start-up in a trainkit run's script (this folder is on its PYTHONPATH).
It installs _trainkit_keras_datasets's import hook, then runs the sitecustomize found after this
folder on the path, if there is one."""
import _trainkit_keras_datasets

_trainkit_keras_datasets.install()
_trainkit_keras_datasets.run_next_sitecustomize(__file__)
