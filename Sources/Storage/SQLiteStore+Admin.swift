public import Core
public import Foundation
import GRDB

extension SQLiteStore: AdminStore {
    private static let tokenColumns = "id, name, role, organization, sha256, created_at, expires_at, revoked_at"
    private static let auditColumns = "id, actor, address, action, target, organization, detail, at"

    // MARK: Tokens

    public func createToken(_ token: AdminToken, audit: AuditEntry?) async throws {
        try await write("creating an admin token") { db in
            try db.execute(
                sql: "INSERT INTO admin_tokens (\(Self.tokenColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    token.id, token.name, token.role.rawValue, token.organization, token.sha256,
                    token.createdAt.timeIntervalSince1970, token.expiresAt?.timeIntervalSince1970, token.revokedAt?.timeIntervalSince1970,
                ])
            if let audit { try Self.insertAudit(audit, in: db) }
        }
    }

    public func tokens() async throws -> [AdminToken] {
        try await read("listing admin tokens") { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.tokenColumns) FROM admin_tokens ORDER BY created_at DESC, id DESC")
                .map(Self.token(from:))
        }
    }

    public func token(sha256: String) async throws -> AdminToken? {
        try await read("looking up an admin token") { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.tokenColumns) FROM admin_tokens WHERE sha256 = ?", arguments: [sha256])
                .map(Self.token(from:))
        }
    }

    public func revokeToken(id: String, at date: Date, audit: AuditEntry?) async throws -> Bool {
        try await write("revoking an admin token") { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM admin_tokens WHERE id = ?)", arguments: [id]) == true else {
                return false
            }
            try db.execute(
                sql: "UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                arguments: [date.timeIntervalSince1970, id])
            if let audit { try Self.insertAudit(audit, in: db) }
            return true
        }
    }

    private static func token(from row: Row) throws -> AdminToken {
        let r = StoredRow(row, table: "admin_tokens")
        let roleText = try r.string("role")
        guard let role = AdminRole(rawValue: roleText) else {
            throw StoreError.unavailable("admin_tokens: unknown role \(roleText)")
        }
        return AdminToken(
            id: try r.string("id"), name: try r.string("name"), role: role, organization: try r.optionalString("organization"),
            sha256: try r.string("sha256"), createdAt: try r.date("created_at"), expiresAt: try r.optionalDate("expires_at"),
            revokedAt: try r.optionalDate("revoked_at"))
    }

    // MARK: Audit

    public func appendAudit(_ entry: AuditEntry) async throws {
        try await write("writing an audit entry") { db in
            try Self.insertAudit(entry, in: db)
        }
    }

    public func audit(organization: String?, limit: Int, before: String?) async throws -> [AuditEntry] {
        guard limit > 0 else { return [] }
        return try await read("listing the audit log") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.auditColumns) FROM audit_log
                    WHERE (?1 IS NULL OR organization = ?1)
                      AND (?2 IS NULL OR seq < (SELECT seq FROM audit_log WHERE id = ?2))
                    ORDER BY seq DESC LIMIT ?3
                    """,
                arguments: [organization, before, limit]
            ).map { row in
                let r = StoredRow(row, table: "audit_log")
                return AuditEntry(
                    id: try r.string("id"), actor: try r.string("actor"), address: try r.string("address"), action: try r.string("action"),
                    target: try r.string("target"), organization: try r.optionalString("organization"), detail: try r.jsonValue("detail"),
                    at: try r.date("at"))
            }
        }
    }

    static func insertAudit(_ entry: AuditEntry, in db: Database) throws {
        try db.execute(
            sql: "INSERT INTO audit_log (\(auditColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: [
                entry.id, entry.actor, entry.address, entry.action, entry.target, entry.organization,
                StoredJSON.encode(entry.detail), entry.at.timeIntervalSince1970,
            ])
    }

    // MARK: Source pauses

    public func setSourcePaused(_ source: String, paused: Bool, audit: AuditEntry?) async throws {
        let now = clock.now().timeIntervalSince1970
        try await write("pausing or resuming a source") { db in
            if paused {
                try db.execute(sql: "INSERT INTO source_pauses (source, paused_at) VALUES (?, ?) ON CONFLICT (source) DO NOTHING", arguments: [source, now])
            } else {
                try db.execute(sql: "DELETE FROM source_pauses WHERE source = ?", arguments: [source])
            }
            if let audit { try Self.insertAudit(audit, in: db) }
        }
    }

    public func pausedSources() async throws -> Set<String> {
        try await read("listing paused sources") { db in
            Set(try String.fetchAll(db, sql: "SELECT source FROM source_pauses"))
        }
    }

    // MARK: Items and jobs

    /// Moves (to the end of `stage`) and/or assigns an item. Unchanged values record nothing.
    ///
    /// - Throws: ``StoreError/notFound(_:)`` for an unknown item; ``StoreError/invalid(_:)`` when
    ///   `stage` is not a stage of the item's pipeline.
    public func updateItem(id: String, stage: String?, assignee: String?, actor: String, audit: AuditEntry?) async throws -> PipelineItem {
        let now = clock.now()
        return try await write("updating an item") { db in
            guard var item = try Self.fetchItem(id: id, in: db) else {
                throw StoreError.notFound("item \(id)")
            }
            var changed = false
            if let stage, stage != item.stage {
                try Self.requireStage(organization: item.organization, pipeline: item.pipeline, stage: stage, in: db)
                let from = item.stage
                item.position = try Self.nextPosition(organization: item.organization, pipeline: item.pipeline, stage: stage, in: db)
                item.stage = stage
                try self.insertActivity(
                    ActivityEntry(
                        id: Identifier.make(prefix: "act", at: now), organization: item.organization, itemID: id,
                        intakeID: item.intakeID, actor: actor, action: "item.moved", detail: "\(from) → \(stage)", at: now),
                    in: db)
                changed = true
            } else if let stage {
                try Self.requireStage(organization: item.organization, pipeline: item.pipeline, stage: stage, in: db)
            }
            if let assignee {
                let next: String? = assignee.isEmpty ? nil : assignee
                if next != item.assignee {
                    let from = item.assignee ?? "-"
                    item.assignee = next
                    try self.insertActivity(
                        ActivityEntry(
                            id: Identifier.make(prefix: "act", at: now), organization: item.organization, itemID: id,
                            intakeID: item.intakeID, actor: actor, action: "item.assigned", detail: "\(from) → \(next ?? "-")", at: now),
                        in: db)
                    changed = true
                }
            }
            guard changed else { return item }
            item.updatedAt = now
            try db.execute(
                sql: "UPDATE items SET stage = ?, position = ?, assignee = ?, updated_at = ? WHERE id = ?",
                arguments: [item.stage, item.position, item.assignee, now.timeIntervalSince1970, id])
            if let audit { try Self.insertAudit(audit, in: db) }
            return item
        }
    }

    public func discardJob(id: String, audit: AuditEntry?) async throws {
        try await write("discarding a dead job") { db in
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM jobs WHERE id = ?", arguments: [id]) else {
                throw StoreError.notFound("job \(id)")
            }
            guard state == JobState.dead.rawValue else {
                throw StoreError.conflict("job \(id) is \(state), not dead")
            }
            try db.execute(sql: "DELETE FROM jobs WHERE id = ?", arguments: [id])
            if let audit { try Self.insertAudit(audit, in: db) }
        }
    }

    public func retryJob(id: String, audit: AuditEntry?) async throws {
        let now = clock.now().timeIntervalSince1970
        try await write("retrying a dead job") { db in
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM jobs WHERE id = ?", arguments: [id]) else {
                throw StoreError.notFound("job \(id)")
            }
            guard state == JobState.dead.rawValue else {
                throw StoreError.conflict("job \(id) is \(state), not dead")
            }
            try db.execute(
                sql: "UPDATE jobs SET state = 'ready', attempts = 0, run_at = ?1, updated_at = ?1 WHERE id = ?2",
                arguments: [now, id])
            if let audit { try Self.insertAudit(audit, in: db) }
        }
    }

    public func jobCounts(organization: String?) async throws -> [String: [String: Int]] {
        try await read("counting jobs by organization") { db in
            var counts: [String: [String: Int]] = [:]
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT j.kind AS kind, j.state AS state, COUNT(*) AS n FROM jobs j
                    LEFT JOIN intakes i ON i.id = json_extract(j.payload, '$.intake')
                    WHERE ?1 IS NULL OR i.organization = ?1
                    GROUP BY j.kind, j.state
                    """,
                arguments: [organization])
            for row in rows {
                let r = StoredRow(row, table: "jobs")
                counts[try r.string("kind"), default: [:]][try r.string("state")] = try r.int("n")
            }
            return counts
        }
    }

    public func deadJobs(organization: String?, limit: Int) async throws -> [Job] {
        guard limit > 0 else { return [] }
        let columns = Columns.job.split(separator: ",").map { "j." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")
        return try await read("listing dead jobs") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(columns) FROM jobs j
                    LEFT JOIN intakes i ON i.id = json_extract(j.payload, '$.intake')
                    WHERE j.state = 'dead' AND (?1 IS NULL OR i.organization = ?1)
                    ORDER BY j.updated_at DESC, j.id DESC LIMIT ?2
                    """,
                arguments: [organization, limit]
            ).map(Job.init(stored:))
        }
    }

    public func jobOrganization(id: String) async throws -> String? {
        try await read("reading a job's organization") { db in
            try String.fetchOne(
                db,
                sql: """
                    SELECT i.organization FROM jobs j JOIN intakes i ON i.id = json_extract(j.payload, '$.intake')
                    WHERE j.id = ?
                    """,
                arguments: [id])
        }
    }
}
