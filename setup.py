"""The packaging metadata is pyproject.toml's; this file only adds `trainkit_azureml.pth` to the top
of site-packages, for wheels (build_py) and editable installs (editable_wheel) alike. That one line
runs at interpreter start-up and does nothing unless $TRAINKIT_AZUREML is 1; then `import azureml`
is trainkit's Azure ML SDK v1 layer in that kernel (trainkit/azureml_shim/startup.py)."""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = Path("trainkit/azureml_shim/trainkit_azureml.pth")


class build_py_with_pth(build_py):
    """build_py, plus the .pth at the top of the built tree (the wheel's root: site-packages)."""

    def run(self):
        super().run()
        self.copy_file(str(PTH), str(Path(self.build_lib) / PTH.name), preserve_mode=False)

    def get_outputs(self, include_bytecode=1):
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH.name)]


def editable_wheel_with_pth():
    """editable_wheel, plus the .pth written into the editable wheel beside setuptools' own."""
    from setuptools.command.editable_wheel import editable_wheel

    class with_pth(editable_wheel):
        def _select_strategy(self, *args, **kwargs):
            strategy = super()._select_strategy(*args, **kwargs)

            def call(wheel, files, mapping):
                strategy(wheel, files, mapping)
                wheel.writestr(PTH.name, PTH.read_bytes())

            return _Calling(strategy, call)

    return with_pth


class _Calling:
    """A strategy whose call is `call` (context manager methods passed through)."""

    def __init__(self, strategy, call):
        self.strategy, self.call = strategy, call

    def __call__(self, wheel, files, mapping):
        return self.call(wheel, files, mapping)

    def __enter__(self):
        self.strategy.__enter__()
        return self

    def __exit__(self, *exc):
        return self.strategy.__exit__(*exc)


if __name__ == "__main__":   # how setuptools' build backend runs this file (tests import it)
    setup(cmdclass={"build_py": build_py_with_pth, "editable_wheel": editable_wheel_with_pth()})
