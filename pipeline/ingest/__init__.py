"""The ingest stage: upload requests become stored inputs (validate, resolve ids, write, commit)."""
