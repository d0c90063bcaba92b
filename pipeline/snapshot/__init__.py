"""The snapshot stage: a dataset frozen into a version (manifest, metrics, exports)."""
