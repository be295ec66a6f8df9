"""Entry points: the rls-iam command and the server it starts."""

from service.cli.command import main

__all__ = ["main"]
