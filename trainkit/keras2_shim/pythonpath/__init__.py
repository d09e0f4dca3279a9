# Not imported: this folder goes on a Keras 2 script's PYTHONPATH (trainkit/keras2_shim/__init__.py).
