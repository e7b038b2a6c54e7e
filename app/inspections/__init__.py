"""Patrol reports from the phone: submission, photos, review."""
