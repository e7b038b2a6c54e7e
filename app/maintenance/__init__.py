"""Maintenance orders: planned → approved → in_progress → completed (or cancelled)."""
