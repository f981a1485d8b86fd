"""pytest plugin placeholder (filled in below)."""
