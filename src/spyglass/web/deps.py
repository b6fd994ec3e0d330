"""Request dependencies: the services handle and the caller's project scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from spyglass.domain.access import ProjectScope
from spyglass.services.container import Services


# Pure dependencies are async: FastAPI would run a sync one on the threadpool, a thread
# hop per request for no I/O at all.
async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def _any_scope(request: Request, services: ServicesDep) -> ProjectScope:
    return services.projects.authenticate(request.headers.get("authorization"))


async def _project_scope(scope: Annotated[ProjectScope, Depends(_any_scope)]) -> ProjectScope:
    return scope.require_project_access()


# Basic auth with public + secret key: every route but the score writers requires it.
ProjectScopeDep = Annotated[ProjectScope, Depends(_project_scope)]
# Also accepts a Bearer public key (Langfuse's "scores" access level).
ScoreWriterScopeDep = Annotated[ProjectScope, Depends(_any_scope)]
