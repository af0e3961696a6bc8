"""Benchmarks of sweeper's trainers against the course notebook's loop (see bench/bench.py)."""
