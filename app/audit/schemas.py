from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_id: int | None
    actor_username: str | None
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    #: SHA-256 of the entry before this one (64 zeros for the first): the audit chain
    prev_hash: str
    #: SHA-256 of this entry's canonical form (see ``memorial audit-verify``)
    entry_hash: str
