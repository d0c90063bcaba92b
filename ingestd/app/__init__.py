"""The application's wiring: settings → stores → stages → transport, and the Kafka worker."""
