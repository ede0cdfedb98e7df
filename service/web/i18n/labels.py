"""Words the pages show for values the code stores: weekdays, months, lesson states, roles,
audit actions and the choices of the forms. Each table maps the stored value to its English
msgid, marked with ``N_`` so the extractor finds it; the page translates it when shown::

    t(labels.WEEKDAYS[day.weekday()])      # "maandag"
    {{ _(labels.ROLES[user.role]) }}       # in a template: "docent"

``label`` shows a value the table does not know as it is, so a new audit action is readable
(in English) before it has a translation.
"""

from __future__ import annotations

from collections.abc import Mapping

from service.locale import N_

WEEKDAYS = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)
# MONTHS[1] is January; MONTHS[0] is never shown.
MONTHS = (
    "",
    N_("January"),
    N_("February"),
    N_("March"),
    N_("April"),
    N_("May"),
    N_("June"),
    N_("July"),
    N_("August"),
    N_("September"),
    N_("October"),
    N_("November"),
    N_("December"),
)
LESSON_STATES = {
    "upcoming": N_("upcoming"),
    "in_progress": N_("in progress"),
    "done": N_("done"),
    "cancelled": N_("cancelled"),
}
ROLES = {
    "admin": N_("administrator"),
    "leader": N_("school leader"),
    "teacher": N_("teacher"),
    "it": N_("IT staff"),
}
# Every action the code writes to the audit log (tests/web/test_audit_log.py finds them in the
# code and checks that each one is here).
AUDIT_ACTIONS = {
    "audit.export": N_("audit log exported"),
    "devices.view": N_("viewed per-device data"),
    "device.enroll": N_("device enrolled"),
    "device.update": N_("device changed"),
    "device.retire": N_("device retired"),
    "device.export": N_("device data exported"),
    "device.erase": N_("device erased"),
    "enroll_code.create": N_("enrolment code created"),
    "enroll_code.revoke": N_("enrolment code revoked"),
    "enroll_code.retire_devices": N_("devices of an enrolment code retired"),
    "groupchat.create": N_("group chat registered"),
    "groupchat.update": N_("group chat changed"),
    "groupchat.delete": N_("group chat deleted"),
    "groupchat.export": N_("group-chat register exported"),
    "holidays.import": N_("holidays imported"),
    "holidays.forget": N_("own holidays removed"),
    "lesson.add": N_("lesson added"),
    "lesson.edit": N_("lesson edited"),
    "lesson.edit_clear": N_("lesson edits cleared"),
    "permission.grant": N_("permission given"),
    "permission.withdraw": N_("permission withdrawn"),
    "policy.save": N_("policy saved"),
    "report.export": N_("reports exported"),
    "report.view": N_("report viewed"),
    "school.add": N_("school added"),
    "school.closed_platform": N_("closed platform set"),
    "school.holiday_region": N_("holiday region set"),
    "school.settings": N_("school settings changed"),
    "signin": N_("signed in"),
    "signin.failed": N_("sign-in failed"),
    "signin.locked": N_("account locked"),
    "signin.refused_demo": N_("sign-in refused: demo account"),
    "signin.refused_locked": N_("sign-in refused: account locked"),
    "signin.sso_failed": N_("school sign-in failed"),
    "signin.sso_unknown": N_("school sign-in: unknown account"),
    "signout": N_("signed out"),
    "timetable.source_add": N_("timetable source added"),
    "timetable.source_remove": N_("timetable source removed"),
    "timetable.sync": N_("timetable synced"),
    "token.create": N_("API token created"),
    "token.revoke": N_("API tokens revoked"),
    "user.add": N_("user added"),
    "user.disable": N_("user disabled"),
    "user.enable": N_("user enabled"),
}
DISCLOSURES = {
    "aggregate": N_("no, totals only"),
    "pseudonymous": N_("yes, pseudonymous"),
}
PROBES = {
    "processes": N_("programs"),
    "capture_files": N_("new capture files"),
    "camera": N_("the camera"),
    "microphone": N_("the microphone"),
    "window_title": N_("window titles"),
}
SEVERITIES = {"violation": N_("violation"), "warning": N_("warning")}
PLATFORM_KINDS = {
    "messaging": N_("messaging app"),
    "social_media": N_("social media"),
    "school_platform": N_("school platform"),
}
CHAT_ACCOUNTS = {"school": N_("a school account"), "private": N_("my private account")}
CHAT_PURPOSES = {
    "cancelled_lessons": N_("cancelled lessons"),
    "homework": N_("homework"),
    "gym_kit": N_("gym kit"),
    "trips": N_("trips"),
    "camp": N_("camp"),
    "schedule": N_("timetable"),
    "other": N_("something else"),
}
CHAT_ALTERNATIVES = {
    "none": N_("not arranged"),
    "mail": N_("by e-mail"),
    "post": N_("by post"),
    "school_platform": N_("on the school platform"),
    "other": N_("another way"),
}
CHAT_FINDINGS = {
    "whatsapp": N_("Chat in WhatsApp"),
    "closed_platform_available": N_("Not on the school's closed platform"),
    "below_minimum_age": N_("Pupils below the platform's minimum age"),
    "no_parental_consent": N_("No parental consent recorded"),
    "non_members_not_informed": N_("Pupils outside the chat not informed"),
    "private_account": N_("Private account"),
    "not_school_platform": N_("Another school platform than the school's"),
    "purpose_outside_class_matters": N_("Purpose outside class matters"),
    "platform_not_in_catalog": N_("Platform no longer in the catalog"),
}
SOURCE_KINDS = {
    "ical_url": N_("iCalendar feed"),
    "ical_file": N_("iCalendar file"),
    "zermelo": N_("Zermelo"),
    "csv": N_("CSV file"),
    "pattern": N_("weekly pattern"),
}
SYNC_RESULTS = {
    "ok": N_("ok"),
    "failed": N_("failed"),
    "refused": N_("refused"),
    "busy": N_("busy"),
}
# What a sync did, shown as "lessons: 12 · added: 3".
SYNC_COUNTS = {
    "lessons": N_("lessons"),
    "inserted": N_("added"),
    "updated": N_("changed"),
    "cancelled": N_("cancelled"),
    "removed": N_("removed"),
    "kept_cancelled": N_("kept as cancelled"),
}
EDITED_FIELDS = {
    "time": N_("time"),
    "teacher": N_("teacher"),
    "room": N_("room"),
    "remote": N_("remote"),
    "cancelled": N_("cancelled"),
}
UPLOAD_STATES = {"reading": N_("Reading the file…"), "applying": N_("Importing…")}
PLAN = {
    "inserts": N_("to add"),
    "updates": N_("to change"),
    "cancellations": N_("to cancel"),
    "removals": N_("to remove"),
    "unchanged": N_("unchanged"),
    "frozen": N_("over, left as they were"),
}
REGIONS = {"noord": N_("north"), "midden": N_("middle"), "zuid": N_("south")}


def label(table: Mapping[str, str], value: str) -> str:
    """The msgid for ``value``, or the value itself when the table does not know it."""
    return table.get(value, value)
