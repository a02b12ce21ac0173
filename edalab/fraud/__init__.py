"""Card-fraud detection on the transaction stream: the handbook's features, computed online and
in batch, the handbook's evaluation, and the event-driven scoring pipeline."""
