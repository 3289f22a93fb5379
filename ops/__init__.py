"""Operations door: health probes, Prometheus metrics, the release command."""
