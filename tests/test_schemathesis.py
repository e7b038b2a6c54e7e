"""The API keeps the promises of its own OpenAPI document (Schemathesis, issue 11).

Every operation of ``/openapi.json``, read from the app in-process (no server), is sent
the cases Schemathesis derives from the schema (its coverage phase: every boundary and
every way to break each field) and a few random ones, valid and invalid. Each case goes
out as the county's admin and again as township A's user, against a fresh database with
the ``world`` of the other tests, and each answer must hold to four checks:

- ``not_a_server_error``: never a 5xx;
- ``status_code_conformance``: only statuses the operation documents;
- ``response_schema_conformance``: the body the document gives for that status;
- ``negative_data_rejection``: input the schema forbids is refused with a 4xx.

Nothing is excluded. Runs are repeatable (derandomized) and keep no example database.
One test per operation and database, so ``make test`` spreads them over its workers.
"""

import tempfile
from pathlib import Path

import hypothesis
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from tests.conftest import make_settings
from tests.factories import World

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
#: who sends each case: the county's admin, and a township user (township A)
CALLERS = ("admin", "township")
#: random cases per operation, on top of the coverage phase's (which dominate the time)
MAX_EXAMPLES = 10

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "deterministic": True, "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}},
    }
)


def _openapi_app() -> FastAPI:
    """An app to read the OpenAPI document from; its database is never opened. Built at
    collection time (in every xdist worker), its folder is removed when the process ends."""
    folder = Path(_FOLDER.name)
    return create_app(make_settings(folder, f"sqlite:///{folder / 'unused.db'}"))


#: removed when the process ends (the object's finalizer)
_FOLDER = tempfile.TemporaryDirectory(prefix="memorial-openapi-")


schema = schemathesis.openapi.from_asgi("/openapi.json", _openapi_app(), config=CONFIG)


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # no shrinking: a failure is reported as found, with a curl line to replay it
    phases=[Phase.explicit, Phase.generate],
    # one database per operation, shared by its cases (they are requests, not fixtures)
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_the_api_answers_as_its_openapi_document_says(
    case: schemathesis.Case, app: FastAPI, world: World
) -> None:
    for who in CALLERS:
        case.call_and_validate(app=app, headers=world.headers(who), checks=CHECKS)
