public import Core
public import Foundation
import GRDB

extension SQLiteStore: MailboxStore {
    /// Takes the lease when it is free or expired, renews it when `owner` already holds it; one
    /// statement, so two instances racing for it cannot both win.
    public func acquireLease(_ name: String, owner: String, duration: TimeInterval) async throws -> Bool {
        let now = clock.now().timeIntervalSince1970
        return try await write("taking a source lease") { db in
            try db.execute(
                sql: """
                    INSERT INTO source_leases (name, owner, expires_at) VALUES (?1, ?2, ?3)
                    ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                    WHERE source_leases.owner = excluded.owner OR source_leases.expires_at <= ?4
                    """,
                arguments: [name, owner, now + duration, now])
            return db.changesCount > 0
        }
    }

    public func releaseLease(_ name: String, owner: String) async throws {
        try await write("releasing a source lease") { db in
            try db.execute(sql: "DELETE FROM source_leases WHERE name = ? AND owner = ?", arguments: [name, owner])
        }
    }

    public func intake(organization: String, mailFingerprint fingerprint: String) async throws -> Intake? {
        try await read("looking up a mail fingerprint") { db in
            // The expression matches the index intakes_mail_fingerprint exactly, so this is an index lookup.
            try Row.fetchOne(
                db.cachedStatement(sql: """
                    SELECT \(Columns.intake) FROM intakes
                    WHERE organization = ? AND json_extract(metadata, '$."mail.fingerprint"') = ?
                    ORDER BY received_at LIMIT 1
                    """),
                arguments: [organization, fingerprint]
            ).map(Intake.init(stored:))
        }
    }
}
