"""Devices: enrolment, the device register, the token cache and the config a device fetches."""
