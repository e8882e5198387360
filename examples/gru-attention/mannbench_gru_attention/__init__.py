"""Example mannbench plugin: ``gru-attention``, a GRU that keeps its last N hidden states as a memory
and reads them by attention (see model.py)."""
