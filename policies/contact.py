"""When a device talks to the collector: around the school day only (issue 15, point 3).

The agent plans its config polls and uploads by these numbers (``agent.schedule``); the
explanation for pupils (``policies.explain``: ``lessonwatch-agent explain`` and the collector's
``/privacy`` page) states them. One place, so what pupils read is what the agent does.
"""

from __future__ import annotations

from datetime import time, timedelta

# From CONTACT_LEAD before a day's first lesson until CONTACT_TAIL after its last one's summary
# may be sent. A laptop switched on at home in the evening or at the weekend asks nothing and
# sends nothing, so the collector cannot learn when it is in use outside school.
CONTACT_LEAD = timedelta(minutes=30)
CONTACT_TAIL = timedelta(minutes=30)
# Lessons less than this apart belong to one school day (no time zone is needed to tell days).
DAY_GAP = timedelta(hours=6)
# With no lesson known ahead: once on a school day the device is on, within these hours of the
# school's zone, to learn the timetable.
SCHOOL_HOURS = (time(7, 0), time(17, 0))
