"""Infrastructure without domain rules, used by the domains above it: the group-commit writer, day-numbered
sequences, the pool of random bytes, the websocket frame writer. Each is sized and measured by a benchmark
(docs/benchmarks.md)."""
