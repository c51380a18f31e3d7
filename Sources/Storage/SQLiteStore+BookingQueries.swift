public import Core
import Foundation
import GRDB

extension SQLiteStore: BookingQueries {
    /// Walks `bookings_organization_start` (scoped) or `bookings_start` backwards (migration
    /// `v10-booking-queries`); the other filters are checked on the way (BookingQueryPlanTests).
    public func bookings(_ filter: BookingFilter) async throws -> [Booking] {
        guard filter.limit > 0 else { return [] }
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let organization = filter.organization {
            conditions.append("organization = ?")
            arguments.append(organization)
        }
        if let calendar = filter.calendar {
            conditions.append("calendar = ?")
            arguments.append(calendar)
        }
        if !filter.states.isEmpty {
            let states = filter.states.map(\.rawValue).sorted()
            conditions.append("state IN (\(Array(repeating: "?", count: states.count).joined(separator: ", ")))")
            arguments += states.map { $0 as (any DatabaseValueConvertible)? }
        }
        if let from = filter.startingFrom {
            conditions.append("start_at >= ?")
            arguments.append(from.timeIntervalSince1970)
        }
        if let to = filter.startingBefore {
            conditions.append("start_at < ?")
            arguments.append(to.timeIntervalSince1970)
        }
        if let before = filter.before {
            // An unknown cursor id makes the row value NULL: an empty page, never a restart.
            conditions.append("(start_at, id) < (SELECT start_at, id FROM bookings WHERE id = ?)")
            arguments.append(before)
        }
        arguments.append(filter.limit)
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT \(Self.bookingColumns) FROM bookings \(whereClause) ORDER BY start_at DESC, id DESC LIMIT ?"
        let statementArguments = StatementArguments(arguments)
        return try await read("listing bookings") { db in
            try Row.fetchAll(db, sql: sql, arguments: statementArguments).map(Booking.init(stored:))
        }
    }

    public func bookingEmails(bookingID: String) async throws -> [ReplyRecord] {
        let prefix = Booking.emailTemplatePrefix(bookingID: bookingID)
        // `replies_template`. A prefix as a range ('booking.X.' ≤ template < 'booking.X/'): no LIKE wildcards in ids to escape.
        let upper = String(prefix.dropLast()) + "/"
        return try await read("listing booking emails") { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM replies WHERE template >= ? AND template < ? ORDER BY created_at, id", arguments: [prefix, upper]
            ).map(Self.replyRecord)
        }
    }
}
