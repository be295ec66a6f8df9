"""What the tests share: importable modules, never conftest files.

database and api are pytest plugins (loaded by tests/conftest.py), so their
fixtures are available to every test; the other modules are plain helpers.
"""
