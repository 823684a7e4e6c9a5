"""Benchmarks of the running graph (`aria-nav bench ...`). They print their numbers; no test asserts on speed."""
