import Actions
import Core
import Foundation
import Testing

/// Availability table tests: every expectation is a wall-clock time written in the host's zone
/// (with its offset), so a wrong zone, DST or buffer calculation shows as a wrong instant.
@Suite("Availability engine")
struct AvailabilityEngineTests {
    static let weekdays = Dictionary(uniqueKeysWithValues: (1...5).map { ($0, [LocalTimeRange(startMinute: 540, endMinute: 1_020)]) })
    static let everyDay = Dictionary(uniqueKeysWithValues: (1...7).map { ($0, [LocalTimeRange(startMinute: 540, endMinute: 1_020)]) })
    /// Sunday 2026-03-01 00:00 UTC.
    static let sunday = at("2026-03-01T00:00:00Z")

    static func at(_ text: String) -> Date {
        ISO8601DateFormatter().date(from: text) ?? Date(timeIntervalSince1970: 0)
    }

    static func host(
        _ name: String = "ada", zone: String = "Europe/Berlin", hours: [Int: [LocalTimeRange]] = weekdays, overrides: [AvailabilityOverride] = [],
        before: TimeInterval = 0, after: TimeInterval = 0, notice: TimeInterval = 0, perDay: Int? = nil, perWeek: Int? = nil
    ) -> CalendarHost {
        CalendarHost(
            name: name, email: "\(name)@example.com", timeZone: zone, weeklyHours: hours, overrides: overrides, bufferBefore: before,
            bufferAfter: after, minimumNotice: notice, maxPerDay: perDay, maxPerWeek: perWeek)
    }

    static func calendar(_ hosts: [CalendarHost], assignment: HostAssignment = .intersection, interval: TimeInterval = 1_800, durations: [TimeInterval] = [1_800, 3_600]) -> CalendarConfig {
        CalendarConfig(name: "demo", organization: "demo", hosts: hosts, assignment: assignment, slotInterval: interval, bookingWindow: 90 * 86_400, durations: durations)
    }

    static func slots(
        _ calendar: CalendarConfig, from: String, to: String, now: Date = sunday, duration: TimeInterval = 1_800,
        states: [String: HostCalendarState] = [:], hostOrder: [String]? = nil
    ) throws -> [Slot] {
        try AvailabilityEngine(calendar: calendar).freeSlots(
            states: states, now: now, range: DateInterval(start: at(from), end: at(to)), duration: duration, hostOrder: hostOrder)
    }

    static func busy(_ from: String, _ to: String) -> DateInterval { DateInterval(start: at(from), end: at(to)) }

    @Test("weekly hours: Monday 09:00-17:00 Berlin gives 16 half-hour slots, first 09:00+01:00, last 16:30+01:00")
    func weeklyHours() throws {
        let slots = try Self.slots(Self.calendar([Self.host()]), from: "2026-03-01T00:00:00Z", to: "2026-03-03T00:00:00Z")
        #expect(slots.count == 16)
        #expect(slots.first?.start == Self.at("2026-03-02T09:00:00+01:00"))
        #expect(slots.last?.start == Self.at("2026-03-02T16:30:00+01:00"))
        #expect(slots.last?.end == Self.at("2026-03-02T17:00:00+01:00"))
        #expect(slots.allSatisfy { $0.hosts == ["ada"] })
    }

