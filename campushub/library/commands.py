"""`campushub library`: publish a folder as a project, and list what the library holds."""

from __future__ import annotations

from pathlib import Path

import click

from campushub.cli_options import config_option
from campushub.config.loader import load_config
from campushub.config.schema import CampusConfig
from campushub.hub.layout import database_url, layout_for
from campushub.library.store import LibraryStore, Metadata, check_owner, human_size, slug_for
from campushub.library.tables import PUBLIC, VISIBILITIES
from campushub.setup import prepare_data_dir


def open_store(config: CampusConfig) -> LibraryStore:
    layout = layout_for(config)
    prepare_data_dir(layout)
    return LibraryStore(database_url(config, layout), layout.library_dir)


def project_url(config: CampusConfig, owner: str, slug: str) -> str:
    """Where people find a project: the campus's public URL when it has one, else the address CampusHub listens on."""
    base = config.listen.public_url or f"http://{config.listen.ip}:{config.listen.port}/"
    if config.listen.ip in ("0.0.0.0", "::") and not config.listen.public_url:
        base = f"http://127.0.0.1:{config.listen.port}/"
    return f"{base.rstrip('/')}/services/library/p/{owner}/{slug}/"


@click.group("library")
def library_group() -> None:
    """The public library: publish a folder as a project, list projects."""


@library_group.command("publish")
@config_option
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--owner", required=True, help="Whose project it is (a username); it appears on their profile page.")
@click.option("--title", required=True, help="The project's title.")
@click.option("--project", "slug", help="The project's short name in its URL. Default: made from the title.")
@click.option("--description", default="", help="A paragraph on what it is.")
@click.option("--tag", "tags", multiple=True, help="A tag to find it by (repeatable).")
@click.option("--licence", default="", help="Its licence, e.g. CC-BY-4.0 or MIT.")
@click.option(
    "--visibility",
    type=click.Choice(VISIBILITIES),
    default=PUBLIC,
    show_default=True,
    help="public: anyone, listed; unlisted: anyone with the link; private: its owner only.",
)
@click.option("--course", help="A course ID of campus.yaml: the project appears on that course's shelf.")
@click.option("--main", "main", default="", help="The file shown first (a path inside FOLDER). Default: a notebook.")
@click.option("--note", default="", help="What changed in this version.")
def publish_command(
    config_path: Path,
    folder: Path,
    owner: str,
    title: str,
    slug: str | None,
    description: str,
    tags: tuple[str, ...],
    licence: str,
    visibility: str,
    course: str | None,
    main: str,
    note: str,
) -> None:
    """Publish FOLDER as a new version of a project (hidden files and links are left out)."""
    from campushub.errors import UserError

    config = load_config(config_path).config
    if not config.library.enabled:
        raise UserError(f"{config_path}: `library.enabled` is false; turn the library on to publish.")
    if course and course not in config.courses:
        raise UserError(f"--course {course}: not a course of {config_path} ({', '.join(config.courses) or 'none'})")
    owner = check_owner(owner)
    slug = slug or slug_for(title)
    store = open_store(config)
    try:
        project, version = store.publish(
            owner,
            slug,
            folder.resolve(),
            Metadata(
                title=title,
                description=description,
                tags=tags,
                licence=licence,
                visibility=visibility,
                course=course,
                main=main,
                note=note,
            ),
            max_project_size=config.library.max_project_size,
            max_user_size=config.library.max_user_size,
        )
    finally:
        store.dispose()
    click.echo(
        f"Published {project.owner}/{project.slug} version {version.number} ({version.files} files, "
        f"{human_size(version.size)}, {project.visibility}): {project_url(config, project.owner, project.slug)}"
    )


@library_group.command("list")
@config_option
@click.option("--owner", default="", help="Only this person's projects (all visibilities).")
def list_command(config_path: Path, owner: str) -> None:
    """List public projects (--owner: all of that person's): owner/name, latest version, visibility, title."""
    config = load_config(config_path).config
    store = open_store(config)
    try:
        owner = check_owner(owner) if owner else ""
        projects = store.gallery(viewer=owner or None, owner=owner)
    finally:
        store.dispose()
    for project in projects:
        click.echo(f"{project.owner}/{project.slug}\tv{project.latest}\t{project.visibility}\t{project.title}")
