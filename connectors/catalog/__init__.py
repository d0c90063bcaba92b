"""The SQL catalog: inputs, annotations, datasets, processed events, dead letters."""

from connectors.catalog.sql import SqlCatalog

__all__ = ["SqlCatalog"]
