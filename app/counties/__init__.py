"""Counties: the units townships belong to, each with its time zone and outline."""
