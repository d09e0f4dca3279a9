# Not imported: this folder goes on a script's PYTHONPATH (trainkit/keras_datasets/__init__.py).
