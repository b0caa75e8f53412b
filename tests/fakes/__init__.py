"""Local stand-ins for external services, usable across processes in tests and demos.

Import from the modules (``tests.fakes.openai_server``) so ``python -m`` can run them directly.
"""
