import GRDB

/// The SQLite schema, one named migration per released version. A migration that has shipped is
/// never edited: a change is a new migration appended at the end.
///
/// Conventions: times are REAL unix seconds (`Date.timeIntervalSince1970`, sub-second precision
/// kept); structured values (metadata, decisions, payloads, fields, tags) are JSON text; enums are
/// their raw `String` values.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: v1)
        }
        migrator.registerMigration("v2-inline-blobs") { db in
            try db.execute(sql: v2)
        }
        migrator.registerMigration("v3-done-jobs-age") { db in
            // Purging finished jobs walks them oldest first.
            try db.execute(sql: "CREATE INDEX jobs_done_age ON jobs (updated_at) WHERE state = 'done'")
        }
        migrator.registerMigration("v4-mailboxes") { db in
            try db.execute(sql: v4)
        }
        migrator.registerMigration("v5-replies") { db in
            try db.execute(sql: v5Replies)
        }
        migrator.registerMigration("v6-webhook-endpoints") { db in
            try db.execute(sql: v6WebhookEndpoints)
        }
        migrator.registerMigration("v7-admin") { db in
            try db.execute(sql: v7Admin)
        }
        migrator.registerMigration("v8-documents") { db in
            try db.execute(sql: v8Documents)
        }
        migrator.registerMigration("v9-bookings") { db in
            try db.execute(sql: v9Bookings)
        }
        migrator.registerMigration("v10-booking-queries") { db in
            try db.execute(sql: v10BookingQueries)
        }
        return migrator
    }

    /// Meetings the daemon booked (docs/scheduling.md). `attendee` is the requester as JSON.
    /// Overlap queries ("active bookings of a calendar/host that overlap a range") walk
    /// `bookings_overlap` by start; `end_at > ?` filters the few that started earlier.
    private static let v9Bookings = """
        CREATE TABLE bookings (
            id TEXT PRIMARY KEY NOT NULL,
            organization TEXT NOT NULL,
            calendar TEXT NOT NULL,
            host TEXT NOT NULL,
            uid TEXT NOT NULL UNIQUE,
            sequence INTEGER NOT NULL,
            start_at REAL NOT NULL,
            end_at REAL NOT NULL,
            state TEXT NOT NULL,
            summary TEXT NOT NULL,
            description TEXT,
            location TEXT,
            meeting_url TEXT,
            attendee TEXT NOT NULL,
            intake_id TEXT,
            item_id TEXT,
            provider_event_id TEXT,
            reason TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX bookings_overlap ON bookings (calendar, host, start_at) WHERE state IN ('pending', 'confirmed');
        CREATE INDEX bookings_calendar_start ON bookings (calendar, start_at) WHERE state IN ('pending', 'confirmed');
        CREATE INDEX bookings_intake ON bookings (intake_id, created_at) WHERE intake_id IS NOT NULL;
        """

    /// Operators' booking listing (latest start first, optionally per organization) and a
    /// booking's emails by template prefix (`booking.<id>.`). Without them each admin page
    /// scanned and sorted the table: 130–570 ms for 100,000 bookings / 200,000 replies, against
    /// 0.5–3.5 ms with them (docs/scheduling.md).
    private static let v10BookingQueries = """
        CREATE INDEX bookings_start ON bookings (start_at, id);
        CREATE INDEX bookings_organization_start ON bookings (organization, start_at, id);
        CREATE INDEX replies_template ON replies (template);
        """

    /// Document extraction results (docs/documents.md): the detected type, text and pages, OCR
    /// confidence, languages, the thumbnail's blob, classification and fields. `extraction` holds
    /// the whole outcome as JSON (pages included); the other columns are what is queried or shown.
    private static let v8Documents = """
        ALTER TABLE documents ADD COLUMN detected_type TEXT;
        ALTER TABLE documents ADD COLUMN type_mismatch TEXT;
        ALTER TABLE documents ADD COLUMN text TEXT;
        ALTER TABLE documents ADD COLUMN page_count INTEGER;
        ALTER TABLE documents ADD COLUMN ocr_confidence REAL;
        ALTER TABLE documents ADD COLUMN languages TEXT;
        ALTER TABLE documents ADD COLUMN thumbnail_blob TEXT;
        ALTER TABLE documents ADD COLUMN kind TEXT;
        ALTER TABLE documents ADD COLUMN fields TEXT;
        ALTER TABLE documents ADD COLUMN extraction TEXT;
        ALTER TABLE documents ADD COLUMN extracted_at REAL;
        """

    /// Admin API tokens (only the SHA-256 of each secret), the audit log and paused sources.
    private static let v7Admin = """
        CREATE TABLE admin_tokens (
            id TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            organization TEXT,
            sha256 TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            expires_at REAL,
            revoked_at REAL
        );

        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            actor TEXT NOT NULL,
            address TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            organization TEXT,
            detail TEXT NOT NULL,
            at REAL NOT NULL
        );
        CREATE INDEX audit_log_organization ON audit_log (organization, seq);

        CREATE TABLE source_pauses (
            source TEXT PRIMARY KEY NOT NULL,
            paused_at REAL NOT NULL
        );
        """

    /// One poller per IMAP folder across processes, and the second dedupe lookup for mail:
    /// Message-ID + content hash, recorded in the intake's metadata in the intake's own row.
    private static let v4 = """
        CREATE TABLE source_leases (
            name TEXT PRIMARY KEY NOT NULL,
            owner TEXT NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE INDEX intakes_mail_fingerprint ON intakes (organization, json_extract(metadata, '$."mail.fingerprint"'))
            WHERE json_extract(metadata, '$."mail.fingerprint"') IS NOT NULL;
        """

    /// Automatic replies, one row per (intake, template), written before the message is sent.
    private static let v5Replies = """
        CREATE TABLE replies (
            id TEXT PRIMARY KEY NOT NULL,
            intake_id TEXT NOT NULL REFERENCES intakes (id),
            organization TEXT NOT NULL,
            template TEXT NOT NULL,
            account TEXT NOT NULL,
            -- Lower-case addr-spec; the per-recipient rate limit counts by it.
            recipient TEXT NOT NULL,
            message_id TEXT NOT NULL UNIQUE,
            state TEXT NOT NULL,
            reason TEXT,
            server_reply TEXT,
            attempts INTEGER NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            sent_at REAL
        );
        CREATE INDEX replies_intake ON replies (intake_id);
        CREATE INDEX replies_recipient ON replies (recipient, created_at);
        """

    /// Outbound webhooks: endpoints disabled by `410 Gone` (a row exists only once disabled or
    /// re-enabled) and one delivery record per (intake, endpoint), keyed by its `webhook-id`.
    private static let v6WebhookEndpoints = """
        CREATE TABLE webhook_endpoints (
            organization TEXT NOT NULL,
            id TEXT NOT NULL,
            url TEXT NOT NULL,
            disabled_at REAL,
            disabled_reason TEXT,
            updated_at REAL NOT NULL,
            PRIMARY KEY (organization, id)
        );
        CREATE TABLE webhook_deliveries (
            message_id TEXT PRIMARY KEY NOT NULL,
            organization TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            intake_id TEXT NOT NULL,
            job_id TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            last_status INTEGER,
            last_error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            delivered_at REAL
        );
        CREATE INDEX webhook_deliveries_intake ON webhook_deliveries (intake_id);
        CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (organization, endpoint, state);
        """

    private static let v1 = """
        CREATE TABLE pipelines (
            organization TEXT NOT NULL,
            id TEXT NOT NULL,
            name TEXT NOT NULL,
            -- Order in the configuration the pipelines were last synced from.
            position INTEGER NOT NULL,
            PRIMARY KEY (organization, id)
        );

        CREATE TABLE stages (
            organization TEXT NOT NULL,
            pipeline TEXT NOT NULL,
            id TEXT NOT NULL,
            name TEXT NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (organization, pipeline, id),
            FOREIGN KEY (organization, pipeline) REFERENCES pipelines (organization, id) ON DELETE CASCADE
        );

        CREATE TABLE intakes (
            id TEXT PRIMARY KEY NOT NULL,
            organization TEXT NOT NULL,
            source TEXT NOT NULL,
            source_kind TEXT NOT NULL,
            received_at REAL NOT NULL,
            dedupe_key TEXT NOT NULL,
            raw_blob TEXT NOT NULL,
            raw_size INTEGER NOT NULL,
            content_type TEXT NOT NULL,
            status TEXT NOT NULL,
            status_reason TEXT,
            metadata TEXT NOT NULL,
            decision TEXT,
            item_id TEXT,
            updated_at REAL NOT NULL,
            UNIQUE (organization, dedupe_key)
        );
        CREATE INDEX intakes_status ON intakes (status);

        CREATE TABLE documents (
            id TEXT PRIMARY KEY NOT NULL,
            intake_id TEXT NOT NULL REFERENCES intakes (id) ON DELETE CASCADE,
            -- Order in which the documents arrived with their intake.
            position INTEGER NOT NULL,
            filename TEXT NOT NULL,
            declared_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            blob TEXT NOT NULL,
            origin TEXT NOT NULL,
            status TEXT NOT NULL,
            status_reason TEXT,
            created_at REAL NOT NULL
        );
        CREATE INDEX documents_intake ON documents (intake_id, position);

        -- No foreign key to stages: a stage removed from the configuration must not make the
        -- items still standing in it impossible to keep. Stage membership is checked on write.
        CREATE TABLE items (
            id TEXT PRIMARY KEY NOT NULL,
            organization TEXT NOT NULL,
            pipeline TEXT NOT NULL,
            stage TEXT NOT NULL,
            position INTEGER NOT NULL,
            priority TEXT NOT NULL,
            assignee TEXT,
            tags TEXT NOT NULL,
            title TEXT NOT NULL,
            description TEXT,
            -- UNIQUE: one intake makes at most one item, however often its decision is committed.
            intake_id TEXT NOT NULL UNIQUE REFERENCES intakes (id),
            fields TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX items_stage ON items (organization, pipeline, stage, position);
        CREATE INDEX items_assignee ON items (assignee) WHERE assignee IS NOT NULL;

        CREATE TABLE activity (
            -- Insertion order, stable across VACUUM (an alias of the rowid), for entries that
            -- share a timestamp.
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            organization TEXT NOT NULL,
            item_id TEXT,
            intake_id TEXT,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL,
            at REAL NOT NULL
        );
        CREATE INDEX activity_item ON activity (item_id, seq);

        CREATE TABLE jobs (
            id TEXT PRIMARY KEY NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            max_attempts INTEGER NOT NULL,
            run_at REAL NOT NULL,
            lease_owner TEXT,
            lease_expires_at REAL,
            last_error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        -- Leasing walks ready jobs in (run_at, id) order and stops after `limit` rows.
        CREATE INDEX jobs_runnable ON jobs (state, run_at, id);
        CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_at) WHERE state = 'leased';
        CREATE INDEX jobs_kind_state ON jobs (kind, state);

        -- Progress of inbound sources (IMAP UIDVALIDITY/UID high-water marks and the like).
        CREATE TABLE source_state (
            key TEXT PRIMARY KEY NOT NULL,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL
        );
        """

    /// Small blobs (webhook bodies, short mails) live in the database so that they become durable
    /// with the group commit instead of costing one file fsync each.
    private static let v2 = """
        CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY NOT NULL,
            size INTEGER NOT NULL,
            data BLOB NOT NULL
        ) WITHOUT ROWID;
        """
}
