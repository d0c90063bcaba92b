"""ingestd: the CLI and the wiring that assembles settings, stores, stages and a transport."""

__version__ = "0.1.0"
