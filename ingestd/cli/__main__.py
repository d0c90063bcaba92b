"""`python -m ingestd.cli` (the Kafka test harness starts workers this way)."""

from ingestd.cli import main

main()
