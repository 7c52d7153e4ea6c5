"""Ingest stage: turn outside material (text files, later feeds and pages) into ParsedArticle values."""
