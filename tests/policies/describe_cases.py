"""An override that changes every kind of thing ``policies.describe.differences`` words: shared by
its tests and by the Dutch samples of the catalog test, so each message is reached."""

from __future__ import annotations

from policies import effective_document, policy_from_document
from policies.model import Policy

EVERY_CHANGE = """
version = 1

[settings]
sample_seconds = 1
grace_seconds = 30
upload_delay_max_seconds = 300
window_title_probe = true
browser_reminder = true
disclosure = "pseudonymous"
small_count_threshold = 5
device_allow_categories = []

[rules."a1-video-streaming"]
enabled = true

[rules."a1-social-media"]
enabled = false

[categories.gaming]
label.nl = "gamen"
label.en = "gaming"

[[rule]]
id = "x-gaming"
article = "X.1"
applies_to = ["lesson"]
categories = ["gaming"]
permission_lifts = false
severity = "warning"
statement.nl = "Tijdens de les geen spellen."
statement.en = "No games during lessons."

[family.roblox]
name = "Roblox"
category = "gaming"
windows.exe = ["RobloxPlayerBeta.exe"]
browser.domain = ["roblox.com"]

[extend.obs]
linux.flatpak_id = ["com.example.obs-portable"]

[capture]
image = [".jxl"]
audio = [".qcp"]
"""


def changed() -> Policy:
    return policy_from_document(effective_document([("school.toml", EVERY_CHANGE)]))
