"""The schema of the state, as named migrations (sqlite-utils' habit).

Each migration runs in the same transaction as the row that records it
(``Store._migrate``); a state is never left half-migrated. Append, never
edit: a migration that has run somewhere must stay as it was.
"""

from __future__ import annotations


def _dates_as_seconds(table: str, constraint: str, indexes: str) -> str:
    """One table of the header index written again with its dates in seconds since 1970 (migration 13):
    ``messages`` and ``gone`` hold the same columns; ``constraint`` and ``indexes`` are each one's own.
    Like the migrations' text, what this writes must stay as it is."""
    columns = ("account, folder, uid, message_id, in_reply_to, refs, sender, recipients, subject, date, flags, "
               "auto_reply, bulk, followup_for, followup_attempt, extra, changed, node, subject_key")
    converted = columns.replace(" date,", " COALESCE(CAST(strftime('%s', date) AS INTEGER), 0),")
    return f"""
        CREATE TABLE {table}_new (
            account TEXT NOT NULL, folder TEXT NOT NULL, uid INTEGER NOT NULL,
            message_id TEXT NOT NULL, in_reply_to TEXT NOT NULL, refs TEXT NOT NULL,
            sender TEXT, recipients TEXT NOT NULL, subject TEXT NOT NULL, date INTEGER NOT NULL,
            flags TEXT NOT NULL, auto_reply INTEGER NOT NULL, bulk INTEGER NOT NULL,
            followup_for TEXT, followup_attempt INTEGER, extra TEXT NOT NULL DEFAULT '{{}}',
            changed INTEGER NOT NULL DEFAULT 0, node INTEGER, subject_key INTEGER{constraint});
        INSERT INTO {table}_new (rowid, {columns})
            SELECT rowid, {converted} FROM {table};
        DROP TABLE {table};
        ALTER TABLE {table}_new RENAME TO {table};{indexes}"""


MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "initial schema",
        """
        CREATE TABLE folders (
            account TEXT NOT NULL, name TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL, uidnext INTEGER NOT NULL, messages INTEGER NOT NULL,
            synced_at TEXT NOT NULL,
            PRIMARY KEY (account, name));
        CREATE TABLE messages (
            account TEXT NOT NULL, folder TEXT NOT NULL, uid INTEGER NOT NULL,
            message_id TEXT NOT NULL, in_reply_to TEXT NOT NULL, refs TEXT NOT NULL,
            sender TEXT, recipients TEXT NOT NULL, subject TEXT NOT NULL, date TEXT NOT NULL,
            flags TEXT NOT NULL, auto_reply INTEGER NOT NULL, bulk INTEGER NOT NULL,
            followup_for TEXT, followup_attempt INTEGER,
            PRIMARY KEY (account, folder, uid));
        CREATE INDEX messages_by_date ON messages (account, date);
        CREATE TABLE drafts (
            account TEXT NOT NULL, thread TEXT NOT NULL, attempt INTEGER NOT NULL,
            message_id TEXT NOT NULL, folder TEXT NOT NULL, uid INTEGER,
            written_at TEXT NOT NULL,
            PRIMARY KEY (account, thread, attempt));
        CREATE TABLE threads (
            account TEXT NOT NULL, thread TEXT NOT NULL, report TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (account, thread));
        CREATE TABLE passes (
            account TEXT PRIMARY KEY, finished_at TEXT NOT NULL, ok INTEGER NOT NULL, error TEXT);
        """,
    ),
    (
        "keep the headers of messages that vanished",
        # An answer the user deleted is still an answer: a vanished message
        # keeps its place in its thread, so deleting mail can never turn an
        # answered thread back into a waiting one.
        """
        CREATE TABLE gone AS SELECT * FROM messages WHERE 0;
        CREATE UNIQUE INDEX gone_by_id ON gone (account, message_id);
        CREATE INDEX gone_by_date ON gone (account, date);
        """,
    ),
    (
        "classification: more header facts, verdicts from bodies, the stop list",
        """
        ALTER TABLE messages ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE gone ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
        CREATE TABLE verdicts (
            account TEXT NOT NULL, message_id TEXT NOT NULL, verdict TEXT NOT NULL, decided_at TEXT NOT NULL,
            PRIMARY KEY (account, message_id));
        CREATE TABLE stoplist (
            account TEXT NOT NULL, address TEXT NOT NULL, reason TEXT NOT NULL, message_id TEXT,
            added_at TEXT NOT NULL,
            PRIMARY KEY (account, address));
        ALTER TABLE folders ADD COLUMN highestmodseq INTEGER;
        """,
    ),
    (
        "remember what a pass decided from, so that a pass with nothing new can stop early",
        """
        ALTER TABLE passes ADD COLUMN decided_at TEXT;
        ALTER TABLE passes ADD COLUMN fingerprint TEXT;
        """,
    ),
    (
        "snoozed threads; read your messages and their answers again for the scenario and their dates",
        # Verdicts written before the scenario rules (R10) and promised dates (R6) lack what those
        # need; without them a message counts as unread, and is read again when a decision needs it.
        """
        CREATE TABLE snoozes (
            account TEXT NOT NULL, thread TEXT NOT NULL, until TEXT NOT NULL, added_at TEXT NOT NULL,
            PRIMARY KEY (account, thread));
        DELETE FROM verdicts WHERE verdict LIKE '{"kind": "open"%' OR verdict LIKE '{"kind": "closing"%'
            OR verdict LIKE '{"kind": "human"%';
        """,
    ),
    (
        "what became of each draft: written, missing from Drafts, dismissed (deleted unsent), withdrawn",
        """
        ALTER TABLE drafts ADD COLUMN state TEXT NOT NULL DEFAULT 'written';
        ALTER TABLE drafts ADD COLUMN changed_at TEXT;
        CREATE TABLE drafts_folder (account TEXT PRIMARY KEY, status TEXT NOT NULL);
        """,
    ),
    (
        "accounts the service paused (a refused login), and the weekly digests written",
        """
        CREATE TABLE paused (account TEXT PRIMARY KEY, reason TEXT NOT NULL, since TEXT NOT NULL);
        CREATE TABLE digests (account TEXT NOT NULL, week TEXT NOT NULL, message_id TEXT NOT NULL,
            written_at TEXT NOT NULL, PRIMARY KEY (account, week));
        """,
    ),
    (
        "each report's state and moments beside it, so that a pass with nothing new decodes no report",
        """
        ALTER TABLE threads ADD COLUMN state TEXT;
        ALTER TABLE threads ADD COLUMN not_before TEXT;
        ALTER TABLE threads ADD COLUMN last_sent TEXT;
        UPDATE threads SET state = json_extract(report, '$.state'), not_before = json_extract(report, '$.not_before'),
            last_sent = json_extract(report, '$.last_sent');
        CREATE INDEX threads_by_state ON threads (account, state, not_before);
        """,
    ),
    (
        "which write changed each message, so that a pass after new mail decides only what it touched",
        # Every write of the index takes the account's next generation and stamps the rows it writes;
        # a pass records the generation it decided from, and the next one decides again only the
        # conversations holding a row stamped later. Rows from before this migration count as old.
        """
        ALTER TABLE messages ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE gone ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE generations (account TEXT PRIMARY KEY, latest INTEGER NOT NULL);
        ALTER TABLE passes ADD COLUMN generation INTEGER;
        """,
    ),
    (
        "the inbound index: who wrote when, by address, organisation and subject, for answers outside their thread",
        # Issue 18 (inbound.py). The first pass after this decides every thread again with the new rule, and
        # reads your own messages again when it needs them, for the words a quote of them would hold.
        """
        CREATE TABLE inbound (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            account TEXT NOT NULL, message_id TEXT NOT NULL, folder TEXT NOT NULL, uid INTEGER NOT NULL,
            address TEXT NOT NULL, organisation TEXT NOT NULL, subject_key INTEGER NOT NULL,
            date INTEGER NOT NULL, human INTEGER NOT NULL, replies INTEGER NOT NULL, calendar INTEGER NOT NULL);
        CREATE UNIQUE INDEX inbound_by_id ON inbound (account, message_id);
        CREATE INDEX inbound_by_address ON inbound (address, date);
        CREATE INDEX inbound_by_organisation ON inbound (organisation, date);
        CREATE INDEX inbound_by_subject ON inbound (subject_key, date) WHERE subject_key != 0;
        CREATE INDEX inbound_calendar ON inbound (date) WHERE calendar = 1;
        CREATE TABLE inbound_kept (account TEXT PRIMARY KEY, own TEXT NOT NULL, since TEXT NOT NULL);
        CREATE TABLE quoted (account TEXT NOT NULL, thread TEXT NOT NULL, message_id TEXT NOT NULL,
            found_at TEXT NOT NULL, PRIMARY KEY (account, thread, message_id));
        CREATE TABLE resumed (account TEXT NOT NULL, thread TEXT NOT NULL, at TEXT NOT NULL,
            PRIMARY KEY (account, thread));
        ALTER TABLE passes ADD COLUMN inbound_seen INTEGER;
        UPDATE passes SET fingerprint = NULL;
        DELETE FROM verdicts WHERE verdict LIKE '{"kind": "open"%' OR verdict LIKE '{"kind": "closing"%';
        """,
    ),
    (
        "the keywords set in a mail client that stop or snooze a thread, as the last pass found them",
        # Issue 22 (marks.py): one row per keyword on a message of a folder read; ``seen_at`` is when a pass
        # first saw that keyword on that message (a snooze runs from it, once). ``keyword_folders`` holds
        # each folder's cursor at its last search: on a CONDSTORE server an unmoved one needs none.
        """
        CREATE TABLE keywords (
            account TEXT NOT NULL, folder TEXT NOT NULL, uid INTEGER NOT NULL, keyword TEXT NOT NULL,
            message_id TEXT NOT NULL, thread TEXT, seen_at TEXT NOT NULL,
            PRIMARY KEY (account, folder, uid, keyword));
        CREATE TABLE keyword_folders (account TEXT NOT NULL, folder TEXT NOT NULL, cursor TEXT NOT NULL,
            PRIMARY KEY (account, folder));
        """,
    ),
    (
        "the link index: the conversations kept as mail arrives, so a pass reads only those new mail joined",
        # Issue 23 (links.py). Rows written before get their node and subject key when an account's links are
        # first built (links.ensure); until then the standing reports are decided again from scratch.
        """
        ALTER TABLE messages ADD COLUMN node INTEGER;
        ALTER TABLE messages ADD COLUMN subject_key INTEGER;
        ALTER TABLE gone ADD COLUMN node INTEGER;
        ALTER TABLE gone ADD COLUMN subject_key INTEGER;
        CREATE INDEX messages_by_node ON messages (node);
        CREATE INDEX gone_by_node ON gone (node);
        CREATE INDEX messages_by_subject ON messages (subject_key) WHERE subject_key IS NOT NULL;
        CREATE INDEX gone_by_subject ON gone (subject_key) WHERE subject_key IS NOT NULL;
        CREATE TABLE links (node INTEGER PRIMARY KEY, grp INTEGER NOT NULL);
        CREATE INDEX links_by_grp ON links (grp);
        CREATE TABLE links_kept (account TEXT PRIMARY KEY, own TEXT NOT NULL);
        CREATE TABLE bounces (account TEXT NOT NULL, node INTEGER NOT NULL, date TEXT NOT NULL, failed TEXT NOT NULL,
            PRIMARY KEY (account, node));
        CREATE INDEX bounces_by_date ON bounces (account, date);
        CREATE TABLE dirty (account TEXT NOT NULL, generation INTEGER NOT NULL, node INTEGER NOT NULL,
            PRIMARY KEY (account, generation, node)) WITHOUT ROWID;
        CREATE TABLE upkeep (account TEXT PRIMARY KEY, vacuumed_at TEXT, analyzed_at TEXT);
        UPDATE passes SET fingerprint = NULL;
        """,
    ),
    (
        "dates of the header index in seconds since 1970, not ISO text: a tenth smaller at any size",
        # Issue 23: 25 bytes of text a date, in the table and again in its index, became 4. A column keeps the
        # type it was declared with, so both tables are written again (rowids kept: reports name no row, but
        # a pass that reads in date order reads in the same order). The dates were UTC already; no zone is lost.
        _dates_as_seconds("messages", ",\n            PRIMARY KEY (account, folder, uid)", """
        CREATE INDEX messages_by_date ON messages (account, date);
        CREATE INDEX messages_by_node ON messages (node);
        CREATE INDEX messages_by_subject ON messages (subject_key) WHERE subject_key IS NOT NULL;
        """) + _dates_as_seconds("gone", "", """
        CREATE UNIQUE INDEX gone_by_id ON gone (account, message_id);
        CREATE INDEX gone_by_date ON gone (account, date);
        CREATE INDEX gone_by_node ON gone (node);
        CREATE INDEX gone_by_subject ON gone (subject_key) WHERE subject_key IS NOT NULL;
        """),
    ),
)
