"""An event loop that ends while the pool connects ends at once.

A serverless runtime (and TestClient without its `with` block) runs each
request in an event loop of its own and ends it with asyncio.run's shutdown,
which cancels every task left and waits for them. The pool's worker may be
in the middle of a connection attempt then; the loop must not wait for it
forever. The server here accepts TCP on 127.0.0.1 and never answers, so the
attempt is in flight when the loop ends, every time.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from service.db.pool import create_pool
from service.settings import Settings
from tests.support.api import TEST_SECRET

# Far beyond the loop's lifetime: only cancellation can end the attempt.
CONNECT_TIMEOUT_SECONDS = 30
BOUND = 5.0


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port whose server completes TCP handshakes and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


async def serve_one_request(conninfo: str) -> None:
    settings = Settings(
        jwt_access_secret=TEST_SECRET,
        database_pool_min_size=1,
        database_connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
    )
    pool = create_pool(conninfo, settings)
    await pool.open(wait=False)
    # The worker is now waiting for the silent server's first byte.
    await asyncio.sleep(0.3)


def test_a_loop_ending_mid_connection_attempt_ends(silent_server: int) -> None:
    conninfo = f"host=127.0.0.1 port={silent_server} user=nobody dbname=none sslmode=disable"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(serve_one_request(conninfo))
        except BaseException as exc:
            errors.append(exc)

    loop_thread = threading.Thread(target=run, daemon=True)
    loop_thread.start()
    loop_thread.join(BOUND)
    assert not loop_thread.is_alive(), "the event loop waited for the pool's worker"
    assert errors == []
