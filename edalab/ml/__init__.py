"""Online learning on event streams, with river: operators that run inside an `App` handler
and also alone, one event at a time (``op.test(event)``)."""
