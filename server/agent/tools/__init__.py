"""The agent's tools; each takes one line of text and returns text for the model to read."""
