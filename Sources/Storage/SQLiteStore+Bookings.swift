public import Core
public import Foundation
import GRDB

extension SQLiteStore: BookingStore, BookingCommitting {
    static let bookingColumns = """
        id, organization, calendar, host, uid, sequence, start_at, end_at, state, summary, description, location, \
        meeting_url, attendee, intake_id, item_id, provider_event_id, reason, created_at, updated_at
        """

    public func insertBooking(_ booking: Booking) async throws -> Bool {
        let arguments = try Self.bookingArguments(booking)
        return try await write("recording a booking") { db in
            try Self.insertBooking(arguments, in: db)
        }
    }

    /// Inserts a row from `bookingArguments`; false when its id or uid exists.
    @discardableResult
    static func insertBooking(_ arguments: StatementArguments, in db: Database) throws -> Bool {
        try db.cachedStatement(sql: """
            INSERT INTO bookings (\(Self.bookingColumns))
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT DO NOTHING
            """).execute(arguments: arguments)
        return db.changesCount > 0
    }

    public func booking(id: String) async throws -> Booking? {
        try await read("reading a booking") { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.bookingColumns) FROM bookings WHERE id = ?", arguments: [id]).map(Booking.init(stored:))
        }
    }

    public func booking(uid: String) async throws -> Booking? {
        try await read("reading a booking") { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.bookingColumns) FROM bookings WHERE uid = ?", arguments: [uid]).map(Booking.init(stored:))
        }
    }

    public func updateBooking(_ booking: Booking) async throws {
        let arguments = try Self.bookingArguments(booking)
        try await write("updating a booking") { db in
            // Every column but the id (the lookup) and created_at (kept); arguments follow
            // `bookingColumns`, so ?1 is the id.
            try db.execute(
                sql: """
                    UPDATE bookings SET organization = ?2, calendar = ?3, host = ?4, uid = ?5, sequence = ?6, start_at = ?7,
                        end_at = ?8, state = ?9, summary = ?10, description = ?11, location = ?12, meeting_url = ?13,
                        attendee = ?14, intake_id = ?15, item_id = ?16, provider_event_id = ?17, reason = ?18, updated_at = ?20
                    WHERE id = ?1
                    """,
                arguments: arguments)
            guard db.changesCount > 0 else { throw StoreError.notFound("booking \(booking.id)") }
        }
    }

    public func changeBooking(
        _ booking: Booking, expectedSequence: Int, from states: Set<BookingState>, jobs: [NewJob], activity: BookingActivity?
    ) async throws -> Bool {
        let arguments = try Self.bookingArguments(booking)
        let now = clock.now()
        return try await write("changing a booking") { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT sequence, state FROM bookings WHERE id = ?", arguments: [booking.id]) else {
                throw StoreError.notFound("booking \(booking.id)")
            }
            let sequence: Int = row["sequence"]
            let state: String = row["state"]
            guard sequence == expectedSequence, let current = BookingState(rawValue: state), states.contains(current) else { return false }
            // Every column but the id, created_at and the attendee (see `recordAttendee`).
            try db.execute(
                sql: """
                    UPDATE bookings SET organization = ?2, calendar = ?3, host = ?4, uid = ?5, sequence = ?6, start_at = ?7,
                        end_at = ?8, state = ?9, summary = ?10, description = ?11, location = ?12, meeting_url = ?13,
                        intake_id = ?15, item_id = ?16, provider_event_id = ?17, reason = ?18, updated_at = ?20
                    WHERE id = ?1
                    """,
                arguments: arguments)
            try self.insertJobs(jobs, now: now, in: db)
            if let activity {
                try self.insertActivity(ActivityEntry(
                    id: Identifier.make(prefix: "act", at: now), organization: booking.organization, itemID: booking.itemID,
                    intakeID: booking.intakeID, actor: activity.actor, action: activity.action, detail: activity.detail, at: now), in: db)
            }
            return true
        }
    }

    public func recordAttendee(
        bookingID: String, attendee: CalendarAttendee, expectedSequence: Int, from states: Set<BookingState>, at: Date, activity: BookingActivity?
    ) async throws -> Bool {
        let encoded = try StoredJSON.encode(attendee)
        let now = clock.now()
        return try await write("recording an attendee's answer") { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT sequence, state, organization, item_id, intake_id FROM bookings WHERE id = ?", arguments: [bookingID])
            else {
                throw StoreError.notFound("booking \(bookingID)")
            }
            let sequence: Int = row["sequence"]
            let state: String = row["state"]
            guard sequence == expectedSequence, let current = BookingState(rawValue: state), states.contains(current) else { return false }
            try db.execute(
                sql: "UPDATE bookings SET attendee = ?, updated_at = ? WHERE id = ?", arguments: [encoded, at.timeIntervalSince1970, bookingID])
            if let activity {
                try self.insertActivity(ActivityEntry(
                    id: Identifier.make(prefix: "act", at: now), organization: row["organization"], itemID: row["item_id"],
                    intakeID: row["intake_id"], actor: activity.actor, action: activity.action, detail: activity.detail, at: now), in: db)
            }
            return true
        }
    }

    public func activeBookings(calendar: String, host: String?, overlapping range: DateInterval) async throws -> [Booking] {
        let lo = range.start.timeIntervalSince1970
        let hi = range.end.timeIntervalSince1970
        return try await read("listing bookings") { db in
            let rows: [Row]
            if let host {
                rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT \(Self.bookingColumns) FROM bookings
                        WHERE calendar = ? AND host = ? AND state IN ('pending', 'confirmed') AND start_at < ? AND end_at > ?
                        ORDER BY start_at, id
                        """,
                    arguments: [calendar, host, hi, lo])
            } else {
                rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT \(Self.bookingColumns) FROM bookings
                        WHERE calendar = ? AND state IN ('pending', 'confirmed') AND start_at < ? AND end_at > ?
                        ORDER BY start_at, id
                        """,
                    arguments: [calendar, hi, lo])
            }
            return try rows.map(Booking.init(stored:))
        }
    }

    public func bookings(intakeID: String) async throws -> [Booking] {
        try await read("listing bookings") { db in
            try Row.fetchAll(
                db, sql: "SELECT \(Self.bookingColumns) FROM bookings WHERE intake_id = ? ORDER BY created_at, id", arguments: [intakeID]
            ).map(Booking.init(stored:))
        }
    }

    static func bookingArguments(_ b: Booking) throws -> StatementArguments {
        let attendee = try StoredJSON.encode(b.attendee)
        let values: [(any DatabaseValueConvertible)?] = [
            b.id, b.organization, b.calendar, b.host, b.uid, b.sequence, b.start.timeIntervalSince1970, b.end.timeIntervalSince1970,
            b.state.rawValue, b.summary, b.description, b.location, b.meetingURL, attendee, b.intakeID, b.itemID, b.providerEventID,
            b.reason, b.createdAt.timeIntervalSince1970, b.updatedAt.timeIntervalSince1970,
        ]
        return StatementArguments(values)
    }
}

extension Booking {
    init(stored row: Row) throws {
        let r = StoredRow(row, table: "bookings")
        self.init(
            id: try r.string("id"), organization: try r.string("organization"), calendar: try r.string("calendar"),
            host: try r.string("host"), uid: try r.string("uid"), sequence: try r.int("sequence"), start: try r.date("start_at"),
            end: try r.date("end_at"), state: try r.enumeration(BookingState.self, "state"), summary: try r.string("summary"),
            description: try r.optionalString("description"), location: try r.optionalString("location"),
            meetingURL: try r.optionalString("meeting_url"), attendee: try r.json(CalendarAttendee.self, "attendee"),
            intakeID: try r.optionalString("intake_id"), itemID: try r.optionalString("item_id"),
            providerEventID: try r.optionalString("provider_event_id"), reason: try r.optionalString("reason"),
            createdAt: try r.date("created_at"), updatedAt: try r.date("updated_at"))
    }
}
