"""The website (port 8000): the demo page with the article and the chat widget."""
