"""The request/response style's scoring service: ``POST /score`` (a transaction's data as
JSON) answers ``{"tx_id", "score"}``; Starlette on uvicorn, one process.

Run as ``python -m edalab.bench._rr_http PORT SEED``.
"""

from __future__ import annotations

import sys

__all__ = ["service"]


def service(seed: int):
    """The Starlette app around one `Scorer`."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from edalab.bench._rr_work import Scorer

    scorer = Scorer(seed)

    async def score(request: Request) -> JSONResponse:
        data = await request.json()
        return JSONResponse({"tx_id": data["TX_ID"], "score": scorer.score(data)})

    return Starlette(routes=[Route("/score", score, methods=["POST"])])


if __name__ == "__main__":
    import uvicorn

    port, seed = int(sys.argv[1]), int(sys.argv[2])
    uvicorn.run(service(seed), host="127.0.0.1", port=port, log_level="warning")
