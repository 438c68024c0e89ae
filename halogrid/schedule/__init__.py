"""How to compute, never what: per-Func schedules and the defaults."""
