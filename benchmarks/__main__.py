"""Entry point: ``python -m benchmarks [--sizes S1,S4] [--workloads W1,W3]
[--systems torch,jax,halide,halogrid] [--quick]`` (see benchmarks.run)."""
from benchmarks.run import main

main()
