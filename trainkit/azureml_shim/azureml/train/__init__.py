"""Azure ML SDK v1's `azureml.train`: HyperDrive (azureml.train.hyperdrive) and the TensorFlow
estimator (azureml.train.dnn) on trainkit."""
