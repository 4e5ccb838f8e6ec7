"""The console\x27s pages, one module each; console/app.py mounts them."""
