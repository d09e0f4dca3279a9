"""Keras 3 model builders, referenced from conf/model/*.yaml as "models.<module>:<function>"."""
