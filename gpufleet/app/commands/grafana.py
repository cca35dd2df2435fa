"""`gpufleet grafana export | deploy`: the dashboards, datasource and alert rules for Grafana."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gpufleet.app.commands.alerts import add_threshold_flags, thresholds_from
from gpufleet.contract.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    grafana = sub.add_parser("grafana", help="export provisioning files or deploy to a Grafana")
    actions = grafana.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="write the provisioning tree (datasources, dashboards, alerting)")
    export.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory (created if missing)")
    export.add_argument(
        "--dashboards-path",
        default="/var/lib/grafana/dashboards/gpufleet",
        metavar="PATH",
        help="where Grafana will see DIR/dashboards (default: %(default)s)",
    )
    export.add_argument(
        "--with-notifications",
        action="store_true",
        help="also write the webhook contact points and the severity routing policy (replaces the org's policy tree)",
    )
    deploy = actions.add_parser("deploy", help="push datasource, folder, dashboards and alert rules through Grafana's API")
    deploy.add_argument("--url", required=True, help="Grafana base URL, e.g. http://localhost:3000")
    deploy.add_argument("--token", help="service-account token (or env GPUFLEET_GRAFANA_TOKEN; avoids showing it in ps)")
    deploy.add_argument("--user", help="basic-auth user (with --password)")
    deploy.add_argument("--password", help="basic-auth password (or env GPUFLEET_GRAFANA_ADMIN_PASSWORD)")
    deploy.add_argument(
        "--with-notifications",
        action="store_true",
        help="also push the webhook contact points and the severity routing policy (replaces the org's policy tree)",
    )
    for parser in (export, deploy):
        parser.add_argument(
            "--clickhouse-host", default="clickhouse", help="ClickHouse host as Grafana sees it (default: %(default)s)"
        )
        parser.add_argument("--clickhouse-port", type=int, default=8123, help="ClickHouse HTTP port (default: %(default)s)")
        parser.add_argument(
            "--clickhouse-user", default="gpufleet_grafana", help="ClickHouse user for Grafana (default: %(default)s)"
        )
        parser.add_argument(
            "--database", default="default", help="ClickHouse database with gpufleet's tables (default: %(default)s)"
        )
        add_threshold_flags(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from dashboards.config import DatasourceConfig

    config = DatasourceConfig(
        host=args.clickhouse_host, port=args.clickhouse_port, username=args.clickhouse_user, database=args.database
    )
    thresholds = thresholds_from(args)
    if args.action == "export":
        from dashboards.export import export

        written = export(args.out, config, thresholds, args.dashboards_path, notifications=args.with_notifications)
        print(f"wrote {len(written)} files under {args.out}/ (mount provisioning/ at /etc/grafana/provisioning)")
        return 0
    from dashboards.deploy import connect, deploy
    from dashboards.provisioning import PASSWORD_ENV, WEBHOOK_ENV, Secrets

    token = args.token or os.environ.get("GPUFLEET_GRAFANA_TOKEN")
    password = args.password or os.environ.get("GPUFLEET_GRAFANA_ADMIN_PASSWORD")
    api = connect(args.url, token=token, user=args.user, password=password if args.user else None)
    secrets = Secrets(os.environ.get(PASSWORD_ENV, ""), os.environ.get(WEBHOOK_ENV, Secrets().webhook_url))
    report = deploy(api, config, thresholds, secrets, notifications=args.with_notifications)
    print(f"created {len(report.created)}, updated {len(report.updated)}")
    for what in report.created:
        print(f"  created {what}")
    return 0
