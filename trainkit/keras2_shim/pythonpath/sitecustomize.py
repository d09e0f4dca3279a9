"""Python imports this at start-up in a script of a Keras 2 environment (environment.keras "2"): this
folder is first on its PYTHONPATH. It installs _trainkit_keras2's import hooks, then runs the
sitecustomize this one hides, if there is one."""
import _trainkit_keras2

_trainkit_keras2.install()
_trainkit_keras2.run_next_sitecustomize(__file__)
