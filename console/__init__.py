"""The staff review console (served by the website under /console)."""
