"""The shared contract every stage stands on: wire schema, columnar frame, column names and units,
errors, settings, XID catalog, sensors, time parsing. Imports nothing first-party outside itself."""
