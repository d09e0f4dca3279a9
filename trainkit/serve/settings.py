"""The settings of one `trainkit models serve`: one frozen dataclass, every default with its reason.

Worker processes (`--workers N`) receive them as JSON in $TRAINKIT_SERVE_SETTINGS.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, fields

from ..errors import UsageError
from .runtimes import CHOICES

ENV = "TRAINKIT_SERVE_SETTINGS"


@dataclass(frozen=True)
class ServeSettings:
    refs: tuple[str, ...]           # NAME, NAME:VERSION or NAME@ALIAS (an alias is followed)
    registry: str                   # registry root URL
    cache_dir: str                  # verified model.onnx copies: <cache_dir>/<name>/<version>/model.onnx
    host: str = "127.0.0.1"         # loopback unless asked: the API has no authentication
    port: int = 8080                # 0 picks a free port (printed at start)
    max_batch: int = 64             # rows per ORT call; one larger request still runs, alone
    max_delay_ms: float = 2.0       # extra wait for more rows, only under concurrent load
    threads: int | None = None      # runtime intra-op threads; None: the version's resource_configuration.cpu
    runtime: str = "auto"           # onnx | tensorflow | auto (onnx when the version's export is ok, else its SavedModel)
    trust_model: bool = False       # load SavedModels without checking their graph's ops (only with runtime tensorflow)
    workers: int = 1                # processes; 1 keeps one batching queue per model (see README)
    max_body_mb: float = 64.0       # larger request bodies get 413
    max_json_values: int = 4_194_304  # values one JSON request may carry (~130 MB as Python floats): 413 beyond
    json_parsers: int = 1           # processes parsing large JSON bodies (off the event loop); more wait their turn
    max_buffered_mb: float = 256.0  # request bytes held at once across all connections: 503 beyond
    max_connections: int = 1024     # open connections; the server raises its file limit to fit them
    header_timeout_s: float = 10.0  # a connection must send a complete request head within this, else it is closed
    body_timeout_s: float = 10.0    # longest pause while receiving a body: 408 after it
    poll_s: float = 1.0             # how often a followed alias is re-read
    allow_nonfinite: bool = False   # NaN/Inf in float inputs are refused (400) unless set
    drain_timeout_s: float = 30.0   # SIGTERM: how long in-flight requests may take before they are cut
    access_log: bool = False        # one log line per request (costs throughput)
    auth_key_file: str | None = None  # every request but health needs `Authorization: Bearer KEY` (created, 0600, if missing)
    score: str | None = None        # a score.py: Azure's init()/run(raw_data) on POST /score, in a worker process
    environment: str | None = None  # with --score: the trainkit environment the worker runs in (built with uv)
    pip: tuple[str, ...] = ()       # requirement lines added to --environment's (an Environment's extra packages)
    workspace: str | None = None    # where --environment's builds go (<workspace>/environments); None: the default
    score_timeout_s: float = 60.0   # run() longer than this: 503, the worker is killed and restarted (Azure's 60 s)
    score_init_timeout_s: float = 600.0  # init() (loading a model, TensorFlow's import) may take this long
    score_max_response_mb: float = 64.0  # run()'s JSON answer larger than this: 500

    def __post_init__(self):
        problems = [f"{flag}: expected {want}, got {value!r}" for flag, want, value, ok in (
            ("REF", "at least one model reference", list(self.refs), bool(self.refs)),
            ("--port", "an integer in [0, 65535]", self.port, 0 <= self.port <= 65535),
            ("--max-batch", "an integer >= 1", self.max_batch, self.max_batch >= 1),
            ("--max-delay-ms", "a number >= 0", self.max_delay_ms, self.max_delay_ms >= 0),
            ("--runtime", f"one of {', '.join(CHOICES)}", self.runtime, self.runtime in CHOICES),
            ("--trust-model", "together with --runtime tensorflow", f"--runtime {self.runtime}",
             not self.trust_model or self.runtime == "tensorflow"),
            ("--threads", "an integer >= 1", self.threads, self.threads is None or self.threads >= 1),
            ("--workers", "an integer >= 1", self.workers, self.workers >= 1),
            ("--max-body-mb", "a number > 0", self.max_body_mb, self.max_body_mb > 0),
            ("--max-json-values", "an integer >= 1", self.max_json_values, self.max_json_values >= 1),
            ("--json-parsers", "an integer >= 1", self.json_parsers, self.json_parsers >= 1),
            ("--max-buffered-mb", "a number >= --max-body-mb", self.max_buffered_mb,
             self.max_buffered_mb >= self.max_body_mb),
            ("--max-connections", "an integer >= 1", self.max_connections, self.max_connections >= 1),
            ("--header-timeout-s", "a number > 0", self.header_timeout_s, self.header_timeout_s > 0),
            ("--body-timeout-s", "a number > 0", self.body_timeout_s, self.body_timeout_s > 0),
            ("--poll-s", "a number > 0", self.poll_s, self.poll_s > 0),
            ("--drain-timeout-s", "a number > 0", self.drain_timeout_s, self.drain_timeout_s > 0),
            ("--environment", "together with --score", self.environment, not self.environment or bool(self.score)),
            ("--pip", "together with --environment", list(self.pip), not self.pip or bool(self.environment)),
            ("--workers", "1 with --score (one score worker process)", self.workers, not self.score or self.workers == 1),
            ("--score-timeout-s", "a number > 0", self.score_timeout_s, self.score_timeout_s > 0),
            ("--score-init-timeout-s", "a number > 0", self.score_init_timeout_s, self.score_init_timeout_s > 0),
            ("--score-max-response-mb", "a number > 0", self.score_max_response_mb, self.score_max_response_mb > 0),
        ) if not ok]
        if problems:
            raise UsageError("invalid serve options:\n" + "\n".join(f"  - {p}" for p in problems))

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def max_buffered_bytes(self) -> int:
        return int(self.max_buffered_mb * 1024 * 1024)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> "ServeSettings":
        data = json.loads(os.environ[ENV])
        data["refs"], data["pip"] = tuple(data["refs"]), tuple(data.get("pip", ()))
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def configure_logging() -> None:
    logger = logging.getLogger("trainkit.serve")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s trainkit.serve: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
