"""Apps that worker processes serve in the NATS tests
(`edalab worker tests.brokers.nats_apps:relay`)."""

from __future__ import annotations

from edalab import App, Event


def relay(broker) -> App:
    """Forward every tick to `done`, keeping its id (so a sink can deduplicate)."""
    app = App(broker)

    @app.handler("ticks", group="relay", output="done")
    def forward(event: Event) -> Event:
        return event.replace(type="tick.done", id=event.id)

    return app
