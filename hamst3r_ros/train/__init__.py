"""Training of the human heads (and fine-tuning): losses, data, loop, evaluation metrics."""
