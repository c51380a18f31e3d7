import Actions
import Core
import Foundation
import Logging
import Storage
import Testing

/// The `local` provider against a real SQLite store: its busy times are the host's active
/// bookings, and the engine stops offering a booked slot.
@Suite("Local calendar provider")
struct LocalCalendarProviderTests {
    static func withStore(_ body: (SQLiteStore) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("astralisd-local-provider-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("astralisd.sqlite").path, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await body(store)
    }

    static func booking(_ id: String, host: String, start: String, state: BookingState = .confirmed) -> Booking {
        let begin = AvailabilityEngineTests.at(start)
        return Booking(
            id: id, organization: "demo", calendar: "demo", host: host, uid: "\(id)@demo.example", start: begin,
            end: begin.addingTimeInterval(1_800), state: state, summary: "Call", attendee: CalendarAttendee(email: "r@customer.example"),
            createdAt: begin, updatedAt: begin)
    }

    @Test("busy times are the host's active bookings; create/update/cancel do no I/O")
    func busyTimesAreBookings() async throws {
        try await Self.withStore { store in
            for booking in [
                Self.booking("bk_1", host: "ada", start: "2026-03-02T10:00:00+01:00"),
                Self.booking("bk_2", host: "ada", start: "2026-03-02T11:00:00+01:00", state: .cancelled),
                Self.booking("bk_3", host: "bob", start: "2026-03-02T12:00:00+01:00"),
                Self.booking("bk_4", host: "ada", start: "2026-03-02T14:00:00+01:00", state: .pending),
            ] {
                _ = try await store.insertBooking(booking)
            }
            let provider = LocalCalendarProvider(calendar: "demo", host: "ada", bookings: store)
            #expect(provider.kind == "local")
            let day = DateInterval(start: AvailabilityEngineTests.at("2026-03-02T00:00:00+01:00"), duration: 86_400)
            let busy = try await provider.busyTimes(in: day)
            #expect(busy.map(\.start) == ["2026-03-02T10:00:00+01:00", "2026-03-02T14:00:00+01:00"].map(AvailabilityEngineTests.at))

            let event = CalendarEvent(
                uid: "bk_1@demo.example", stamp: day.start, start: day.start, end: day.start.addingTimeInterval(1_800), summary: "Call",
                organizer: CalendarAttendee(email: "ada@demo.example"), attendees: [])
            let created = try await provider.createEvent(event)
            #expect(created.providerEventID == nil && created.alreadyExisted == false)
            _ = try await provider.updateEvent(event, providerEventID: nil)
            try await provider.cancelEvent(event, providerEventID: nil)
            #expect(try await provider.busyTimes(in: day).count == 2, "the provider never writes: the booking row is the truth")
        }
    }

    @Test("the engine does not offer what the daemon already booked, and counts it towards limits")
    func engineSeesBookings() async throws {
        try await Self.withStore { store in
            _ = try await store.insertBooking(Self.booking("bk_1", host: "ada", start: "2026-03-02T10:00:00+01:00"))
            let host = AvailabilityEngineTests.host(perDay: 2)
            let calendar = AvailabilityEngineTests.calendar([host])
            let providers: [String: any CalendarProvider] = ["ada": LocalCalendarProvider(calendar: "demo", host: "ada", bookings: store)]
            let range = DateInterval(start: AvailabilityEngineTests.at("2026-03-02T00:00:00+01:00"), duration: 86_400)
            var states = try await CalendarAvailability.states(calendar: calendar, providers: providers, bookings: store, range: range)
            #expect(states["ada"]?.bookings.count == 1)
            let engine = try AvailabilityEngine(calendar: calendar)
            var slots = try engine.freeSlots(states: states, now: AvailabilityEngineTests.sunday, range: range, duration: 1_800)
            #expect(slots.count == 15)
            #expect(!slots.contains { $0.start == AvailabilityEngineTests.at("2026-03-02T10:00:00+01:00") })

            _ = try await store.insertBooking(Self.booking("bk_2", host: "ada", start: "2026-03-02T15:00:00+01:00", state: .pending))
            states = try await CalendarAvailability.states(calendar: calendar, providers: providers, bookings: store, range: range)
            slots = try engine.freeSlots(states: states, now: AvailabilityEngineTests.sunday, range: range, duration: 1_800)
            #expect(slots.isEmpty, "max_per_day 2 reached")
        }
    }

    @Test("a host of two calendars is not booked twice through them")
    func hostSharedBetweenCalendars() async throws {
        try await Self.withStore { store in
            // Ada is host "ada" of calendar demo and host "a.lovelace" (same email) of calendar support,
            // whose intersection bookings name its first host, bob.
            _ = try await store.insertBooking(Self.booking("bk_1", host: "ada", start: "2026-03-02T10:00:00+01:00"))
            var other = Self.booking("bk_2", host: "bob", start: "2026-03-02T12:00:00+01:00")
            other.calendar = "support"
            _ = try await store.insertBooking(other)
            var bob = Self.booking("bk_3", host: "bob", start: "2026-03-02T14:00:00+01:00")
            bob.calendar = "elsewhere"
            _ = try await store.insertBooking(bob)
            let demo = AvailabilityEngineTests.calendar([AvailabilityEngineTests.host()])
            var ada = AvailabilityEngineTests.host("a.lovelace")
            ada.email = "ADA@example.com"
            var support = AvailabilityEngineTests.calendar([AvailabilityEngineTests.host("bob"), ada])
            support.name = "support"
            let elsewhere = CalendarConfig(name: "elsewhere", organization: "demo", hosts: [AvailabilityEngineTests.host("bob")])
            let range = DateInterval(start: AvailabilityEngineTests.at("2026-03-02T00:00:00+01:00"), duration: 86_400)
            let alone = try await CalendarAvailability.states(calendar: demo, providers: [:], bookings: store, range: range)
            #expect(alone["ada"]?.bookings.count == 1, "without the other calendars only its own booking")
            let states = try await CalendarAvailability.states(calendar: demo, providers: [:], bookings: store, range: range, others: [demo, support, elsewhere])
            #expect(states["ada"]?.bookings.map(\.start) == ["2026-03-02T10:00:00+01:00", "2026-03-02T12:00:00+01:00"].map(AvailabilityEngineTests.at))
            let slots = try AvailabilityEngine(calendar: demo).freeSlots(states: states, now: AvailabilityEngineTests.sunday, range: range, duration: 1_800)
            #expect(!slots.contains { $0.start == AvailabilityEngineTests.at("2026-03-02T12:00:00+01:00") })
            #expect(slots.contains { $0.start == AvailabilityEngineTests.at("2026-03-02T14:00:00+01:00") }, "bob's other booking is not ada's")
        }
    }
}
