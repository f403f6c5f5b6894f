"""Parameters: the schema, and reading parameter files and county sets into it."""
