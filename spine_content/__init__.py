"""Readers of content/, the single source of facts (the page's topics, doctors, privacy notice):
shared by the action server, the website and the console."""
