"""SQL storage backends: SQLite (``sqlite.py``) and PostgreSQL (``postgres.py``) sharing
one implementation (``core.py``), one set of record codecs and numbered migrations."""
