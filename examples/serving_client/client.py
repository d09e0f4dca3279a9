"""Classify Fashion-MNIST test images with a model `trainkit models serve` is serving, through the
standard KServe v2 / Triton HTTP client (`pip install 'tritonclient[http]'`): reads the model's
metadata, sends the images in batches, prints accuracy and latency.

    trainkit models serve fashion_mnist_dnn --port 8080 &
    python client.py --url 127.0.0.1:8080 --model fashion_mnist_dnn --images 1000
"""
import argparse
import gzip
import time
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient

parser = argparse.ArgumentParser()
parser.add_argument("--url", default="127.0.0.1:8080", help="host:port of the server")
parser.add_argument("--model", default="fashion_mnist_dnn")
parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="a folder of t10k-*-ubyte.gz")
parser.add_argument("--images", type=int, default=1000)
parser.add_argument("--batch", type=int, default=100)
args = parser.parse_args()

data = Path(args.data)
with gzip.open(data / "t10k-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:args.images]
with gzip.open(data / "t10k-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)[:args.images]

client = httpclient.InferenceServerClient(args.url)
if not client.is_model_ready(args.model):
    raise SystemExit(f"model {args.model!r} is not ready on {args.url}")
meta = client.get_model_metadata(args.model)
[inp], [out] = meta["inputs"], meta["outputs"]
print(f"{meta['name']} version {','.join(meta['versions'])}: {inp['name']} {inp['shape']} -> {out['name']} {out['shape']}")

predicted, latencies = [], []
for start in range(0, len(images), args.batch):
    x = images[start:start + args.batch].astype(np.float32)     # raw pixels: the model rescales
    tensor = httpclient.InferInput(inp["name"], list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=True)
    t0 = time.perf_counter()
    result = client.infer(args.model, [tensor], outputs=[httpclient.InferRequestedOutput(out["name"])])
    latencies.append(time.perf_counter() - t0)
    predicted.append(result.as_numpy(out["name"]).argmax(axis=1))
accuracy = float(np.mean(np.concatenate(predicted) == labels))
print(f"{len(images)} images in {len(latencies)} requests: accuracy {accuracy:.4f}, "
      f"median latency {1000 * float(np.median(latencies)):.1f} ms per batch of {args.batch}")
