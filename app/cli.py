"""The ``memorial`` command: serve, migrate, seed, users, spreadsheet import, due dates."""

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
        f"Reference data: {report.townships_created} townships, "
        f"{report.policies_created} patrol policies added."
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
        str, typer.Option(help="at least 8 characters", prompt=True, hide_input=True)
    ],
    role: Annotated[Role, typer.Option(help="admin, county or township")],
    township: Annotated[
        str | None, typer.Option(help="township division code or name (township users)")
    ] = None,
    full_name: Annotated[str | None, typer.Option(help="display name")] = None,
) -> None:
    """Create a user (for example the first admin of a new installation)."""
    settings = _settings()
    db = Database(settings)
    try:
        with db.session() as session:
            township_id = None
            if township is not None:
                found = session.exec(
                    select(Township).where(
                        (Township.code == township) | (Township.name == township)
                    )
                ).first()
                if found is None:
                    err.print(f"[red]No township with code or name {township}[/red]")
                    raise typer.Exit(1)
                township_id = found.id
            try:
                data = UserCreate(
                    username=username,
                    password=password,
                    role=role,
                    township_id=township_id,
                    full_name=full_name or username,
                )
                user = auth.create_user(session=session, actor=None, data=data)
            except ValidationError as exc:
                for error in exc.errors():
                    field = ".".join(str(p) for p in error["loc"]) or "user"
                    message = f"{field}: {error['msg']}".replace("township_id", "--township")
                    err.print(f"[red]{message}[/red]")
                raise typer.Exit(1) from None
            except AppError as exc:
                err.print(f"[red]{exc.detail}[/red]")
                raise typer.Exit(1) from None
    finally:
        db.dispose()
    console.print(f"Created {user.role.value} user [bold]{user.username}[/bold] (id {user.id})")


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


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
