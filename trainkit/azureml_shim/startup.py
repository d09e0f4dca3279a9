"""Run at interpreter start-up by trainkit_azureml.pth (installed into site-packages with trainkit)
when $TRAINKIT_AZUREML is set to 1: the shim goes first on sys.path, as `%load_ext trainkit.azureml`
does. With a real azureml installed it only says so on stderr. It never stops Python from starting."""
import sys

try:
    from trainkit.shimpath import activate, refusal

    _real = activate()
    if _real:
        print(f"trainkit (TRAINKIT_AZUREML=1): {refusal(_real)}", file=sys.stderr)
except Exception as e:   # noqa: BLE001 - a start-up hook must never break the interpreter
    print(f"trainkit (TRAINKIT_AZUREML=1): not activated: {type(e).__name__}: {e}", file=sys.stderr)
