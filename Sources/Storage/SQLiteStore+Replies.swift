public import Core
public import Foundation
import GRDB

extension SQLiteStore: ReplyStore {
    public func reply(id: String) async throws -> ReplyRecord? {
        try await read("reading a reply") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM replies WHERE id = ?", arguments: [id]).map(Self.replyRecord)
        }
    }

    public func insertReply(_ record: ReplyRecord) async throws -> Bool {
        try await write("recording a reply") { db in
            try db.execute(
                sql: """
                    INSERT INTO replies (id, intake_id, organization, template, account, recipient, message_id, state,
                        reason, server_reply, attempts, created_at, updated_at, sent_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO NOTHING
                    """,
                arguments: [
                    record.id, record.intakeID, record.organization, record.template, record.account,
                    record.recipient.lowercased(), record.messageID, record.state.rawValue, record.reason,
                    record.serverReply, record.attempts, record.createdAt.timeIntervalSince1970,
                    record.updatedAt.timeIntervalSince1970, record.sentAt?.timeIntervalSince1970,
                ])
            return db.changesCount > 0
        }
    }

    public func updateReply(id: String, from: Set<ReplyState>, _ transition: ReplyTransition) async throws -> ReplyRecord? {
        let now = clock.now().timeIntervalSince1970
        let states = from.map(\.rawValue).sorted()
        return try await write("updating a reply") { db in
            let placeholders = Array(repeating: "?", count: states.count).joined(separator: ", ")
            var arguments: StatementArguments = [
                transition.to.rawValue, transition.reason, transition.serverReply, transition.countsAttempt ? 1 : 0, now,
                transition.to == .sent ? now : nil, id,
            ]
            arguments += StatementArguments(states)
            try db.execute(
                sql: """
                    UPDATE replies SET state = ?, reason = ?, server_reply = COALESCE(?, server_reply),
                        attempts = attempts + ?, updated_at = ?, sent_at = COALESCE(?, sent_at)
                    WHERE id = ? AND state IN (\(placeholders))
                    """,
                arguments: arguments)
            guard db.changesCount > 0 else { return nil }
            return try Row.fetchOne(db, sql: "SELECT * FROM replies WHERE id = ?", arguments: [id]).map(Self.replyRecord)
        }
    }

    public func countReplies(recipient: String, since: Date) async throws -> Int {
        try await read("counting replies") { db in
            try Int.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) FROM replies
                    WHERE recipient = ? AND created_at >= ? AND state IN ('sent', 'sending', 'unconfirmed')
                    """,
                arguments: [recipient.lowercased(), since.timeIntervalSince1970]) ?? 0
        }
    }

    public func replies(intakeID: String) async throws -> [ReplyRecord] {
        try await read("listing replies") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM replies WHERE intake_id = ? ORDER BY created_at, id", arguments: [intakeID])
                .map(Self.replyRecord)
        }
    }

    public func recentReplies(limit: Int) async throws -> [ReplyRecord] {
        try await read("listing replies") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM replies ORDER BY created_at DESC, id DESC LIMIT ?", arguments: [max(0, limit)])
                .map(Self.replyRecord)
        }
    }

    static func replyRecord(_ row: Row) -> ReplyRecord {
        ReplyRecord(
            id: row["id"], intakeID: row["intake_id"], organization: row["organization"], template: row["template"],
            account: row["account"], recipient: row["recipient"], messageID: row["message_id"],
            state: ReplyState(rawValue: row["state"] ?? "") ?? .unconfirmed, reason: row["reason"],
            serverReply: row["server_reply"], attempts: row["attempts"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]), updatedAt: Date(timeIntervalSince1970: row["updated_at"]),
            sentAt: (row["sent_at"] as Double?).map(Date.init(timeIntervalSince1970:)))
    }
}
