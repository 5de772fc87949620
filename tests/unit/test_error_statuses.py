"""Domain errors carry no HTTP knowledge; the backend gives each kind its status in one place."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from server.api.errors import domain_error_response, http_status
from server.auth.errors import TooManyAttempts, Unauthorized
from server.core import errors
from server.knowledge_base.errors import FileNotInKnowledgeBase, InvalidName, KnowledgeBaseNotFound
from server.search.errors import EngineUnavailable, UnknownEngine


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidInput, 400),
        (InvalidName, 400),
        (Unauthorized, 401),
        (errors.Forbidden, 403),
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
    assert response.json() == {
        "code": 404,
        "msg": "knowledge base 'x' does not exist",
        "data": None,
        "error": "knowledge_base_not_found",  # a stable code a client in another language can translate
    }


def test_access_errors_carry_the_headers_http_asks_for() -> None:
    """A client learns how to authenticate from a 401, and when to try again from a 429."""
    app = FastAPI()
    app.add_exception_handler(errors.DomainError, domain_error_response)

    @app.get("/me")
    async def anonymous() -> None:
        raise Unauthorized("not signed in")

    @app.post("/token")
    async def throttled() -> None:
        raise TooManyAttempts("too many failed logins", retry_after=42)

    client = TestClient(app)
    refused = client.get("/me")
    assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
    assert refused.json()["msg"] == "not signed in"
    slowed = client.post("/token")
    assert (slowed.status_code, slowed.headers["retry-after"]) == (429, "42")
    assert "www-authenticate" not in slowed.headers
