"""The web application for review teams (Starlette + Jinja2 + htmx, served by uvicorn).

A thin edge over the domain: the evidence store and its validator, the review's analyses and
the report's figures. Start it with ``sci-evidence serve``; build it in code with
:func:`sci_evidence.web.app.create_app`. See ``docs/web.md``.
"""
