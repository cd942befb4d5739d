"""A PostgreSQL connection (psycopg 3) opened during Init: dead in every restored copy."""
import psycopg

# Connection settings come from the standard libpq variables: PGHOST, PGPORT, PGUSER, PGDATABASE.
DB = psycopg.connect(autocommit=True)


def lambda_handler(event, context):
    # psycopg.OperationalError after a restore: the Connection object survived, the connection did not.
    row = DB.execute("select pg_backend_pid()").fetchone()
    return {"backend_pid": row[0]}
