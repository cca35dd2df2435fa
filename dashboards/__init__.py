"""Dashboards, datasource and alert rules as code (issue 6); reads only `storage.queries`."""
