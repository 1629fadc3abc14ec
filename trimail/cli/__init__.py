"""The ``trimail`` command line."""
