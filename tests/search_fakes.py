"""The outside internet, on 127.0.0.1: search APIs speaking their real wire formats, and result pages.

SearXNG's ``/search?format=json`` shape is that of a real instance (a 403 when the format is not
enabled), Bing v7's ``webPages.value`` and Tavily's ``results`` likewise. Queries containing
``ratelimit`` get a 429, as a throttled engine answers; under ``/nojson`` the instance has the
JSON format disabled, as a fresh SearXNG does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PAGES = {
    "solar": (
        "Solar panels",
        "<html><head><title>Solar</title><script>var x = 'ignored';</script></head><body>"
        "<nav>Home | About</nav><p>Photovoltaic cells turn sunlight into electricity.</p>"
        + "<p>Unrelated filler about gardening and weather. </p>" * 40
        + "<p>The Zephyrine solar farm produces 42 megawatts on average.</p></body></html>",
    ),
    "wind": (
        "Wind turbines",
        "<html><body><p>Wind turbines convert kinetic energy of air.</p></body></html>",
    ),
    "hydro": ("Hydropower", "<html><body><p>Dams store water to generate power.</p></body></html>"),
    "tides": ("Tidal power", "<html><body><p>Tides are predictable.</p></body></html>"),
}


@dataclass
class FakeInternet:
    url: str
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def searxng_results(self, query: str) -> list[dict]:
        """What the instance answers for ``query``: every page in PAGES order, titles tagged with it."""
        return [
            {
                "url": f"{self.url}/page/{slug}",
                "title": f"{title} — {query}",
                "content": f"Snippet {n} about {title.lower()}.",
                "engine": "duckduckgo",
                "parsed_url": ["http", self.url.split("//")[1], f"/page/{slug}", "", "", ""],
                "template": "default.html",
                "engines": ["duckduckgo", "brave"],
                "positions": [n],
                "score": 2.0 / n,
                "category": "general",
            }
            for n, (slug, (title, _)) in enumerate(PAGES.items(), start=1)
        ]


def _handler(state: FakeInternet) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, data: object, status: int = 200) -> None:
            self._send(status, json.dumps(data).encode(), "application/json")

        def _query(self) -> tuple[str, dict[str, list[str]]]:
            parts = urlsplit(self.path)
            params = parse_qs(parts.query)
            state.queries.append(params)
            state.headers.append(dict(self.headers))
            return parts.path, params

        def do_GET(self) -> None:  # noqa: N802
            path, params = self._query()
            q = params.get("q", [""])[0]
            if path in ("/search", "/nojson/search"):
                if params.get("format") != ["json"] or path.startswith("/nojson"):
                    return self._send(403, b"<html>403 Forbidden</html>", "text/html")
                if "ratelimit" in q:
                    return self._send(429, b"Too Many Requests", "text/plain")
                results = state.searxng_results(q)
                return self._json(
                    {
                        "query": q,
                        "number_of_results": len(results),
                        "results": results,
                        "answers": [],
                        "corrections": [],
                        "infoboxes": [],
                        "suggestions": [],
                        "unresponsive_engines": [],
                    }
                )
            if path == "/v7.0/search":
                if not self.headers.get("Ocp-Apim-Subscription-Key"):
                    return self._json({"error": {"code": "401", "message": "Access denied"}}, 401)
                count = int(params.get("count", ["10"])[0])
                value = [
                    {
                        "id": f"https://api.bing.microsoft.com/api/v7/#WebPages.{i}",
                        "name": f"Bing {i} {q}",
                        "url": f"https://example.org/{i}",
                        "snippet": f"Bing snippet {i}",
                        "displayUrl": "example.org",
                        "language": "en",
                        "isFamilyFriendly": True,
                    }
                    for i in range(count)
                ]
                return self._json(
                    {
                        "_type": "SearchResponse",
                        "queryContext": {"originalQuery": q},
                        "webPages": {"webSearchUrl": "https://www.bing.com/search", "value": value},
                    }
                )
            if path.startswith("/go/"):  # a redirect to the page, as link shorteners answer
                self.send_response(302)
                self.send_header("Location", f"/page/{path[4:]}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if path.startswith("/page/") and path[6:] in PAGES:
                return self._send(200, PAGES[path[6:]][1].encode(), "text/html; charset=utf-8")
            self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:  # noqa: N802
            path, _ = self._query()
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            state.queries.append({"json": [json.dumps(body)]})
            if path == "/tavily/search":
                n = int(body.get("max_results", 5))
                results = [
                    {
                        "title": f"Tavily {i}",
                        "url": f"https://example.com/{i}",
                        "content": f"T{i}",
                        "score": 0.9 - i / 10,
                        "raw_content": None,
                    }
                    for i in range(n)
                ]
                return self._json(
                    {
                        "query": body.get("query"),
                        "answer": None,
                        "images": [],
                        "results": results,
                        "response_time": 0.5,
                    }
                )
            self._send(404, b"not found", "text/plain")

    return Handler


@contextmanager
def fake_internet() -> Iterator[FakeInternet]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(None))  # type: ignore[arg-type]
    state = FakeInternet(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
