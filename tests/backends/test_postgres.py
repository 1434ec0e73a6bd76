"""PostgreSQL backends: the SQLite store's own tests on PostgreSQL, plus what many processes need.

The tests imported from ``test_sqlite`` take only the ``sb`` fixture; defined
here, it hands them a PostgreSQL store in a fresh schema, so the two stores are
held to the same round-trips, orderings, transactions, leases and counters.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from conftest import POSTGRES_DSN
from test_sqlite import (  # noqa: F401 - collected here, run on PostgreSQL
    test_append_to_field_matches_memory_for_any_field,
    test_context_round_trips_exactly_including_key_order,
    test_conversation_history,
    test_current_name_and_revisions,
    test_get_context_copies_and_unknown_is_not_stored,
    test_key_order_is_first_write_order,
    test_lease_fresh_renewed_expired_released,
    test_non_json_values_are_stored_as_strings,
    test_other_threads_wait_for_the_transaction_then_write,
    test_rolled_back_registry_save_is_never_served,
    test_save_context_replaces_everything,
    test_schema_and_identity,
    test_status_records_and_listing,
    test_telemetry_events_since_a_position,
    test_telemetry_in_order_with_copies,
    test_tree_state,
    test_unsafe_ids_are_refused,
    test_unsafe_main_id_is_refused,
    test_update_operational_counts_exactly,
    test_update_operational_matches_memory_for_any_shape,
    test_update_operational_without_block_is_a_no_op,
)

from soe._errors import StoreError
from soe.backends.postgres import PostgresBackends, create_postgres_backends
from soe.backends.postgres.connection import describe_dsn, split_schema
from soe.backends.postgres.schema import MIGRATIONS
from soe.engine.durability import RuntimeStore, runtime_store
from soe.lib.missing import MISSING
from soe.lib.operational import new_operational

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = describe_dsn(POSTGRES_DSN)  # 127.0.0.1:5432/test


@pytest.fixture
def sb(postgres_backends):
    return postgres_backends


def _schema(url: str) -> str:
    return url.rpartition("schema=")[2]


def _rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(POSTGRES_DSN) as conn:
        conn.execute(f'SET search_path TO "{_schema(url)}"')
        return conn.execute(query).fetchall()


# --- container, connection, schema -----------------------------------------------------------

def test_container_has_every_backend_and_a_runtime_store(sb, postgres_url):
    assert isinstance(sb, PostgresBackends)
    for name in ("context", "workflow", "telemetry", "conversation_history", "context_schema",
                 "identity"):
        assert getattr(sb, name) is not None
    assert isinstance(sb.runtime, RuntimeStore) and runtime_store(sb) is sb.runtime
    assert sb.schema == _schema(postgres_url) and sb.address == ADDRESS


def test_importing_soe_never_imports_psycopg():
    code = ("import sys, soe, soe.local_backends, soe.backends.sqlite, soe.inputs\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'psycopg_pool')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_schema_from_the_url_or_the_argument():
    assert split_schema("postgresql://u@h:5/db?schema=s1&sslmode=disable") == (
        "postgresql://u@h:5/db?sslmode=disable", "s1")
    assert split_schema("postgres://u@h/db") == ("postgres://u@h/db", None)
    assert split_schema("host=h dbname=db") == ("host=h dbname=db", None)
    with pytest.raises(ValueError, match="^Two schemas given for one PostgreSQL store: 'a' in "
                                         "the DSN and 'b' as an argument$"):
        create_postgres_backends("postgresql://u@127.0.0.1:1/db?schema=a", schema="b")


def test_sqlite_ordered_group_concat_in_either_form_becomes_string_agg():
    """The shared SQL reads a history with SQLite's form for the SQLite it runs with (3.44 changed it)."""
    from soe.backends.postgres.connection import _translate

    before_344 = ("SELECT group_concat(value_json, ',') FROM (SELECT value_json FROM context_history "
                  "WHERE execution_id = ? AND key = ? ORDER BY seq)")
    since_344 = ("SELECT group_concat(value_json, ',' ORDER BY seq) FROM context_history "
                 "WHERE execution_id = ? AND key = ?")
    assert _translate(before_344) == _translate(since_344) == (
        "SELECT string_agg(value_json, ',' ORDER BY seq) FROM context_history "
        "WHERE execution_id = %s AND key = %s")


def test_unreachable_server_names_its_address_not_the_password():
    with pytest.raises(ConnectionError) as info:
        create_postgres_backends("postgresql://postgres:secret@127.0.0.1:1/test", timeout=1)
    message = str(info.value)
    assert message.startswith("Cannot connect to PostgreSQL at 127.0.0.1:1/test: ")
    assert "secret" not in message and "\n" not in message


