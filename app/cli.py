"""The ``memorial`` command: serve, migrate, seed, users, spreadsheet import, due dates,
backup and restore, and the audit chain's check."""

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlmodel import select

from app import migrate
from app.auth import service as auth
from app.auth.schemas import UserCreate
from app.config import Settings, get_settings
from app.counties import service as counties
from app.db import Database
from app.errors import AppError
from app.facilities import importer
from app.models import Role, Township

cli = typer.Typer(
    help="Memorial Patrol 烈士纪念设施巡查管护 — command line.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            err.print(f"[red]Configuration error:[/red] {error['msg']}")
        raise typer.Exit(2) from None


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    reload: Annotated[bool, typer.Option(help="restart when the code changes")] = False,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Serve the web app and API (http://HOST:PORT, API docs at /docs)."""
    import uvicorn

    _settings()  # fail here, readably, on bad configuration
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        workers=None if reload else workers,
        proxy_headers=True,
        http="app.tcp:NoDelayH11Protocol",  # no 40 ms Nagle stall per response
    )


@cli.command("migrate")
def migrate_command(
    revision: Annotated[str, typer.Argument(help="target revision")] = "head",
) -> None:
    """Bring the database schema up to date (creates the SQLite file if needed)."""
    settings = _settings()
    migrate.upgrade(settings, revision)
    db = Database(settings)
    try:
        console.print(f"Database at revision [bold]{migrate.current_revision(db.engine)}[/bold]")
    finally:
        db.dispose()


@cli.command()
def seed(
    samples: Annotated[
        bool | None,
        typer.Option(
            "--samples/--no-samples",
            help="also load the demo: 60 【样例】 facilities, demo sign-ins, patrols, funds and"
            " orders (default: yes in development; refused in production)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Load the reference data (townships, patrol policies); adds only what is missing."""
    from app import seed as seed_data

    settings = _settings()
    if samples is None:
        samples = settings.env == "development"
    db = Database(settings)
    try:
        with db.session() as session:
            report = seed_data.load(session=session, settings=settings, samples=samples)
    except seed_data.SamplesInProduction as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except seed_data.SeedError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    except AppError as exc:  # e.g. another seed added the same township meanwhile
        err.print(f"[red]{exc.detail}; run seed again[/red]")
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    console.print(
        f"Reference data: {report.counties_created} counties, "
        f"{report.townships_created} townships, {report.policies_created} patrol policies added."
    )
    if not report.samples:
        why = "production" if settings.env == "production" else "--samples loads the demo"
        console.print(f"No sample data ({why}).")
        return
    facilities = report.facilities
    assert facilities is not None
    console.print(
        f"Samples: {facilities.created} facilities added ({facilities.kept} already there, left"
        f" as they are), {report.users_created} demo users, {report.inspections_created}"
        f" patrols, {report.allocations_created} allocations, {report.orders_created} orders"
        " added."
    )
    table = Table(title="Demo sign-ins 演示账号 (development only)")
    for column in ("username 用户名", "password 密码", "role 角色"):
        table.add_column(column)
    for login in seed_data.DEMO_LOGINS:
        label = login.role.value + (f" · {login.full_name}" if login.township_code else "")
        table.add_row(login.username, login.password, label)
    console.print(table)


@cli.command("create-user")
def create_user(
    username: Annotated[str, typer.Option(help="sign-in name")],
    password: Annotated[
        str,
        typer.Option(
            help="at least MEMORIAL_PASSWORD_MIN_LENGTH (10) characters, not the username,"
            " not a common password",
            prompt=True,
            hide_input=True,
        ),
    ],
    role: Annotated[Role, typer.Option(help="admin, county or township")],
    township: Annotated[
        str | None, typer.Option(help="township division code or name (township users)")
    ] = None,
    full_name: Annotated[str | None, typer.Option(help="display name")] = None,
    division: Annotated[
        str | None,
        typer.Option(
            help="division code the user reaches (admin and county users): a province (2"
            " digits), a city (4) or a county (6); default the whole installation",
        ),
    ] = None,
) -> None:
    """Create a user (for example the first admin of a new installation)."""
    settings = _settings()
    db = Database(settings)
    try:
        with db.session() as session:
            township_id = None
            if township is not None:
                matches = session.exec(
                    select(Township).where(
                        (Township.code == township) | (Township.name == township)
                    )
                ).all()
                if not matches:
                    err.print(f"[red]No township with code or name {township}[/red]")
                    raise typer.Exit(1)
                if len(matches) > 1:  # one name in two counties
                    codes = ", ".join(sorted(t.code for t in matches))
                    err.print(
                        f"[red]{township} names {len(matches)} townships ({codes}); "
                        "give its code[/red]"
                    )
                    raise typer.Exit(1)
                township_id = matches[0].id
            try:
                data = UserCreate(
                    username=username,
                    password=password,
                    role=role,
                    township_id=township_id,
                    division_code=division,
                    full_name=full_name or username,
                )
                user = auth.create_user(session=session, actor=None, data=data, settings=settings)
            except ValidationError as exc:
                for error in exc.errors():
                    field = ".".join(str(p) for p in error["loc"]) or "user"
                    message = f"{field}: {error['msg']}".replace(
                        "township_id", "--township"
                    ).replace("division_code", "--division")
                    err.print(f"[red]{message}[/red]")
                raise typer.Exit(1) from None
            except AppError as exc:  # a 422 of the password rules: "password: <the rule>"
                details = exc.detail if isinstance(exc.detail, list) else [exc.detail]
                for detail in details:
                    if isinstance(detail, dict):
                        detail = f"{detail['loc'][-1]}: {detail['msg']}"
                    err.print(f"[red]{detail}[/red]")
                raise typer.Exit(1) from None
    finally:
        db.dispose()
    console.print(f"Created {user.role.value} user [bold]{user.username}[/bold] (id {user.id})")


@cli.command("add-county")
def add_county(
    code: Annotated[str, typer.Argument(help="6-digit division code of the county")],
    name: Annotated[str, typer.Option(help="the county's name, as pages show it")],
    outline: Annotated[
        Path,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="GeoJSON Polygon or MultiPolygon of the county (WGS-84): a geometry, a Feature"
            " or a FeatureCollection of one; facilities must lie inside it",
        ),
    ],
    timezone: Annotated[
        str, typer.Option(help="IANA time zone its dates are reckoned in")
    ] = "Asia/Shanghai",
) -> None:
    """Add a county, so that townships (POST /api/v1/townships) can be added under it."""
    settings = _settings()
    try:
        document = json.loads(outline.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        err.print(f"[red]--outline {outline}: not readable GeoJSON ({exc})[/red]")
        raise typer.Exit(1) from None
    db = Database(settings)
    try:
        with db.session() as session:
            try:
                county = counties.add_county(
                    session=session,
                    actor=None,
                    code=code,
                    name=name,
                    outline=document,
                    timezone=timezone,
                )
            except AppError as exc:
                details = exc.detail if isinstance(exc.detail, list) else [exc.detail]
                for detail in details:
                    if isinstance(detail, dict):
                        detail = f"{detail['loc'][-1]}: {detail['msg']}"
                    err.print(f"[red]{detail}[/red]")
                raise typer.Exit(1) from None
    finally:
        db.dispose()
    console.print(f"Added county [bold]{county.name}[/bold] ({county.code}, id {county.id})")


@cli.command("import-facilities")
def import_facilities(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".csv or .xlsx")],
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="import the good rows even if some are bad")
    ] = False,
) -> None:
    """Import facilities from a spreadsheet; rows whose code exists update that facility."""
    settings = _settings()
    db = Database(settings)
    try:
        with (
            db.session() as session,
            Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
            ) as progress,
        ):
            task = progress.add_task("Importing 导入中", total=None)
            try:
                result = importer.import_file(
                    session=session,
                    settings=settings,
                    actor=None,
                    path=file,
                    skip_invalid=skip_invalid,
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
            except importer.ImportFileError as exc:
                err.print(f"[red]{exc}[/red]")
                raise typer.Exit(1) from None
    finally:
        db.dispose()
    for error in result.errors:
        err.print(f"[yellow]{error}[/yellow]")
    if not result.written:
        bad = len({e.row for e in result.errors})
        err.print(
            f"[red]Nothing imported: {bad} {'row has' if bad == 1 else 'rows have'} errors."
            " Fix them, or pass --skip-invalid to import the rest.[/red]"
        )
        raise typer.Exit(1)
    console.print(
        f"Imported: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.skipped} skipped."
    )


@cli.command("recompute-due")
def recompute_due() -> None:
    """Recompute every facility's next due date from the patrol policy."""
    from app.schedule import service as schedule

    settings = _settings()
    db = Database(settings)
    try:
        with db.begin() as session:
            count = schedule.recompute_due_dates(session)
    finally:
        db.dispose()
    console.print(f"Recomputed the next due date of {count} facilities.")


@cli.command("audit-verify")
def audit_verify() -> None:
    """Walk the audit log's hash chain; report the first broken link (exit 1) or the count."""
    from sqlalchemy.exc import DBAPIError

    from app.audit import chain

    settings = _settings()
    db = Database(settings)
    try:
        result = chain.verify_database(db.engine)
    except DBAPIError as exc:
        err.print(f"[red]Cannot read the audit log ({exc.orig}); run `memorial migrate`?[/red]")
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    if result.broken is not None:
        err.print(f"[red]Audit chain broken at {result.broken}[/red]")
        err.print(f"{result.entries} entries before it verified.")
        raise typer.Exit(1)
    console.print(f"Audit chain intact: {result.entries} entries, last hash {result.last_hash}")


@cli.command("backup")
def backup_command(
    path: Annotated[Path, typer.Argument(help="the archive to write (.tar); must not exist")],
    pg_dump: Annotated[
        str | None, typer.Option(help="pg_dump to use (PostgreSQL; default: the one on PATH)")
    ] = None,
) -> None:
    """Back up the database and the photos into one archive, while the app keeps running."""
    from app import backup

    settings = _settings()
    try:
        manifest = backup.backup(settings=settings, target=path, pg_dump=pg_dump)
    except backup.BackupError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    _print_manifest(manifest)
    for key in manifest["photos_missing"]:
        err.print(f"[yellow]A photo the database names is missing from the store: {key}[/yellow]")
    console.print(f"Backup written to [bold]{path}[/bold]")


@cli.command("restore")
def restore_command(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a backup archive")],
    pg_restore: Annotated[
        str | None, typer.Option(help="pg_restore to use (PostgreSQL; default: the one on PATH)")
    ] = None,
) -> None:
    """Restore a backup into an EMPTY database and photo store, checking every checksum."""
    from app import backup

    settings = _settings()
    try:
        result = backup.restore(settings=settings, source=path, pg_restore=pg_restore)
    except backup.BackupError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    _print_manifest(result.manifest)
    if result.audit.broken is None:
        console.print(f"The audit chain is intact: {result.audit.entries} entries.")
    else:
        err.print(f"[yellow]The restored audit chain is broken at {result.audit.broken}[/yellow]")
    console.print(
        f"Restored from [bold]{path}[/bold] (revision {result.manifest.get('revision')}); "
        "run `memorial migrate` if this version of the app is newer."
    )


def _print_manifest(manifest: dict) -> None:
    table = Table(title=f"Backup of {manifest['created_at']}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in manifest["counts"].items():
        table.add_row(name, str(count))
    console.print(table)
    ledger = manifest.get("ledger") or {}
    console.print(
        f"Ledger: {sum(k['entries'] for k in ledger.get('by_kind', {}).values())} entries,"
        f" sum {ledger.get('sum_fen', 0)} fen; {manifest['photos']['count']} photo files"
        f" ({manifest['photos']['bytes']} bytes)."
    )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
