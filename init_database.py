"""Create, rebuild and tidy knowledge bases from the command line (Langchain-Chatchat's options).

python init_database.py --recreate-vs              rebuild every KB from its content folder
python init_database.py --create-tables            create or upgrade the database tables
python init_database.py --clear-tables             delete every knowledge-base row (files stay)
python init_database.py --import-db OLD/info.db    take the knowledge bases of an older info.db
python init_database.py -u                         re-index files that are in the database
python init_database.py -i                         index files found in folders but not in the database
python init_database.py --prune-db                 drop database rows whose files are gone
python init_database.py --prune-folder             delete files that are not in the database
python init_database.py --check                    database rows vs files vs store chunks, per KB
python init_database.py --repair                   fix what the check found and is safe to fix
python init_database.py --move-to pgvector -n KB   move knowledge bases to another vector store
-n KB [KB ...] limits any of them to these knowledge bases; -e MODEL picks the embedding model of
knowledge bases this command creates or rebuilds. It may run beside the backend: writes to a
knowledge base take the same lock the backend takes.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from pathlib import Path

from sqlalchemy import delete
from tqdm import tqdm

from configs import load_settings
from server.db.engine import create_engine, session_factory
from server.db.migrate import upgrade
from server.db.models.knowledge_base import KnowledgeBase
from server.knowledge_base import consistency
from server.knowledge_base.embeddings import EmbeddingPool
from server.knowledge_base.errors import InvalidName
from server.knowledge_base.loaders import is_supported
from server.knowledge_base.mover import move
from server.knowledge_base.paths import check_kb_name, relative_files
from server.knowledge_base.service import KnowledgeBaseService
from server.knowledge_base.setup import create_samples, default_split


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "-r", "--recreate-vs", action="store_true", help="rebuild vector stores from the folders"
    )
    parser.add_argument("--create-tables", action="store_true", help="create or upgrade the database tables")
    parser.add_argument("--clear-tables", action="store_true", help="delete all knowledge-base rows")
    parser.add_argument("--import-db", metavar="PATH", help="import knowledge bases from an older info.db")
    parser.add_argument(
        "-u", "--update-in-db", action="store_true", help="re-index the files in the database"
    )
    parser.add_argument("-i", "--increment", action="store_true", help="index files not yet in the database")
    parser.add_argument("--prune-db", action="store_true", help="drop rows of files deleted from the folders")
    parser.add_argument(
        "--prune-folder", action="store_true", help="delete files that are not in the database"
    )
    parser.add_argument("--check", action="store_true", help="report database vs folders vs stores")
    parser.add_argument("--repair", action="store_true", help="fix what --check finds, where it is safe")
    parser.add_argument("--move-to", metavar="VS_TYPE", help="move knowledge bases to this vector store")
    parser.add_argument(
        "-n", "--kb-name", nargs="+", default=[], metavar="KB", help="only these knowledge bases"
    )
    parser.add_argument("-e", "--embed-model", help="embedding model for created or rebuilt knowledge bases")
    args = parser.parse_args(argv)
    if not any(
        (
            args.recreate_vs,
            args.create_tables,
            args.clear_tables,
            args.import_db,
            args.update_in_db,
            args.increment,
            args.prune_db,
            args.prune_folder,
            args.check,
            args.repair,
            args.move_to,
        )
    ):
        parser.error("choose at least one action (see --help)")
    return args


def folders(service: KnowledgeBaseService) -> list[str]:
    if not service.paths.root.is_dir():
        return []
    names = []
    for path in sorted(service.paths.root.iterdir()):
        try:
            if path.is_dir() and not path.is_symlink():
                names.append(check_kb_name(path.name))
        except InvalidName:
            print(f"skipping folder {path.name!r}: not a valid knowledge base name", file=sys.stderr)
    return names


async def selected(service: KnowledgeBaseService, wanted: list[str], *, with_folders: bool) -> list[str]:
    names = {kb.kb_name for kb in await service.list()}
    if with_folders:
        names |= set(folders(service))
    return sorted(n for n in names if not wanted or n in wanted)


async def ensure_kb(service: KnowledgeBaseService, name: str, embed_model: str | None) -> None:
    if not await service.exists(name):
        await service.create(name, embed_model=embed_model)


def content_files(service: KnowledgeBaseService, name: str) -> list[str]:
    return [f for f in relative_files(service.paths.content_dir(name)) if is_supported(f)]


async def recreate(service: KnowledgeBaseService, names: list[str], embed_model: str | None) -> None:
    options = default_split(service.settings)
    for name in names:
        await ensure_kb(service, name, embed_model)
        bar = tqdm(desc=f"rebuilding {name}", unit="file", total=len(content_files(service, name)))
        async for event in service.recreate(name, options, embed_model=embed_model):
            if event.get("code") != 200:
                tqdm.write(f"  {event['msg']}")
            bar.update(1)
        bar.close()


async def increment(service: KnowledgeBaseService, names: list[str], embed_model: str | None) -> None:
    for name in names:
        await ensure_kb(service, name, embed_model)
        known = {f.file_name for f in await service.list_files(name) if f.in_db}
        todo = [f for f in content_files(service, name) if f not in known]
        await index_files(service, name, todo, f"adding to {name}")


async def update_in_db(service: KnowledgeBaseService, names: list[str]) -> None:
    for name in names:
        files = [f.file_name for f in await service.list_files(name) if f.in_db]
        await index_files(service, name, files, f"updating {name}", update=True)


async def index_files(
    service: KnowledgeBaseService, name: str, files: list[str], label: str, update: bool = False
) -> None:
    options = default_split(service.settings)
    for file_name in tqdm(files, desc=label, unit="file"):
        if update:
            failed = await service.update_files(
                name, [file_name], options, override_custom_docs=False, custom_docs=None
            )
        else:
            failed = await service.add_files(name, [file_name], options)
        for failed_name, reason in failed.items():
            tqdm.write(f"  {failed_name}: {reason}")


async def prune_db(service: KnowledgeBaseService, names: list[str]) -> None:
    for name in names:
        gone = [f.file_name for f in await service.list_files(name) if f.in_db and not f.in_folder]
        if gone:
            await service.delete_files(name, gone, delete_content=False)
            print(f"{name}: dropped {len(gone)} rows of deleted files")


async def prune_folder(service: KnowledgeBaseService, names: list[str]) -> None:
    for name in names:
        stray = [f.file_name for f in await service.list_files(name) if not f.in_db]
        for file_name in stray:
            service.paths.file_path(name, file_name).unlink(missing_ok=True)
        if stray:
            print(f"{name}: deleted {len(stray)} files that were not in the database")


async def import_db(
    service: KnowledgeBaseService, path: Path, wanted: list[str], embed_model: str | None
) -> None:
    """Take the knowledge bases (name, info, embedding model) of an older database, then rebuild them.

    Old FAISS indexes are never loaded (they are pickles); the files in each content folder are
    indexed again with our own store.
    """
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as old:
        rows = old.execute("SELECT kb_name, kb_info, embed_model FROM knowledge_base").fetchall()
    names = []
    for kb_name, kb_info, old_model in rows:
        if wanted and kb_name not in wanted:
            continue
        model = embed_model or (old_model if old_model in service.settings.embed_models else None)
        if not await service.exists(kb_name):
            await service.create(kb_name, embed_model=model, info=kb_info or "")
        names.append(kb_name)
    await recreate(service, names, embed_model)


async def run(args: argparse.Namespace) -> None:
    settings = load_settings()
    engine = create_engine(settings.sqlalchemy_url)
    await upgrade(engine)  # --create-tables is this, and every other action needs the tables
    db = session_factory(engine)
    service = KnowledgeBaseService(settings, db, EmbeddingPool(settings))
    try:
        if args.embed_model:
            service.embeddings.check(args.embed_model)
        if args.create_tables:
            print(f"database tables are up to date: {settings.sqlalchemy_url}")
        if args.clear_tables:
            async with db() as session:
                await session.execute(delete(KnowledgeBase))
                await session.commit()
            print("cleared the knowledge-base tables (files and folders are kept)")
        if args.import_db:
            await import_db(service, Path(args.import_db), args.kb_name, args.embed_model)
        if args.recreate_vs:
            names = await selected(service, args.kb_name, with_folders=True)
            if not names and settings.kb.samples_kb:
                await create_samples(service, settings, force=True)
                names = [settings.kb.samples_kb]
            else:
                await recreate(service, names, args.embed_model)
        if args.increment:
            await increment(
                service, await selected(service, args.kb_name, with_folders=True), args.embed_model
            )
        if args.update_in_db:
            await update_in_db(service, await selected(service, args.kb_name, with_folders=False))
        if args.prune_db:
            await prune_db(service, await selected(service, args.kb_name, with_folders=False))
        if args.prune_folder:
            await prune_folder(service, await selected(service, args.kb_name, with_folders=False))
        if args.move_to:
            for name in await selected(service, args.kb_name, with_folders=False):
                copied = await move(service, name, args.move_to)
                print(f"{name}: moved {copied} chunks to {args.move_to}")
        if args.check or args.repair:
            disagreeing = await check_and_repair(service, args.kb_name, repair=args.repair)
            if disagreeing and not args.repair:
                raise SystemExit(3)
    finally:
        await service.close()
        await engine.dispose()


async def check_and_repair(service: KnowledgeBaseService, wanted: list[str], *, repair: bool) -> int:
    """Print the full check of each KB (and repair it); returns how many disagree afterwards."""
    disagreeing = 0
    for name in await selected(service, wanted, with_folders=False):
        report = await consistency.check(service, name)
        print("\n".join(report.lines()))
        if repair and not report.agrees:
            for line in await consistency.repair(service, report):
                print(f"  repaired: {line}")
            report = await consistency.check(service, name)
            print("  after repair: " + ("agrees" if report.agrees else "still disagrees"))
        disagreeing += not report.agrees
    return disagreeing


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        asyncio.run(run(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:  # a readable message, not a traceback, for a command-line user
        message = getattr(exc, "message", None) or str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
