"""The metastore: datasets, search spaces, configurations and evaluations, stored with SQLAlchemy."""
