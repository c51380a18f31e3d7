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
}
