"""make run on databases an older version made: deploy/bootstrap.py names
what is missing and what to do, instead of a service failing later."""
import os
import subprocess
import sys

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine

from deploy import bootstrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def model(with_person_id=True):
    metadata = MetaData()
    columns = [Column("id", Integer, primary_key=True), Column("name", String(20))]
    if with_person_id:
        columns.append(Column("person_id", String(22)))
    Table("residents", metadata, *columns)
    Table("notes", metadata, Column("id", Integer, primary_key=True))
    return metadata


def test_a_table_lacking_a_column_of_the_model_is_named(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    model(with_person_id=False).create_all(engine)
    assert bootstrap.missing_columns(engine, model()) == [("residents", ["person_id"])]


def test_a_database_made_by_the_current_models_lacks_nothing(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'new.db'}")
    model().create_all(engine)
    assert bootstrap.missing_columns(engine, model()) == []
    empty = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert bootstrap.missing_columns(empty, model()) == []


def test_bootstrap_stops_on_an_old_residents_database_and_says_what_to_do(tmp_path):
    old = tmp_path / "residents.db"
    engine = create_engine(f"sqlite:///{old}")
    model(with_person_id=False).create_all(engine)  # a residents table without person_id
    engine.dispose()
    env = dict(os.environ, PYTHONPATH=ROOT, **{
        f"{service.upper()}_DATABASE_URL": f"sqlite:///{tmp_path / service}.db"
        for service in ("auth", "declarations", "notices", "audit")},
        RESIDENTS_DATABASE_URL=f"sqlite:///{old}")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "deploy", "bootstrap.py")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "table residents lacks" in done.stderr and "person_id" in done.stderr
    assert "make clean" in done.stderr and "Traceback" not in done.stderr
