"""Infrastructure without domain rules, used by the domains above it: the group-commit writer, day-numbered
sequences, the pool of random bytes. Each is sized and measured by a benchmark (docs/benchmarks.md)."""
