"""The UI's translation catalogues, one module per language, keyed by the English text."""
