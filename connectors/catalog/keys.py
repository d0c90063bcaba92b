"""API keys in the catalog: hashed secrets and scopes, never the secret itself."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from connectors.catalog.collectors_tables import api_keys, collectors
from connectors.catalog.rows import by_id, from_row, utc_now
from pipeline.keys import ApiKey

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog


class KeyCatalog:
    """Create, read and delete an app's API keys."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def add(self, key: ApiKey) -> None:
        now = utc_now()
        with self.catalog.begin() as conn:
            conn.execute(
                api_keys.insert().values(**asdict(key) | {"created_at": now}, modified_at=now)
            )
        key.created_at = now

    def get(self, key_id: str) -> ApiKey | None:
        """A key by id, whichever app it belongs to (callers check the app)."""
        with self.catalog.begin() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).mappings().first()
        return None if row is None else api_key_from_row(row)

    def by_secret_index(self, index: str) -> ApiKey | None:
        """The key whose secret has this lookup index (pipeline.keys.secret_index)."""
        query = select(api_keys).where(api_keys.c.secret_index == index)
        with self.catalog.begin() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else api_key_from_row(row)

    def unindexed(self) -> list[ApiKey]:
        """Keys made before migration 0014, which have no lookup index yet."""
        query = select(api_keys).where(api_keys.c.secret_index.is_(None)).order_by(api_keys.c.id)
        with self.catalog.begin() as conn:
            return [api_key_from_row(r) for r in conn.execute(query).mappings()]

    def set_secret_index(self, key_id: str, index: str) -> None:
        """Index an older key once its secret has been verified."""
        with self.catalog.begin() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(secret_index=index))

    def all(self) -> list[ApiKey]:
        """Every key of every app (the API server finds a presented secret's key among them)."""
        with self.catalog.begin() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.id)).mappings()
            return [api_key_from_row(r) for r in rows]

    def for_app(self, user_id: str, app_id: str) -> list[ApiKey]:
        c = api_keys.c
        query = select(api_keys).where(c.user_id == user_id, c.app_id == app_id).order_by(c.id)
        with self.catalog.begin() as conn:
            return [api_key_from_row(r) for r in conn.execute(query).mappings()]

    def users_of(self, user_id: str, app_id: str, key_id: str) -> list[str]:
        """Collectors of the app that post inputs with this key."""
        c = collectors.c
        query = select(c.id).where(
            c.user_id == user_id, c.app_id == app_id, c.post_inputs_key_id == key_id
        )
        with self.catalog.begin() as conn:
            return list(conn.execute(query.order_by(c.id)).scalars())

    def delete(self, user_id: str, app_id: str, key_id: str) -> bool:
        with self.catalog.begin() as conn:
            result = conn.execute(delete(api_keys).where(by_id(api_keys, user_id, app_id, key_id)))
        return bool(result.rowcount)


def api_key_from_row(row: Any) -> ApiKey:
    return from_row(ApiKey, row, scopes=list(row["scopes"]))
