"""The warmstart service: HTTP API, CLI and the use cases that join learners and the metastore."""
