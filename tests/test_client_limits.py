"""A hostile or broken API must not exhaust or hang the operator, which runs every tenant's inline part.

A real HTTP server on 127.0.0.1 misbehaves in the ways issue 11 names: a gzip bomb (sent although the
client asks for `Accept-Encoding: identity`), a body trickled a byte at a time so that no single read
times out, and JSON nested deeper than Python's parser can go. Each ends as a typed, one-line
`EmployesError` within the client's limits, never as a traceback or an unbounded allocation.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp.web
import pytest

from employes_sync.employes.client import EmployesClient, MiB
from employes_sync.employes.errors import MalformedResponseError, ResponseTooLargeError, TransportError
from employes_sync.employes.fakedata import generate_company
from tests.fixtures.network import served
from tests.reliability import rows

COMPANY = "00000000-0000-4000-8000-000000000001"
LIMIT = 1 * MiB


def _page(count: int = 3) -> dict[str, Any]:
    employees = [person.employee for person in generate_company(count, seed=3)]
    return {"data": employees, "total": count, "pages": 1, "page": 1, "per_page": 100}


def _bomb(inflated: int) -> bytes:
    """`inflated` bytes of a JSON-looking body, gzip-compressed to about a thousandth of that."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(b'{"data": ["')]
    block = b"A" * MiB
    for _ in range(inflated // MiB):
        parts.append(packer.compress(block))
    parts.append(packer.compress(b'"]}'))
    parts.append(packer.flush())
    return b"".join(parts)


@dataclass
class Hostile:
    """The misbehaving API: the first path segment picks the misbehaviour."""

    url: str = ""
    accept_encodings: list[str] = field(default_factory=list)
    trickled: int = 0
    bomb: bytes = b""

    async def handle(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        self.accept_encodings.append(request.headers.get("Accept-Encoding", ""))
        mode = request.match_info["mode"]
        if mode == "bomb":
            return aiohttp.web.Response(
                body=self.bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
            )
        if mode == "gzip":
            body = gzip.compress(json.dumps(_page()).encode())
            return aiohttp.web.Response(
                body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
            )
        if mode == "brotli":
            return aiohttp.web.Response(
                body=b"\x0b\x02\x80{}\x03",
                headers={"Content-Encoding": "br", "Content-Type": "application/json"},
            )
        if mode == "corrupt-gzip":
            body = gzip.compress(json.dumps(_page()).encode())[:-20]
            return aiohttp.web.Response(
                body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
            )
        if mode == "deep":
            return aiohttp.web.Response(
                body=b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", content_type="application/json"
            )
        if mode == "trickle":
            response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            try:
                for byte in json.dumps(_page()).encode():
                    await response.write(bytes([byte]))
                    self.trickled += 1
                    await asyncio.sleep(0.05)  # each read is quick; the whole body would take minutes
            except (ConnectionResetError, aiohttp.ClientConnectionResetError):
                pass
            return response
        return aiohttp.web.json_response(_page())


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    server = Hostile()
    app = aiohttp.web.Application()
    app.router.add_get("/{mode}/{company}/employees", server.handle)
    async with served(app) as port:
        server.url = f"http://127.0.0.1:{port}"
        yield server


def client(server: Hostile, mode: str, **options: Any) -> EmployesClient:
    defaults: dict[str, Any] = {"requests_per_second": 0, "max_retries": 0, "max_response_bytes": LIMIT}
    return EmployesClient(f"{server.url}/{mode}", COMPANY, "tok", **{**defaults, **options})


async def test_an_honest_server_is_asked_for_an_uncompressed_body(hostile: Hostile) -> None:
    async with client(hostile, "plain") as c:
        page = await c.get_employee_page(1)
    assert len(page.employees) == 3
    assert hostile.accept_encodings == ["identity"]


async def test_a_gzip_body_sent_anyway_is_inflated_and_parsed(hostile: Hostile) -> None:
    async with client(hostile, "gzip") as c:
        page = await c.get_employee_page(1)
    assert [e["id"] for e in page.employees] == [p.employee["id"] for p in generate_company(3, seed=3)]


@pytest.mark.fault(*rows.A_GZIP_BOMB_IS_REFUSED_WITHOUT_INFLATING_IT)
async def test_a_gzip_bomb_is_refused_without_inflating_it(hostile: Hostile) -> None:
    hostile.bomb = _bomb(256 * MiB)
    assert len(hostile.bomb) < LIMIT  # small on the wire: the Content-Length check cannot catch it
    async with client(hostile, "bomb") as c:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLargeError) as caught:
                await c.get_employee_page(1)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert f"limit {LIMIT}" in str(caught.value) and "\n" not in str(caught.value)
    # What was held: about the limit (zlib's growing output buffer may briefly double it), not the
    # 256 MiB the body inflates to (before: 142 MiB held for a 1 MiB limit).
    assert peak < 4 * LIMIT, f"peak {peak / MiB:.1f} MiB while refusing a bomb"
    print(f"gzip bomb: peak {peak / MiB:.2f} MiB traced for a {LIMIT / MiB:.0f} MiB limit")


@pytest.mark.fault(*rows.AN_UNKNOWN_OR_CORRUPT_ENCODING_IS_A_MALFORMED_RESPONSE)
async def test_an_unknown_or_corrupt_encoding_is_a_malformed_response(hostile: Hostile) -> None:
    async with client(hostile, "brotli") as c:
        with pytest.raises(MalformedResponseError, match="encoding it was not asked for") as caught:
            await c.get_employee_page(1)
    assert caught.value.transient is False
    async with client(hostile, "corrupt-gzip") as c:
        with pytest.raises(MalformedResponseError, match="does not decompress"):
            await c.get_employee_page(1)


@pytest.mark.fault(*rows.A_TRICKLING_SERVER_MEETS_THE_TOTAL_DEADLINE)
async def test_a_trickling_server_meets_the_total_deadline(hostile: Hostile) -> None:
    async with client(hostile, "trickle", timeout=0.5) as c:
        with pytest.raises(TransportError, match=r"did not answer within 0\.5 s") as caught:
            await c.get_employee_page(1)
    assert caught.value.transient
    body = len(json.dumps(_page()))
    # The client hung up long before the server was done (every single read was within 0.5 s).
    await asyncio.sleep(0.2)
    assert 0 < hostile.trickled < body


async def test_a_trickling_server_is_retried_then_reported(hostile: Hostile) -> None:
    async with client(hostile, "trickle", timeout=0.3, max_retries=1, backoff_base=0.01) as c:
        with pytest.raises(TransportError):
            await c.get_employee_page(1)
    assert len(hostile.accept_encodings) == 2


@pytest.mark.fault(*rows.JSON_NESTED_DEEPER_THAN_THE_PARSER_IS_A_MALFORMED_RESPONSE)
async def test_json_nested_deeper_than_the_parser_is_a_malformed_response(hostile: Hostile) -> None:
    async with client(hostile, "deep", max_response_bytes=4 * MiB) as c:
        with pytest.raises(MalformedResponseError, match="nested too deeply") as caught:
            await c.get_employee_page(1)
    assert "\n" not in str(caught.value) and "[[" not in str(caught.value)
