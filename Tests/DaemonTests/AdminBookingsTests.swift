@testable import Daemon
import Core
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Storage
import Testing

@Suite("Admin API: bookings")
struct AdminBookingsTests {
    static func booking(_ id: String, organization: String = "demo", calendar: String = "demo", hours: Double, state: BookingState, intake: String) -> Booking {
        let base = Date(timeIntervalSince1970: 1_800_000_000)
        let start = base.addingTimeInterval(hours * 3_600)
        return Booking(
            id: id, organization: organization, calendar: calendar, host: "ada", uid: "\(id)@astralisd.test", start: start, end: start.addingTimeInterval(1_800),
            state: state, summary: "Call \(id)", attendee: CalendarAttendee(email: "req-\(id)@customer.example", name: "Req"), intakeID: intake,
            createdAt: base, updatedAt: base)
    }

    @Test func listFiltersPagesAndScopes() async throws {
        let env = try await AdminTestEnvironment.make()
        defer { env.fixture.cleanUp() }
        let store = env.app.store
        for booking in [
            Self.booking("bk_a1", hours: 1, state: .confirmed, intake: env.intakeID),
            Self.booking("bk_a2", hours: 2, state: .pending, intake: env.intakeID),
            Self.booking("bk_a3", calendar: "sales", hours: 3, state: .cancelled, intake: env.intakeID),
            Self.booking("bk_o1", organization: "other", calendar: "theirs", hours: 4, state: .confirmed, intake: env.intakeID),
        ] {
            #expect(try await store.insertBooking(booking))
        }
        try await Application(router: env.app.makeAdminRouter()).test(.router) { client in
            func get(_ uri: String, as caller: AdminTestEnvironment.Caller = .viewer, status: HTTPResponse.Status = .ok) async throws -> JSONValue {
                let response = try await client.execute(uri: uri, method: .get, headers: env.headers(caller))
                #expect(response.status == status, "\(uri): \(String(buffer: response.body))")
                return try JSONValue.parse(Data(response.body.readableBytesView))
            }
            func ids(_ body: JSONValue) -> [String] { body["bookings"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? [] }

            #expect(ids(try await get("/v1/bookings")) == ["bk_o1", "bk_a3", "bk_a2", "bk_a1"])
            #expect(ids(try await get("/v1/bookings?organization=demo")) == ["bk_a3", "bk_a2", "bk_a1"])
            #expect(ids(try await get("/v1/bookings?calendar=sales")) == ["bk_a3"])
            #expect(ids(try await get("/v1/bookings?state=pending,confirmed&organization=demo")) == ["bk_a2", "bk_a1"])
            #expect(ids(try await get("/v1/bookings?from=2027-01-15T09:00:00Z&to=2027-01-15T10:30:00%2B00:00")) == ["bk_a2", "bk_a1"])
            // 1_800_000_000 is 2027-01-15T08:00:00Z.
            #expect(ids(try await get("/v1/bookings?from=2027-01-15T10:00:00Z")) == ["bk_o1", "bk_a3", "bk_a2"])

            let first = try await get("/v1/bookings?limit=2")
            #expect(ids(first) == ["bk_o1", "bk_a3"])
            #expect(first["next_before"] == .string("bk_a3"))
            let second = try await get("/v1/bookings?limit=2&before=bk_a3")
            #expect(ids(second) == ["bk_a2", "bk_a1"])
            #expect(ids(try await get("/v1/bookings?limit=2&before=bk_a1")).isEmpty)
            #expect(try await get("/v1/bookings?limit=3&before=bk_a3")["next_before"] == .null)

            // The JSON a booking has.
            let one = try #require(try await get("/v1/bookings?calendar=sales")["bookings"]?.arrayValue?.first)
            #expect(one["state"] == .string("cancelled"))
            #expect(one["start"] == .string("2027-01-15T11:00:00Z"))
            #expect(one["attendee"]?["email"] == .string("req-bk_a3@customer.example"))
            #expect(one["attendee"]?["status"] == .string("NEEDS-ACTION"))

            // A scoped token sees its organization only, and may not ask for another.
            #expect(ids(try await get("/v1/bookings", as: .otherOrg)) == ["bk_o1"])
            #expect(ids(try await get("/v1/bookings?organization=other", as: .otherOrg)) == ["bk_o1"])
            let refused = try await get("/v1/bookings?organization=demo", as: .otherOrg, status: .badRequest)
            #expect(refused["detail"]?.stringValue?.hasPrefix("organization:") == true)

            // Clear 400s, each naming its parameter.
            for (uri, parameter) in [
                ("/v1/bookings?state=booked", "state:"), ("/v1/bookings?from=yesterday", "from:"), ("/v1/bookings?to=2027-13-01", "to:"),
                ("/v1/bookings?from=2027-01-16&to=2027-01-15", "to:"), ("/v1/bookings?limit=0", "limit:"), ("/v1/bookings?limit=501", "limit:"),
                ("/v1/bookings?status=pending", "status:"),
            ] {
                let problem = try await get(uri, status: .badRequest)
                #expect(problem["detail"]?.stringValue?.hasPrefix(parameter) == true, "\(uri): \(problem)")
            }
        }
    }

    @Test func detailHasTheBookingsEmails() async throws {
        let env = try await AdminTestEnvironment.make()
        defer { env.fixture.cleanUp() }
        let store = env.app.store
        #expect(try await store.insertBooking(Self.booking("bk_d1", hours: 1, state: .confirmed, intake: env.intakeID)))
        #expect(try await store.insertBooking(Self.booking("bk_o2", organization: "other", hours: 2, state: .confirmed, intake: env.intakeID)))
        let now = Date()
        for (template, seconds) in [("booking.bk_d1.invitation", 0.0), ("booking.bk_d1.reminder.3600", 5), ("booking.bk_d10.invitation", 1), ("thanks", 2)] {
            _ = try await store.insertReply(ReplyRecord(
                id: ReplyRecord.key(intakeID: env.intakeID, template: template), intakeID: env.intakeID, organization: "demo", template: template,
                account: "default", recipient: "req@customer.example", messageID: "\(template)@astralisd.test", state: .sent,
                createdAt: now.addingTimeInterval(seconds), updatedAt: now.addingTimeInterval(seconds)))
        }
        try await Application(router: env.app.makeAdminRouter()).test(.router) { client in
            let response = try await client.execute(uri: "/v1/bookings/bk_d1", method: .get, headers: env.headers(.viewer))
            #expect(response.status == .ok)
            let body = try JSONValue.parse(Data(response.body.readableBytesView))
            #expect(body["booking"]?["id"] == .string("bk_d1"))
            #expect(body["emails"]?.arrayValue?.compactMap { $0["template"]?.stringValue } == ["booking.bk_d1.invitation", "booking.bk_d1.reminder.3600"])
            #expect(body["emails"]?.arrayValue?.first?["state"] == .string("sent"))

            let missing = try await client.execute(uri: "/v1/bookings/bk_nope", method: .get, headers: env.headers(.viewer))
            #expect(missing.status == .notFound)
            // Another organization's booking is not confirmed to a scoped token: 404, as for a missing one.
            let hidden = try await client.execute(uri: "/v1/bookings/bk_d1", method: .get, headers: env.headers(.otherOrg))
            #expect(hidden.status == .notFound)
            let own = try await client.execute(uri: "/v1/bookings/bk_o2", method: .get, headers: env.headers(.otherOrg))
            #expect(own.status == .ok)
        }
    }
}
