"""Training loops: data batching, early stopping, resumable checkpoints."""