def test_a_store_the_user_may_not_create_is_one_line_naming_why(postgres_url):
    role = _schema(postgres_url).replace("soe_test_", "soe_role_")
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        try:
            url = postgres_url.replace("postgresql://postgres@", f"postgresql://{role}@")
            with pytest.raises(ValueError) as info:
                create_postgres_backends(url)
        finally:
            admin.execute(f'DROP ROLE "{role}"')
    assert str(info.value) == (f"Cannot set up the SOE store in schema '{_schema(postgres_url)}' of "
                               f"PostgreSQL at {ADDRESS}: permission denied for database {ADDRESS.rpartition('/')[2]}")


def test_a_user_without_ddl_privileges_uses_a_store_set_up_by_its_owner(postgres_url):
    create_postgres_backends(postgres_url).close()  # the owner sets it up
    schema = _schema(postgres_url)
    role = schema.replace("soe_test_", "soe_role_")
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        try:
            admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
            admin.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
            url = postgres_url.replace("postgresql://postgres@", f"postgresql://{role}@")
            with create_postgres_backends(url) as store:
                store.telemetry.log_event("e", "tick", n=1)
                store.context.save_context("e", {"x": [1]})
                assert store.telemetry.get_events("e") == [{"event_type": "tick", "n": 1}]
        finally:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


def test_schemas_are_separate_stores(postgres_url):
    other_url = postgres_url + "_other"
    with create_postgres_backends(postgres_url) as one, create_postgres_backends(other_url) as two:
        try:
            one.context.save_context("e", {"x": [1]})
            assert two.context.get_context("e") == {}
        finally:
            with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{_schema(other_url)}" CASCADE')


def test_missing_store_refused_without_create(postgres_url):
    with pytest.raises(ValueError, match=f"^No SOE store in schema '{_schema(postgres_url)}' of "
                                         f"PostgreSQL at {ADDRESS}$"):
        create_postgres_backends(postgres_url, create=False)
    create_postgres_backends(postgres_url).close()
    create_postgres_backends(postgres_url, create=False).close()


def test_migrations_are_recorded_once_and_idempotent(postgres_url):
    for _ in range(2):
        create_postgres_backends(postgres_url).close()
    versions = _rows(postgres_url, "SELECT version FROM schema_version ORDER BY version")
    assert versions == [(n,) for n in range(1, len(MIGRATIONS) + 1)]


def test_a_newer_schema_is_refused(postgres_url):
    create_postgres_backends(postgres_url).close()
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f'INSERT INTO "{_schema(postgres_url)}".schema_version VALUES (99, \'later\')')
    with pytest.raises(RuntimeError, match="schema version 99 is newer than this SOE supports"):
        create_postgres_backends(postgres_url)


