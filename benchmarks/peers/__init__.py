"""Peer systems (one module per system, interface in ``benchmarks.systems``) and the
NumPy float64 oracle ``numpy_ref``."""
