"""``accord init``: bring a node's database to the newest schema and register its agencies."""

from __future__ import annotations

from typing import Any

from services.agencies import service as agencies
from services.db.migrate import upgrade_to_head
from services.db.session import Database
from services.settings import Settings


async def initialise_node(settings: Settings, hosted: list[tuple[str, str]]) -> dict[str, Any]:
    upgrade_to_head(settings.database_url)
    db = Database.open(settings)
    try:
        async with db.sessions.begin() as session:
            rows = []
            for slug, name in hosted:
                agency, created = await agencies.ensure_hosted(session, slug=slug, name=name)
                rows.append({"agency": agency.slug, "name": agency.name, "created": created})
    finally:
        await db.close()
    return {"agencies": rows}
