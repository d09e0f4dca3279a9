"""Azure ML SDK v1's telemetry switches: trainkit sends nothing anywhere, so they change nothing."""


def set_diagnostics_collection(send_diagnostics: bool = True, verbose: bool = False, reset: bool = False) -> None:
    """Nothing is collected or sent (a no-op, as asked of telemetry calls)."""


def get_diagnostics_collection_info(**kwargs) -> dict:
    return {"send_diagnostics": False}


__all__ = ["set_diagnostics_collection", "get_diagnostics_collection_info"]
