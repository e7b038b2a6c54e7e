"""Coordinates: CRS conversion (WGS-84, GCJ-02, BD-09), distances and the county's outline."""
