"""Alembic environment shared by every service: the service's metadata and
database URL come from deploy/migrate.py through `config.attributes`."""
from alembic import context

config = context.config
metadata = config.attributes["metadata"]
connection = config.attributes["connection"]

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
