"""A Toxiproxy 2.x-compatible TCP proxy with toxics, on asyncio.

The chaos suite uses it whenever nothing answers at `TOXIPROXY_URL`; docker
compose and anyone with the real Go binary use Shopify's. Its HTTP API, error
messages and toxic semantics follow Toxiproxy's own source, so the suite
behaves the same against both:

    python -m chaos.toxiproxy -host 127.0.0.1 -port 8474 -config chaos/toxiproxy.json
"""
