"""Local stand-ins for external services, usable across processes in tests and demos."""

from tests.fakes.openai_server import FakeOpenAI

__all__ = ["FakeOpenAI"]
