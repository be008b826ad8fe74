"""The seed's polls example: a public list and three protected views, plus /api/me."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from oauth_middleware import AUTO, get_access_token
from oauth_middleware.scopes import ScopeSpec


@dataclass
class Poll:
    question: str
    choices: list[str]
    votes: dict[str, int] = field(default_factory=dict)


POLLS: dict[int, Poll] = {
    1: Poll("Which transport should carry a bearer token?", ["header", "form body", "query"]),
    2: Poll("How long should an authorization code live?", ["1 minute", "10 minutes", "a day"]),
}

#: The middleware's scope mapping: the seed's three ways of declaring a scope.
SCOPES: dict[str, ScopeSpec] = {
    "/polls/{poll_id}/stats": "my_polls:my_stats",      # explicit
    "/polls/{poll_id}/results": AUTO,                    # derived: polls:results
    "POST /polls/{poll_id}/vote": "polls:vote",          # method-specific
    "/api/me": [],                                       # any valid token
}


def _acting_user(request: Request) -> str | None:
    """The user the token acts for; None for a client's own token (client_credentials)."""
    token = get_access_token(request)
    return None if token is None else token.user


def _poll(request: Request) -> tuple[int, Poll] | Response:
    try:
        poll_id = int(request.path_params["poll_id"])
        return poll_id, POLLS[poll_id]
    except (ValueError, KeyError):
        return JSONResponse({"error": "no such poll"}, status_code=404)


async def index(request: Request) -> Response:
    return JSONResponse([{"id": pid, "question": p.question, "choices": p.choices}
                         for pid, p in POLLS.items()])


async def results(request: Request) -> Response:
    found = _poll(request)
    if isinstance(found, Response):
        return found
    poll_id, poll = found
    return JSONResponse({"poll": poll_id, "question": poll.question,
                         "results": {c: poll.votes.get(c, 0) for c in poll.choices}})


async def stats(request: Request) -> Response:
    found = _poll(request)
    if isinstance(found, Response):
        return found
    poll_id, poll = found
    return JSONResponse({"poll": poll_id, "total_votes": sum(poll.votes.values()),
                         "viewer": _acting_user(request)})


async def vote(request: Request) -> Response:
    found = _poll(request)
    if isinstance(found, Response):
        return found
    poll_id, poll = found
    choice = (await request.form()).get("choice")
    if not isinstance(choice, str) or choice not in poll.choices:
        return JSONResponse({"error": "choice must be one of the poll's choices",
                             "choices": poll.choices}, status_code=400)
    poll.votes[choice] = poll.votes.get(choice, 0) + 1
    return JSONResponse({"poll": poll_id, "voted": choice, "by": _acting_user(request)})


async def me(request: Request) -> Response:
    token = get_access_token(request)
    if token is None:  # the middleware refuses first; this keeps the endpoint honest alone
        return JSONResponse({"error": "no token"}, status_code=401)
    # A client_credentials token acts for no user: "user" is null, never the client id.
    return JSONResponse({"user": token.user, "client_id": token.client_id,
                         "scopes": sorted(token.scopes)})


routes = [
    Mount("/polls", name="polls", routes=[
        Route("/", index),
        Route("/{poll_id}/results", results),
        Route("/{poll_id}/stats", stats),
        Route("/{poll_id}/vote", vote, methods=["POST"]),
    ]),
    Route("/api/me", me),
]
