"""The client tests run against the same real app and server fixtures as the service tests."""

from tests.service.conftest import app, keys, live_server  # noqa: F401
