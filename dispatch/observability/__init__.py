"""Operations: Prometheus metrics, request ids and JSON logs, backup and restore."""
