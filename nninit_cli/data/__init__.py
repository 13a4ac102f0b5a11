"""Data sets: the toy tasks, digits and the IDX reader for MNIST-style files."""
