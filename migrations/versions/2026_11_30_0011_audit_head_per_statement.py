"""On PostgreSQL the audit chain's head moves once per INSERT statement, not once per row.

A spreadsheet import appends tens of thousands of audit entries in one transaction.
Moving the one head row once per entry makes that many versions of it in one transaction,
none of which can be pruned before it commits, and every further update walks them: the
cost grows with the square of the entries (measured: 10,000 entries 3.3 s, 20,000 entries
8.7 s of a bulk insert, most of it this). SQLite updates the row in place and keeps its
row trigger.

Now an AFTER INSERT trigger for each statement moves the head to the last entry the
statement appended (its transition table), adding their count to ``length``; a statement
that appends one entry moves it as before. The head's guard lets it move forward by any
number of entries, provided they follow each other from the old last hash to the new one
(walked by ``prev_hash``, which is unique: an index lookup per entry); anything else is
refused as before, and an entry that does not follow the head still fails the statement
that adds it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 06:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HEAD_FORWARD = (
    "audit_chain_head only moves forward, one appended entry at a time:"
    " it is never set back, rewritten or removed"
)
#: as revision 0007 made it: one entry on
HEAD_STEP = """NEW.id = OLD.id AND NEW.length = OLD.length + 1 AND EXISTS (
    SELECT 1 FROM audit_log WHERE prev_hash = OLD.last_hash AND entry_hash = NEW.last_hash)"""

#: the head moves n >= 1 entries on: the n entries after its last hash, one index lookup
#: each (``prev_hash`` is unique), end in the new one. The lookups must use the index even
#: when the planner thinks the log is small (a new database, before ANALYZE): a scan each
#: would make a large statement's walk cost the square of its entries.
GUARD_STEPS = f"""CREATE OR REPLACE FUNCTION audit_chain_head_forward() RETURNS trigger
    LANGUAGE plpgsql SET enable_seqscan = off AS $$
    DECLARE
        link text;
        steps bigint := 0;
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.length > OLD.length THEN
            link := OLD.last_hash;
            WHILE steps < NEW.length - OLD.length LOOP
                SELECT entry_hash INTO link FROM audit_log WHERE prev_hash = link;
                EXIT WHEN NOT FOUND;
                steps := steps + 1;
            END LOOP;
            IF steps = NEW.length - OLD.length AND link = NEW.last_hash THEN
                RETURN NEW;
            END IF;
        END IF;
        RAISE EXCEPTION '{HEAD_FORWARD}' USING ERRCODE = 'restrict_violation';
    END $$"""
GUARD_STEP = f"""CREATE OR REPLACE FUNCTION audit_chain_head_forward() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND {HEAD_STEP} THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION '{HEAD_FORWARD}' USING ERRCODE = 'restrict_violation';
    END $$"""


UPGRADE = [
    "DROP TRIGGER audit_log_chain_head ON audit_log",
    """CREATE OR REPLACE FUNCTION audit_chain_advance() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        appended_count bigint;
        newest text;
    BEGIN
        SELECT count(*) INTO appended_count FROM appended;
        IF appended_count = 0 THEN
            RETURN NULL;
        END IF;
        SELECT entry_hash INTO newest FROM appended ORDER BY id DESC LIMIT 1;
        UPDATE audit_chain_head SET last_hash = newest, length = length + appended_count
        WHERE id = 1;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER audit_log_chain_head AFTER INSERT ON audit_log
    REFERENCING NEW TABLE AS appended
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_advance()""",
    GUARD_STEPS,
]
DOWNGRADE = [
    "DROP TRIGGER audit_log_chain_head ON audit_log",
    """CREATE OR REPLACE FUNCTION audit_chain_advance() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE audit_chain_head SET last_hash = NEW.entry_hash, length = length + 1
        WHERE id = 1;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER audit_log_chain_head AFTER INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_chain_advance()""",
    GUARD_STEP,
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWNGRADE:
            op.execute(statement)
