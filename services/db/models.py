"""Every ORM model, imported so that Alembic's autogenerate and the drift test see them all."""

from services.agencies.models import Agency
from services.db.base import Base

target_metadata = Base.metadata

__all__ = ["Agency", "target_metadata"]
