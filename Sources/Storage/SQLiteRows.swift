import Core
import Foundation
import GRDB

/// A stored row that cannot be turned back into a domain value: the file was edited by hand, or
/// written by an incompatible version. Reported to operators as `StoreError.unavailable`.
struct UnreadableRow: Error, CustomStringConvertible {
    var table: String
    var column: String

    var description: String { "a stored \(table) row has an unreadable \(column) column" }
}

/// Typed, throwing access to the columns of one row. GRDB's subscripts trap on a NULL or a type
/// mismatch; a damaged database must fail the request, not the daemon.
struct StoredRow {
    let row: Row
    let table: String

    init(_ row: Row, table: String) {
        self.row = row
        self.table = table
    }

    func string(_ column: String) throws -> String {
        try decode(String.self, column)
    }

    func optionalString(_ column: String) throws -> String? {
        try decode(String?.self, column)
    }

    func int(_ column: String) throws -> Int {
        try decode(Int.self, column)
    }

    func optionalInt(_ column: String) throws -> Int? {
        try decode(Int?.self, column)
    }

    func date(_ column: String) throws -> Date {
        Date(timeIntervalSince1970: try decode(Double.self, column))
    }

    func optionalDate(_ column: String) throws -> Date? {
        try decode(Double?.self, column).map(Date.init(timeIntervalSince1970:))
    }

    func enumeration<Value: RawRepresentable>(_ type: Value.Type, _ column: String) throws -> Value where Value.RawValue == String {
        guard let value = Value(rawValue: try string(column)) else {
            throw UnreadableRow(table: table, column: column)
        }
        return value
    }

    func json<Value: Decodable>(_ type: Value.Type, _ column: String) throws -> Value {
        do {
            return try StoredJSON.decode(type, from: try string(column))
        } catch {
            throw UnreadableRow(table: table, column: column)
        }
    }

    func optionalJSON<Value: Decodable>(_ type: Value.Type, _ column: String) throws -> Value? {
        guard let text = try optionalString(column) else { return nil }
        do {
            return try StoredJSON.decode(type, from: text)
        } catch {
            throw UnreadableRow(table: table, column: column)
        }
    }

    func jsonValue(_ column: String) throws -> JSONValue {
        do {
            return try JSONValue.parse(Data(try string(column).utf8))
        } catch {
            throw UnreadableRow(table: table, column: column)
        }
    }

    private func decode<Value: DatabaseValueConvertible>(_ type: Value.Type, _ column: String) throws -> Value {
        do {
            return try row.decode(type, forColumn: column)
        } catch {
            throw UnreadableRow(table: table, column: column)
        }
    }
}

/// JSON text for structured columns, with sorted keys so equal values are stored as equal text.
enum StoredJSON {
    /// One configured encoder and decoder for every row: making them per value showed up as a
    /// large share of the intake write path. Both are safe to share between threads.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
    private static let decoder = JSONDecoder()

    static func encode(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A decision, its rule trace written directly (`Decision.storedJSON`): same text, a
    /// fraction of the time for long traces.
    static func encode(_ decision: Decision) throws -> String {
        String(decoding: try decision.storedJSON(using: encoder), as: UTF8.self)
    }

    static func encode(_ value: JSONValue) -> String {
        String(decoding: value.encoded(), as: UTF8.self)
    }

    static func decode<Value: Decodable>(_ type: Value.Type, from text: String) throws -> Value {
        try decoder.decode(type, from: Data(text.utf8))
    }
}

// MARK: - Column lists and row mapping

enum Columns {
    static let intake = """
        id, organization, source, source_kind, received_at, dedupe_key, raw_blob, raw_size, content_type, \
        status, status_reason, metadata, decision, item_id, updated_at
        """
    static let document = """
        id, intake_id, filename, declared_type, size, blob, origin, status, status_reason, created_at
        """
    static let item = """
        id, organization, pipeline, stage, position, priority, assignee, tags, title, description, intake_id, \
        fields, created_at, updated_at
        """
    static let activity = "id, organization, item_id, intake_id, actor, action, detail, at"
    static let job = """
        id, kind, payload, state, attempts, max_attempts, run_at, lease_owner, lease_expires_at, last_error, \
        created_at, updated_at
        """
}

extension Intake {
    init(stored row: Row) throws {
        let r = StoredRow(row, table: "intakes")
        self.init(
            id: try r.string("id"),
            organization: try r.string("organization"),
            source: try r.string("source"),
            sourceKind: try r.enumeration(SourceKind.self, "source_kind"),
            receivedAt: try r.date("received_at"),
            dedupeKey: try r.string("dedupe_key"),
            rawBlob: try r.string("raw_blob"),
            rawSize: try r.int("raw_size"),
            contentType: try r.string("content_type"),
            status: try r.enumeration(IntakeStatus.self, "status"),
            statusReason: try r.optionalString("status_reason"),
            metadata: try r.json([String: String].self, "metadata"),
            decision: try r.optionalJSON(Decision.self, "decision"),
            itemID: try r.optionalString("item_id"),
            updatedAt: try r.date("updated_at")
        )
    }
}

extension Document {
    init(stored row: Row) throws {
        let r = StoredRow(row, table: "documents")
        self.init(
            id: try r.string("id"),
            intakeID: try r.string("intake_id"),
            filename: try r.string("filename"),
            declaredType: try r.string("declared_type"),
            size: try r.int("size"),
            blob: try r.string("blob"),
            origin: try r.string("origin"),
            status: try r.enumeration(DocumentStatus.self, "status"),
            statusReason: try r.optionalString("status_reason"),
            createdAt: try r.date("created_at")
        )
    }
}

extension PipelineItem {
    init(stored row: Row) throws {
        let r = StoredRow(row, table: "items")
        self.init(
            id: try r.string("id"),
            organization: try r.string("organization"),
            pipeline: try r.string("pipeline"),
            stage: try r.string("stage"),
            position: try r.int("position"),
            priority: try r.enumeration(Priority.self, "priority"),
            assignee: try r.optionalString("assignee"),
            tags: try r.json([String].self, "tags"),
            title: try r.string("title"),
            description: try r.optionalString("description"),
            intakeID: try r.string("intake_id"),
            fields: try r.jsonValue("fields"),
            createdAt: try r.date("created_at"),
            updatedAt: try r.date("updated_at")
        )
    }
}

extension ActivityEntry {
    init(stored row: Row) throws {
        let r = StoredRow(row, table: "activity")
        self.init(
            id: try r.string("id"),
            organization: try r.string("organization"),
            itemID: try r.optionalString("item_id"),
            intakeID: try r.optionalString("intake_id"),
            actor: try r.string("actor"),
            action: try r.string("action"),
            detail: try r.string("detail"),
            at: try r.date("at")
        )
    }
}

extension Job {
    init(stored row: Row) throws {
        let r = StoredRow(row, table: "jobs")
        self.init(
            id: try r.string("id"),
            kind: try r.string("kind"),
            payload: try r.jsonValue("payload"),
            state: try r.enumeration(JobState.self, "state"),
            attempts: try r.int("attempts"),
            maxAttempts: try r.int("max_attempts"),
            runAt: try r.date("run_at"),
            leaseOwner: try r.optionalString("lease_owner"),
            leaseExpiresAt: try r.optionalDate("lease_expires_at"),
            lastError: try r.optionalString("last_error"),
            createdAt: try r.date("created_at"),
            updatedAt: try r.date("updated_at")
        )
    }
}