    @Test("overrides", arguments: [
        // A day off on a working Monday.
        ("day off", "2026-03-02", [LocalTimeRange](), "2026-03-02T00:00:00+01:00", [String]()),
        // Extra hours on a Saturday.
        ("extra hours", "2026-03-07", [LocalTimeRange(startMinute: 600, endMinute: 720)], "2026-03-07T00:00:00+01:00",
         ["2026-03-07T10:00:00+01:00", "2026-03-07T10:30:00+01:00", "2026-03-07T11:00:00+01:00", "2026-03-07T11:30:00+01:00"]),
        // Other hours on a Monday replace the weekly ones.
        ("other hours", "2026-03-02", [LocalTimeRange(startMinute: 780, endMinute: 840), LocalTimeRange(startMinute: 960, endMinute: 990)], "2026-03-02T00:00:00+01:00",
         ["2026-03-02T13:00:00+01:00", "2026-03-02T13:30:00+01:00", "2026-03-02T16:00:00+01:00"]),
    ])
    func overrides(name: String, date: String, hours: [LocalTimeRange], dayStart: String, expected: [String]) throws {
        let parts = date.split(separator: "-").compactMap { Int($0) }
        let override = AvailabilityOverride(year: parts[0], month: parts[1], day: parts[2], hours: hours)
        let calendar = Self.calendar([Self.host(overrides: [override])])
        let slots = try Self.slots(calendar, from: dayStart, to: Self.iso(Self.at(dayStart).addingTimeInterval(86_400)))
        #expect(slots.map(\.start) == expected.map(Self.at), "\(name)")
        // The day after keeps its weekly hours (Tuesday) or none (Sunday).
        let next = try Self.slots(calendar, from: Self.iso(Self.at(dayStart).addingTimeInterval(86_400)), to: Self.iso(Self.at(dayStart).addingTimeInterval(2 * 86_400)))
        #expect(next.count == (name == "extra hours" ? 0 : 16), "\(name)")
    }

