"""`policywatch web`: the subscription page (double opt-in, one-click unsubscribe, preferences) and the archive site,
as one small ASGI app (Starlette, served by uvicorn). It imports the kernel, deliver and archive only."""
