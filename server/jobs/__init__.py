"""Ingestion jobs: states, the job table, the queue (see docs/architecture.md)."""
