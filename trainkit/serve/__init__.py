"""Serving registered models: the Open Inference Protocol (KServe v2) over HTTP, and batch scoring.

protocol.py  v2 JSON and binary tensors: parsing, validation, responses, metadata (numpy only)
batcher.py   dynamic batching: one asyncio queue per served model version, ORT in a thread
models.py    a served version (verified download, ORT session) and the alias follower
metrics.py   Prometheus metrics
app.py       the Starlette app (routes, errors, lifespan)
server.py    `trainkit models serve`: uvicorn, one process or several, SIGTERM drains
predict.py   `trainkit models predict`: .npy, image folders and CSV through onnxruntime
auth.py      --auth-key-file: bearer keys for every request but health
score.py     --score: Azure ML's score.py contract on POST /score (AZUREML_MODEL_DIR, the score worker)
score_process.py, score_worker.py, frames.py, score_env.py   the score worker: its handle in the
             server, the process itself, the pipe between them, its --environment

Nothing here is imported by `trainkit models list`; starlette, uvicorn, onnxruntime,
prometheus_client and Pillow are imported only by the modules that use them.
"""

__all__: list[str] = []   # internal: `trainkit models serve` is the interface
