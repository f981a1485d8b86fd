"""kind target: cluster configs (issue 7; the driver arrives with it)."""