    static func iso(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    @Test("buffers widen a 10:00-11:00 meeting", arguments: [
        (0.0, 0.0, "2026-03-02T09:30:00+01:00", "2026-03-02T11:00:00+01:00"),
        (900.0, 0.0, "2026-03-02T09:30:00+01:00", "2026-03-02T11:15:00+01:00"),
        (0.0, 900.0, "2026-03-02T09:15:00+01:00", "2026-03-02T11:00:00+01:00"),
        (1_800.0, 1_800.0, "2026-03-02T09:00:00+01:00", "2026-03-02T11:30:00+01:00"),
    ])
    func buffers(before: TimeInterval, after: TimeInterval, lastBefore: String, firstAfter: String) throws {
        let calendar = Self.calendar([Self.host(before: before, after: after)], interval: 900)
        let states = ["ada": HostCalendarState(busy: [Self.busy("2026-03-02T10:00:00+01:00", "2026-03-02T11:00:00+01:00")])]
        let slots = try Self.slots(calendar, from: "2026-03-02T00:00:00+01:00", to: "2026-03-02T13:00:00+01:00", states: states)
        let meeting = Self.at("2026-03-02T10:00:00+01:00")
        #expect(slots.last { $0.start < meeting }?.start == Self.at(lastBefore))
        #expect(slots.first { $0.start >= meeting }?.start == Self.at(firstAfter))
    }

    @Test("minimum notice from 10:07 on a Monday", arguments: [
        (0.0, "2026-03-02T10:30:00+01:00"),
        (3_600.0, "2026-03-02T11:30:00+01:00"),
        (7 * 3_600.0, "2026-03-03T09:00:00+01:00"),
        (86_400.0, "2026-03-03T10:30:00+01:00"),
    ])
    func minimumNotice(notice: TimeInterval, first: String) throws {
        let now = Self.at("2026-03-02T10:07:00+01:00")
        let slots = try Self.slots(Self.calendar([Self.host(notice: notice)]), from: "2026-03-02T00:00:00+01:00", to: "2026-03-06T00:00:00+01:00", now: now)
        #expect(slots.first?.start == Self.at(first))
    }

    @Test("per-day and per-week limits count the daemon's bookings", arguments: [
        // Two bookings on Monday: a limit of 2 closes Monday only.
        (2 as Int?, nil as Int?, ["2026-03-02T09:00:00+01:00", "2026-03-02T10:00:00+01:00"], 0, 16),
        (3 as Int?, nil as Int?, ["2026-03-02T09:00:00+01:00", "2026-03-02T10:00:00+01:00"], 14, 16),
        // Monday and Tuesday bookings: a weekly limit of 2 closes the whole ISO week (Mon 2 - Sun 8).
        (nil as Int?, 2 as Int?, ["2026-03-02T09:00:00+01:00", "2026-03-03T09:00:00+01:00"], 0, 0),
        (nil as Int?, 3 as Int?, ["2026-03-02T09:00:00+01:00", "2026-03-03T09:00:00+01:00"], 15, 15),
    ])
    func limits(perDay: Int?, perWeek: Int?, bookings: [String], monday: Int, tuesday: Int) throws {
        let calendar = Self.calendar([Self.host(perDay: perDay, perWeek: perWeek)])
        let booked = bookings.map { DateInterval(start: Self.at($0), duration: 1_800) }
        let states = ["ada": HostCalendarState(busy: booked, bookings: booked)]
        let slots = try Self.slots(calendar, from: "2026-03-02T00:00:00+01:00", to: "2026-03-10T00:00:00+01:00", states: states)
        func count(_ day: String) -> Int {
            let start = Self.at(day + "T00:00:00+01:00")
            return slots.filter { $0.start >= start && $0.start < start.addingTimeInterval(86_400) }.count
        }
        #expect(count("2026-03-02") == monday)
        #expect(count("2026-03-03") == tuesday)
        // The next ISO week is never affected.
        #expect(count("2026-03-09") == 16)
    }

    @Test("DST change days: 09:00 stays 09:00 local; skipped and repeated hours", arguments: [
        // zone, day before, change day, 09:00 UTC the day before, 09:00 UTC on the day, one-hour slots in 00:00-06:00, their UTC starts
        ("Europe/Berlin", "2026-03-28", "2026-03-29", "2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z",
         ["2026-03-28T23:00:00Z", "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z", "2026-03-29T03:00:00Z"]),
        ("Europe/Berlin", "2026-10-24", "2026-10-25", "2026-10-24T07:00:00Z", "2026-10-25T08:00:00Z",
         ["2026-10-24T22:00:00Z", "2026-10-24T23:00:00Z", "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z", "2026-10-25T04:00:00Z"]),
        ("America/New_York", "2026-03-07", "2026-03-08", "2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z",
         ["2026-03-08T05:00:00Z", "2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z", "2026-03-08T09:00:00Z"]),
        ("America/New_York", "2026-10-31", "2026-11-01", "2026-10-31T13:00:00Z", "2026-11-01T14:00:00Z",
         ["2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z", "2026-11-01T09:00:00Z", "2026-11-01T10:00:00Z"]),
    ])
    func dst(zone: String, dayBefore: String, changeDay: String, nineBefore: String, nineOn: String, nightSlots: [String]) throws {
        let calendar = Self.calendar([Self.host(zone: zone, hours: Self.everyDay)], interval: 3_600)
        let now = Self.at(dayBefore + "T00:00:00Z").addingTimeInterval(-30 * 86_400)
        let before = try Self.slots(calendar, from: dayBefore + "T00:00:00Z", to: dayBefore + "T23:00:00Z", now: now, duration: 3_600)
        #expect(before.first?.start == Self.at(nineBefore))
        let on = try Self.slots(calendar, from: changeDay + "T05:00:00Z", to: changeDay + "T23:59:00Z", now: now, duration: 3_600)
        #expect(on.first?.start == Self.at(nineOn))
        #expect(on.count == 8, "09:00-17:00 local is still eight one-hour slots")
        #expect(on.allSatisfy { $0.end.timeIntervalSince($0.start) == 3_600 })

        // Night hours across the change: the skipped hour starts at the transition; the repeated
        // hour's second pass is not on the grid (its times map to their first occurrence).
        let parts = changeDay.split(separator: "-").compactMap { Int($0) }
        let night = AvailabilityOverride(year: parts[0], month: parts[1], day: parts[2], hours: [LocalTimeRange(startMinute: 0, endMinute: 360)])
        let nightCalendar = Self.calendar([Self.host(zone: zone, hours: [:], overrides: [night])], interval: 3_600)
        let nights = try Self.slots(nightCalendar, from: dayBefore + "T00:00:00Z", to: changeDay + "T23:00:00Z", now: now, duration: 3_600)
        #expect(nights.map(\.start) == nightSlots.map(Self.at))
    }

    @Test("a requester in New York sees a Berlin 09:00 slot at the right local hour", arguments: [
        ("2026-03-02", 3),  // both on winter time: 6 hours apart
        ("2026-03-16", 4),  // New York already on summer time, Berlin not yet: 5 hours
        ("2026-03-30", 3),  // both on summer time
    ])
    func requesterZone(day: String, newYorkHour: Int) throws {
        let slots = try Self.slots(Self.calendar([Self.host()]), from: day + "T00:00:00Z", to: day + "T23:00:00Z", now: Self.at("2026-01-01T00:00:00Z"))
        let first = try #require(slots.first)
        var berlin = Calendar(identifier: .gregorian)
        berlin.timeZone = try #require(TimeZone(identifier: "Europe/Berlin"))
        var newYork = Calendar(identifier: .gregorian)
        newYork.timeZone = try #require(TimeZone(identifier: "America/New_York"))
        #expect(berlin.component(.hour, from: first.start) == 9)
        #expect(newYork.component(.hour, from: first.start) == newYorkHour)
    }

    @Test("two hosts intersected: only where both work and both are free")
    func intersection() throws {
        // Bob works 09:00-17:00 London = 10:00-18:00 Berlin; busy 11:00-12:00 Berlin.
        let calendar = Self.calendar([Self.host(), Self.host("bob", zone: "Europe/London")])
        let states = ["bob": HostCalendarState(busy: [Self.busy("2026-03-02T11:00:00+01:00", "2026-03-02T12:00:00+01:00")])]
        let slots = try Self.slots(calendar, from: "2026-03-02T00:00:00+01:00", to: "2026-03-03T00:00:00+01:00", states: states)
        #expect(slots.first?.start == Self.at("2026-03-02T10:00:00+01:00"))
        #expect(slots.last?.start == Self.at("2026-03-02T16:30:00+01:00"))
        #expect(!slots.contains { $0.start == Self.at("2026-03-02T11:00:00+01:00") || $0.start == Self.at("2026-03-02T11:30:00+01:00") })
        #expect(slots.contains { $0.start == Self.at("2026-03-02T12:00:00+01:00") })
        #expect(slots.count == 12)
        #expect(slots.allSatisfy { $0.hosts == ["ada", "bob"] })
    }

    @Test("round robin: the first free host in order takes each slot")
    func roundRobin() throws {
        let calendar = Self.calendar([Self.host(), Self.host("bob", zone: "Europe/London")], assignment: .roundRobin)
        let states = ["ada": HostCalendarState(busy: [Self.busy("2026-03-02T09:00:00+01:00", "2026-03-02T13:00:00+01:00")])]
        let slots = try Self.slots(calendar, from: "2026-03-02T00:00:00+01:00", to: "2026-03-03T00:00:00+01:00", states: states)
        func host(_ time: String) -> [String]? { slots.first { $0.start == Self.at(time) }?.hosts }
        #expect(slots.first?.start == Self.at("2026-03-02T10:00:00+01:00"), "ada is busy and bob starts at 10:00 Berlin")
        #expect(host("2026-03-02T10:00:00+01:00") == ["bob"])
        #expect(host("2026-03-02T13:00:00+01:00") == ["ada"])
        #expect(host("2026-03-02T17:30:00+01:00") == ["bob"], "only bob works after 17:00 Berlin")
        #expect(Set(slots.map(\.start)).count == slots.count, "one slot per start")

        let engine = try AvailabilityEngine(calendar: calendar)
        #expect(engine.roundRobinOrder(lastBookedHost: "ada") == ["bob", "ada"])
        #expect(engine.roundRobinOrder(lastBookedHost: "bob") == ["ada", "bob"])
        let rotated = try Self.slots(calendar, from: "2026-03-02T00:00:00+01:00", to: "2026-03-03T00:00:00+01:00", states: states, hostOrder: ["bob", "ada"])
        #expect(rotated.first { $0.start == Self.at("2026-03-02T13:00:00+01:00") }?.hosts == ["bob"])
    }

    @Test("proposed times: the first free one fits, on the grid or not")
    func proposedFit() throws {
        let engine = try AvailabilityEngine(calendar: Self.calendar([Self.host()]))
        let states = ["ada": HostCalendarState(busy: [Self.busy("2026-03-02T10:00:00+01:00", "2026-03-02T10:30:00+01:00")])]
        let proposed = ["2026-03-02T08:00:00+01:00", "2026-03-02T10:15:00+01:00", "2026-03-02T10:40:00+01:00", "2026-03-02T11:00:00+01:00"].map(Self.at)
        let outcome = try engine.choose(
            proposed: proposed, states: states, now: Self.sunday, range: DateInterval(start: Self.at("2026-03-02T00:00:00Z"), duration: 7 * 86_400), duration: 1_800)
        #expect(outcome == .fits(Slot(start: Self.at("2026-03-02T10:40:00+01:00"), end: Self.at("2026-03-02T11:10:00+01:00"), hosts: ["ada"])))
    }

    @Test("proposed times: none fit, so the nearest free slots are offered")
    func proposedNoneFit() throws {
        let engine = try AvailabilityEngine(calendar: Self.calendar([Self.host()]))
        let states = ["ada": HostCalendarState(busy: [Self.busy("2026-03-02T10:00:00+01:00", "2026-03-02T12:00:00+01:00")])]
        let outcome = try engine.choose(
            proposed: [Self.at("2026-03-02T10:30:00+01:00"), Self.at("2026-03-01T10:30:00+01:00")], states: states, now: Self.sunday,
            range: DateInterval(start: Self.at("2026-03-02T00:00:00Z"), duration: 7 * 86_400), duration: 1_800, alternatives: 3)
        let expected = ["2026-03-02T09:00:00+01:00", "2026-03-02T09:30:00+01:00", "2026-03-02T12:00:00+01:00"].map(Self.at)
        guard case .noneFit(let alternatives) = outcome else {
            Issue.record("expected none to fit, got \(outcome)")
            return
        }
        #expect(alternatives.map(\.start) == expected)
    }

    @Test("a duration the calendar does not offer is refused")
    func durationNotOffered() throws {
        let engine = try AvailabilityEngine(calendar: Self.calendar([Self.host()]))
        #expect(throws: AvailabilityError.self) {
            try engine.freeSlots(states: [:], now: Self.sunday, range: DateInterval(start: Self.sunday, duration: 86_400), duration: 2_700)
        }
        #expect(throws: AvailabilityError.self) { try AvailabilityEngine(calendar: Self.calendar([Self.host(zone: "Mars/Olympus")])) }
    }

