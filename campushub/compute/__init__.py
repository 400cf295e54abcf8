"""Where notebook servers run: one module per backend."""
