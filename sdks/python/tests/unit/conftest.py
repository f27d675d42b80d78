from __future__ import annotations

from typing import Iterator

import pytest

from .stub import Stub


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.close()
