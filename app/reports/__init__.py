"""Figures for the county: the dashboard now, the annual report."""
