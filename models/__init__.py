"""trainkit's built-in Keras model builders, shipped as `trainkit.models` and named in
conf/model/*.yaml with Hydra's `_target_: trainkit.models.<module>.<function>`."""
