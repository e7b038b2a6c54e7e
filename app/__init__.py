"""Memorial Patrol: registry, patrols, maintenance and funds for martyr memorial facilities."""
