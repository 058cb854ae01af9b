"""Scale and latency benchmarks for regkb (not run as tests)."""
