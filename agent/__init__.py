"""The lessonwatch agent: lesson-scheduled probes, on-device evaluation, a durable outbox.

Runs on school-managed laptops. Outside scheduled lessons it samples nothing; during a lesson it
gathers observations, lets ``policies.engine.evaluate`` decide, folds the findings into one
``policies.wire.LessonSummary`` per lesson and sends that summary after the lesson.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
