"""Real servers and shared set-up for the tests: PostgreSQL, S3, Kafka, media, seeds."""
