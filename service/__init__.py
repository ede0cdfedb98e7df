"""The central collector: enrolment, timetable and policy distribution, ingestion, reports.

Nothing is built at import time: ``service.app.create_app(settings)`` builds the FastAPI app,
``service.cli.main`` is the ``lessonwatch-service`` command. Framework-free use cases
(``enrolment``, ``agent_config``, ``ingest``, ``reports``, ``retention``) take a keyword-only
``session`` and ``now``; the route modules in ``service.routes`` only parse, call and map errors.
"""
