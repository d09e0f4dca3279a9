"""trainkit's stand-in for Azure ML SDK v1's `azureml` package (entry.azureml_compat=true)."""
