"""Repositories: SQL for one aggregate each, returning `spyglass.domain` dataclasses.

Each takes the SQLAlchemy session of the current unit of work (`OltpStore.session()`)
and never commits; the unit of work decides. Naming: `get_*` raises `NotFound`,
`find_*` returns `None`, `list_*` returns a list.
"""

from spyglass.storage.oltp.repositories.api_keys import ApiKeyRepository
from spyglass.storage.oltp.repositories.datasets import DatasetRepository
from spyglass.storage.oltp.repositories.media import MediaRepository
from spyglass.storage.oltp.repositories.models import ModelRepository
from spyglass.storage.oltp.repositories.organizations import OrganizationRepository
from spyglass.storage.oltp.repositories.projects import ProjectRepository
from spyglass.storage.oltp.repositories.prompts import PromptRepository
from spyglass.storage.oltp.repositories.users import UserRepository

__all__ = [
    "ApiKeyRepository",
    "DatasetRepository",
    "MediaRepository",
    "ModelRepository",
    "OrganizationRepository",
    "ProjectRepository",
    "PromptRepository",
    "UserRepository",
]
