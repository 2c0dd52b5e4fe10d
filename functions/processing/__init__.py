"""Processing: the preprocess and model-invocation pipelines, started from the hub."""