@pytest.mark.slow
def test_processes_migrating_together_apply_each_migration_once(postgres_url):
    code = ("import sys\nfrom soe.backends.postgres import create_postgres_backends\n"
            "create_postgres_backends(sys.argv[1]).close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, postgres_url], stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outcomes = [(proc.communicate(timeout=60)[1], proc.returncode) for proc in procs]  # reap all first
    for stderr, returncode in outcomes:
        assert returncode == 0, stderr
    assert _rows(postgres_url, "SELECT count(*) FROM schema_version") == [(len(MIGRATIONS),)]


# --- transactions --------------------------------------------------------------------------------

def test_rollback_leaves_nothing_written(sb):
    with pytest.raises(RuntimeError), sb.runtime.transaction():
        sb.context.save_context("e", {"x": [1]})
        sb.telemetry.log_event("e", "tick")
        with sb.runtime.transaction():  # nested: joins
            sb.runtime.set_status("e", "e", "running")
        raise RuntimeError("crash")
    assert sb.context.get_context("e") == {}
    assert sb.telemetry.get_events("e") == []
    assert sb.runtime.get_status("e") is None


def test_a_transaction_is_invisible_to_other_connections_until_it_commits(sb, postgres_url):
    with create_postgres_backends(postgres_url) as other:
        with sb.runtime.transaction():
            sb.context.save_context("e", {"x": [1]})
            assert sb.context.get_context("e") == {"x": [1]}  # this thread reads its own writes
            assert other.context.get_context("e") == {}
        assert other.context.get_context("e") == {"x": [1]}


def test_long_histories_are_read_back_in_order(sb):
    """A history and the signals are read with one ordered ``string_agg`` each."""
    values = [{"i": i} if i % 3 else f"v{i}" for i in range(5000)]
    signals = [f"S{i}" for i in range(3000)]
    sb.context.save_context("e", {"b": values[:4990], "a": [],
                                  "__operational__": {**new_operational("e"), "signals": signals}})
    for value in values[4990:]:
        sb.context.append_to_field("e", "b", value)
    sb.context.update_operational("e", "signals_broadcast", {"signals": ["LAST"]})
    got = sb.context.get_context("e")
    assert got["b"] == values and got["a"] == []
    assert got["__operational__"]["signals"] == [*signals, "LAST"]


def test_a_writer_waits_for_a_lock_at_most_timeout_seconds(sb, postgres_url):
    """Like SQLite's busy timeout: a transaction left open elsewhere fails the writer, never hangs it."""
    sb.context.save_context("e", {"x": []})
    with create_postgres_backends(postgres_url, timeout=0.3) as impatient, sb.runtime.transaction():
        sb.context.append_to_field("e", "x", "holder")
        with pytest.raises(StoreError, match="lock timeout") as failed:
            impatient.context.append_to_field("e", "x", "waiter")
        assert isinstance(failed.value.__cause__, psycopg.errors.LockNotAvailable)
    assert sb.context.get_context("e") == {"x": ["holder"]}


def test_journal_entry_is_committed_at_once(sb, postgres_url):
    assert sb.runtime.journal_get("e/n/1/llm/0") is MISSING
    sb.runtime.journal_put("e/n/1/llm/0", {"answer": [1, "ü"]})
    sb.runtime.journal_put("e/n/1/llm/1", None)
    with create_postgres_backends(postgres_url) as other:
        assert other.runtime.journal_get("e/n/1/llm/0") == {"answer": [1, "ü"]}
        assert other.runtime.journal_get("e/n/1/llm/1") is None
        sb.runtime.journal_put("e/n/1/llm/0", "replaced")
        assert other.runtime.journal_get("e/n/1/llm/0") == "replaced"


# --- many writers ----------------------------------------------------------------------------

def test_racing_owners_get_one_lease(sb):
    barrier = threading.Barrier(8)
    won: list[str] = []

    def take(owner: str) -> None:
        barrier.wait()
        if sb.runtime.acquire_lease("tree", owner, 60):
            won.append(owner)

    threads = [threading.Thread(target=take, args=(f"owner-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and sb.runtime.lease_owner("tree") == won[0]


def test_writers_of_one_execution_in_parallel_lose_nothing(sb):
    """Eight connections write one execution at once: appends, counters, saves of other keys."""
    sb.context.save_context("e", {"__operational__": new_operational("e")})
    barrier = threading.Barrier(8)

    def work(name: str) -> None:
        barrier.wait()
        for index in range(25):
            sb.context.append_to_field("e", "shared", f"{name}{index}")
            sb.context.update_operational("e", "llm_call", {})
            sb.telemetry.log_event("e", "tick", who=name)
            sb.conversation_history.append_to_conversation_history("h", {"who": name, "i": index})
            sb.workflow.save_registry_revision("e", {"who": name, "i": index})

    names = [chr(ord("A") + i) for i in range(8)]
    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ctx = sb.context.get_context("e")
    assert sorted(ctx["shared"]) == sorted(f"{n}{i}" for n in names for i in range(25))
    assert ctx["__operational__"]["llm_calls"] == 200
    assert len(sb.telemetry.get_events("e")) == 200
    for name in names:  # each writer's own entries stay in its order
        mine = [e["i"] for e in sb.conversation_history.get_conversation_history("h") if e["who"] == name]
        assert mine == list(range(25))
        assert [r["i"] for r in sb.workflow.get_registry_revisions("e") if r["who"] == name] == list(range(25))


# --- the test fixture itself -----------------------------------------------------------------

@pytest.mark.parametrize("ci, code, outcome", [("", 0, "1 skipped"), ("true", 1, "1 error")])
@pytest.mark.slow
def test_without_a_server_postgres_tests_skip_but_fail_in_ci(ci, code, outcome):
    env = {**os.environ, "SOE_TEST_POSTGRES": "postgresql://postgres@127.0.0.1:1/test", "CI": ci}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-rsE", "-p", "no:cacheprovider", "-k", "postgres",
         "tests/backends/test_backend_conformance.py::test_unknown_context_is_a_new_empty_dict_not_stored"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert result.returncode == code, result.stdout
    assert outcome in result.stdout
    assert "PostgreSQL not usable at postgresql://postgres@127.0.0.1:1/test" in result.stdout
