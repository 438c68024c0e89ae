"""Funcs in, more Funcs out: reverse-mode adjoints of whole pipelines (Li et al. 2018)."""
