"""Simulated registries and gateways for development and tests (docs/sandbox-api.md).

Run with `python -m motcua.sandbox --port 8100 --seed 42 --citizens 10000`; build in-process
with `motcua.sandbox.app.create_app(seed, citizens)`.
"""
