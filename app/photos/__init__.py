"""Photos of inspections and maintenance work: checked, cleaned, content-addressed, scoped."""
