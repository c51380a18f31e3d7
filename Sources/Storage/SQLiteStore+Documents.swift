public import Core
import Foundation
import GRDB

extension SQLiteStore: DocumentStore {
    public func markDocumentProcessing(id: String) async throws -> Bool {
        try await write("starting a document") { db in
            try db.execute(
                sql: "UPDATE documents SET status = 'processing', status_reason = NULL WHERE id = ? AND status IN ('pending', 'processing')",
                arguments: [id])
            return db.changesCount > 0
        }
    }

    public func recordDocumentOutcome(id: String, _ outcome: DocumentOutcome) async throws {
        let now = clock.now().timeIntervalSince1970
        var stored = outcome
        // Text lives in its own column; the JSON keeps pages and the rest.
        stored.extraction?.text = ""
        let json = try StoredJSON.encode(stored)
        let languages = try outcome.extraction.map { try StoredJSON.encode($0.languages) }
        try await write("recording a document outcome") { db in
            try db.execute(
                sql: """
                    UPDATE documents SET status = ?, status_reason = ?, detected_type = ?, type_mismatch = ?, text = ?,
                        page_count = ?, ocr_confidence = ?, languages = ?, thumbnail_blob = ?, kind = ?, fields = ?,
                        extraction = ?, extracted_at = ?
                    WHERE id = ?
                    """,
                arguments: [
                    outcome.status.rawValue, outcome.reason, outcome.detectedType, outcome.typeMismatch, outcome.extraction?.text,
                    outcome.extraction?.pageCount, outcome.extraction?.ocrConfidence, languages, outcome.thumbnailBlob,
                    outcome.kind, outcome.fields.map { StoredJSON.encode($0) }, json, now, id,
                ])
            if db.changesCount == 0 { throw StoreError.notFound("document \(id)") }
        }
    }

    public func documentOutcomes(intakeID: String) async throws -> [String: DocumentOutcome] {
        try await read("reading document outcomes") { db in
            var outcomes: [String: DocumentOutcome] = [:]
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT id, text, extraction FROM documents WHERE intake_id = ? AND extraction IS NOT NULL ORDER BY position",
                arguments: [intakeID])
            for row in rows {
                let stored = StoredRow(row, table: "documents")
                var outcome = try stored.json(DocumentOutcome.self, "extraction")
                if let text = try stored.optionalString("text") { outcome.extraction?.text = text }
                outcomes[try stored.string("id")] = outcome
            }
            return outcomes
        }
    }
}
