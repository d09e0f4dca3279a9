"""A Keras 2 model file as a TensorFlow SavedModel, in a child process of the script's environment
(TF_USE_LEGACY_KERAS=1, tf_keras installed): trainkit's own process is Keras 3 and cannot load
these files as the script wrote them. Run by path (it imports nothing of trainkit):

    python convert.py SOURCE OUT [--weights WEIGHTS]

SOURCE: a whole model (`model.save('m.h5')`, or a tf_keras `.keras` file), or an architecture
(`model.to_json()` written to a .json file) with WEIGHTS (`save_weights`: .h5, or a TensorFlow
checkpoint prefix). OUT gets a SavedModel whose `serving_default` takes the model's inputs with any
batch size (written to OUT.tmp, then renamed). The last stdout line is a JSON record of what was
loaded."""
import argparse
import json
import os
import shutil
import sys


def load(source: str, weights: str | None):
    import tf_keras

    if weights is None:
        return tf_keras.models.load_model(source, compile=False)
    with open(source) as f:
        model = tf_keras.models.model_from_json(f.read())
    model.load_weights(weights)
    return model


def export(model, out: str) -> None:
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.export(tmp)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--weights", default=None)
    args = parser.parse_args(argv)
    import tf_keras

    model = load(args.source, args.weights)
    export(model, args.out)
    print(json.dumps({"keras_version": tf_keras.__version__, "model_class": type(model).__name__,
                      "inputs": [[None if d is None else int(d) for d in t.shape] for t in model.inputs]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
