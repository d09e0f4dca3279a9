"""Training: the loop, its task (loss, metrics, optimizer, schedule), checkpoints."""
