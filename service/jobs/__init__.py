"""Durable jobs for the service: the registry of job kinds, the context handlers run in, and workers."""