    @Test("booking window and the range bound slot starts")
    func bookingWindow() throws {
        var calendar = Self.calendar([Self.host()])
        calendar.bookingWindow = 2 * 86_400
        // From Sunday 00:00 UTC: Monday's slots only (Tuesday 09:00 Berlin is past 48 h).
        let slots = try Self.slots(calendar, from: "2026-03-01T00:00:00Z", to: "2026-03-10T00:00:00Z")
        #expect(slots.count == 16)
        // A range ending at 10:00 still lists the 09:30 slot that ends at 10:00.
        let morning = try Self.slots(Self.calendar([Self.host()]), from: "2026-03-02T00:00:00+01:00", to: "2026-03-02T10:00:00+01:00")
        #expect(morning.map(\.start) == ["2026-03-02T09:00:00+01:00", "2026-03-02T09:30:00+01:00"].map(Self.at))
    }

    @Test("200 busy events: slots never overlap a busy time and stay in working hours")
    func manyEvents() throws {
        var generator = SystemRandomNumberGenerator()
        let monday = Self.at("2026-03-02T00:00:00+01:00")
        var busy: [DateInterval] = []
        for _ in 0..<200 {
            let start = monday.addingTimeInterval(Double(Int.random(in: 0..<(28 * 96), using: &generator)) * 900)
            busy.append(DateInterval(start: start, duration: Double(Int.random(in: 1...6, using: &generator)) * 900))
        }
        let calendar = Self.calendar([Self.host(before: 600, after: 300)], interval: 900)
        let slots = try Self.slots(calendar, from: "2026-03-02T00:00:00+01:00", to: "2026-03-30T00:00:00+02:00", states: ["ada": HostCalendarState(busy: busy)])
        var berlin = Calendar(identifier: .gregorian)
        berlin.timeZone = try #require(TimeZone(identifier: "Europe/Berlin"))
        for slot in slots {
            for event in busy {
                // The slot plus its buffers (10 min before, 5 min after) stays clear of every event.
                #expect(!(slot.start.addingTimeInterval(-600) < event.end && event.start < slot.end.addingTimeInterval(300)), "\(slot) overlaps \(event)")
            }
            let hour = berlin.component(.hour, from: slot.start)
            let weekday = berlin.component(.weekday, from: slot.start)
            #expect((9..<17).contains(hour) && (2...6).contains(weekday))
            #expect(berlin.component(.minute, from: slot.start) % 15 == 0)
        }
        #expect(!slots.isEmpty)
    }
}
