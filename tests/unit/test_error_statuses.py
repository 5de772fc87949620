"""Domain errors carry no HTTP knowledge; the backend gives each kind its status in one place."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from server.api.errors import domain_error_response, http_status
from server.core import errors
from server.knowledge_base.errors import FileNotInKnowledgeBase, InvalidName, KnowledgeBaseNotFound
from server.search.errors import EngineUnavailable, UnknownEngine


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidInput, 400),
        (InvalidName, 400),
        (UnknownEngine, 400),
        (errors.NotFound, 404),
        (KnowledgeBaseNotFound, 404),
        (FileNotInKnowledgeBase, 404),
        (errors.Conflict, 409),
        (errors.PayloadTooLarge, 413),
        (errors.RateLimited, 429),
        (errors.UpstreamError, 502),
        (errors.Unavailable, 503),
        (EngineUnavailable, 503),
        (errors.DomainError, 500),
    ],
)
def test_each_kind_of_error_has_its_status(error: type[errors.DomainError], status: int) -> None:
    assert http_status(error("why")) == status


def test_domain_errors_know_nothing_of_http() -> None:
    for kind in vars(errors).values():
        if isinstance(kind, type) and issubclass(kind, errors.DomainError):
            assert not hasattr(kind, "status_code"), kind


def test_the_handler_answers_in_chatchats_envelope() -> None:
    app = FastAPI()
    app.add_exception_handler(errors.DomainError, domain_error_response)

    @app.get("/kb")
    async def missing() -> None:
        raise KnowledgeBaseNotFound("knowledge base 'x' does not exist")

    response = TestClient(app).get("/kb")
    assert response.status_code == 404
    assert response.json() == {"code": 404, "msg": "knowledge base 'x' does not exist", "data": None}
