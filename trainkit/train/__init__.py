"""Training: the loop, its task (loss, metrics, optimizer, schedule), checkpoints."""

__all__: list[str] = []   # internal: the training loop behind every run
