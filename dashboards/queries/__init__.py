"""Panel SQL with Grafana macros (STYLE.md §5): one file per query, loaded by `dashboards.sql`."""
