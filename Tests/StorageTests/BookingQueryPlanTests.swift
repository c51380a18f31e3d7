import Core
import Foundation
import GRDB
import Logging
@testable import Storage
import Testing

@Suite("SQLite bookings: overlap queries use their index")
struct BookingQueryPlanTests {
    @Test func overlapQueriesSearchAnIndex() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteStore(path: directory + "/astralisd.sqlite", clock: ManualWallClock(), logger: .quiet)
            let plans = try await store.pool.read { db -> [String] in
                let host = try Row.fetchAll(db, sql: """
                    EXPLAIN QUERY PLAN SELECT id FROM bookings
                    WHERE calendar = 'demo' AND host = 'ada' AND state IN ('pending', 'confirmed') AND start_at < 2 AND end_at > 1
                    ORDER BY start_at, id
                    """).map { $0["detail"] as String? ?? "" }.joined(separator: "; ")
                let calendar = try Row.fetchAll(db, sql: """
                    EXPLAIN QUERY PLAN SELECT id FROM bookings
                    WHERE calendar = 'demo' AND state IN ('pending', 'confirmed') AND start_at < 2 AND end_at > 1
                    ORDER BY start_at, id
                    """).map { $0["detail"] as String? ?? "" }.joined(separator: "; ")
                return [host, calendar]
            }
            #expect(plans[0].contains("USING INDEX bookings_overlap"), "\(plans[0])")
            #expect(plans[1].contains("USING INDEX bookings_calendar_start"), "\(plans[1])")
        }
    }

    /// The operators' listing (scoped and unscoped, with the paging cursor) and a booking's emails
    /// walk indexes instead of scanning and sorting (migration v10-booking-queries).
    @Test func listingQueriesSearchAnIndex() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteStore(path: directory + "/astralisd.sqlite", clock: ManualWallClock(), logger: .quiet)
            func plan(_ sql: String) async throws -> String {
                try await store.pool.read { db in
                    try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String? ?? "" }.joined(separator: "; ")
                }
            }
            let scoped = try await plan("""
                SELECT id FROM bookings WHERE organization = 'demo' AND calendar = 'demo' AND state IN ('confirmed')
                AND start_at >= 1 AND (start_at, id) < (SELECT start_at, id FROM bookings WHERE id = 'bk_1')
                ORDER BY start_at DESC, id DESC LIMIT 100
                """)
            #expect(scoped.contains("INDEX bookings_organization_start"), "\(scoped)")
            #expect(!scoped.contains("TEMP B-TREE"), "\(scoped)")
            let unscoped = try await plan("SELECT id FROM bookings ORDER BY start_at DESC, id DESC LIMIT 100")
            #expect(unscoped.contains("INDEX bookings_start"), "\(unscoped)")
            #expect(!unscoped.contains("TEMP B-TREE"), "\(unscoped)")
            let emails = try await plan("SELECT * FROM replies WHERE template >= 'booking.bk_1.' AND template < 'booking.bk_1/' ORDER BY created_at, id")
            #expect(emails.contains("INDEX replies_template"), "\(emails)")
        }
    }
}
