"""The engine: the one read path and the one write path every operation takes
(backend I/O under connect, breaker and timeout; decode/encode; stats, events and
the fail-open failure log), plus the sync face that runs it from plain code."""
