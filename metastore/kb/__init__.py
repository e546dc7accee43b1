"""The bundled knowledge base: one Parquet file exported from a metastore, loaded into an empty one."""

from metastore.kb.bundle import BUNDLED_KB, FORMAT_VERSION, KnowledgeBaseFile, export_kb, load_kb, read_kb

__all__ = ["BUNDLED_KB", "FORMAT_VERSION", "KnowledgeBaseFile", "export_kb", "load_kb", "read_kb"]
