import Actions
import Foundation
import Testing

@Suite("Recurrence expansion with libical")
struct RecurrenceExpansionTests {
    static func utc(_ text: String) throws -> Date { try Date(text, strategy: .iso8601) }

    /// A fixed interval from two ISO 8601 UTC times (a typo is recorded as an issue).
    static func interval(_ start: String, _ end: String) -> DateInterval {
        guard let from = try? utc(start), let to = try? utc(end), to >= from else {
            Issue.record("bad test interval \(start)–\(end)")
            return DateInterval()
        }
        return DateInterval(start: from, end: to)
    }

    static func calendar(_ body: [String], timezones: [String] = []) -> String {
        (["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"] + timezones + body + ["END:VCALENDAR", ""]).joined(separator: "\r\n")
    }

    static let berlin = TimeZone(identifier: "Europe/Berlin") ?? .gmt

    @Test("weekly RRULE across the DST change, with EXDATE and a RECURRENCE-ID override (IANA TZID, no VTIMEZONE)")
    func weekly() throws {
        let data = Self.calendar([
            "BEGIN:VEVENT", "UID:weekly-1", "DTSTAMP:20260101T000000Z",
            "DTSTART;TZID=Europe/Berlin:20260316T100000", "DTEND;TZID=Europe/Berlin:20260316T110000",
            "RRULE:FREQ=WEEKLY;COUNT=6", "EXDATE;TZID=Europe/Berlin:20260323T100000", "SUMMARY:Standup", "END:VEVENT",
            "BEGIN:VEVENT", "UID:weekly-1", "DTSTAMP:20260101T000000Z", "RECURRENCE-ID;TZID=Europe/Berlin:20260406T100000",
            "DTSTART;TZID=Europe/Berlin:20260407T140000", "DTEND;TZID=Europe/Berlin:20260407T150000", "SUMMARY:Standup (moved)", "END:VEVENT",
        ])
        let range = Self.interval("2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z")
        let result = RecurrenceExpansion.busyTimes(calendarData: [data], overlapping: range)
        #expect(result.problems.isEmpty, "\(result.problems)")
        #expect(result.intervals == [
            Self.interval("2026-03-16T09:00:00Z", "2026-03-16T10:00:00Z"),  // CET
            Self.interval("2026-03-30T08:00:00Z", "2026-03-30T09:00:00Z"),  // CEST from March 29
            Self.interval("2026-04-07T12:00:00Z", "2026-04-07T13:00:00Z"),  // the override
            Self.interval("2026-04-13T08:00:00Z", "2026-04-13T09:00:00Z"),
            Self.interval("2026-04-20T08:00:00Z", "2026-04-20T09:00:00Z"),
        ])
        // A narrower range keeps only what overlaps it.
        let april = Self.interval("2026-04-07T12:30:00Z", "2026-04-13T08:00:00Z")
        #expect(RecurrenceExpansion.busyTimes(calendarData: [data], overlapping: april).intervals == [Self.interval("2026-04-07T12:00:00Z", "2026-04-07T13:00:00Z")])
    }

    @Test("an infinite daily rule stops at the range; a cancelled override removes its instance")
    func infinite() throws {
        let data = Self.calendar([
            "BEGIN:VEVENT", "UID:daily", "DTSTAMP:20200101T000000Z", "DTSTART:20200101T070000Z", "DURATION:PT45M", "RRULE:FREQ=DAILY", "END:VEVENT",
            "BEGIN:VEVENT", "UID:daily", "DTSTAMP:20200101T000000Z", "RECURRENCE-ID:20260602T070000Z", "DTSTART:20260602T070000Z",
            "DURATION:PT45M", "STATUS:CANCELLED", "END:VEVENT",
        ])
        let range = Self.interval("2026-06-01T00:00:00Z", "2026-06-04T00:00:00Z")
        let result = RecurrenceExpansion.busyTimes(calendarData: [data], overlapping: range)
        #expect(result.problems.isEmpty)
        #expect(result.intervals == [
            Self.interval("2026-06-01T07:00:00Z", "2026-06-01T07:45:00Z"),
            Self.interval("2026-06-03T07:00:00Z", "2026-06-03T07:45:00Z"),
        ])
    }

    @Test("all-day events are whole local days in the host's zone (23 hours on the DST day)")
    func allDay() throws {
        let data = Self.calendar([
            "BEGIN:VEVENT", "UID:dst-day", "DTSTAMP:20260101T000000Z", "DTSTART;VALUE=DATE:20260329", "DTEND;VALUE=DATE:20260330", "END:VEVENT",
            "BEGIN:VEVENT", "UID:no-end", "DTSTAMP:20260101T000000Z", "DTSTART;VALUE=DATE:20260401", "END:VEVENT",
            "BEGIN:VEVENT", "UID:two-days", "DTSTAMP:20260101T000000Z", "DTSTART;VALUE=DATE:20260410", "DURATION:P2D", "END:VEVENT",
        ])
        let range = Self.interval("2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z")
        let result = RecurrenceExpansion.busyTimes(calendarData: [data], overlapping: range, floatingTimeZone: Self.berlin)
        #expect(result.problems.isEmpty)
        #expect(result.intervals == [
            Self.interval("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"),
            Self.interval("2026-03-31T22:00:00Z", "2026-04-01T22:00:00Z"),
            Self.interval("2026-04-09T22:00:00Z", "2026-04-11T22:00:00Z"),
        ])
        #expect(result.intervals[0].duration == 23 * 3_600)
        // In UTC the same data is UTC days.
        let inUTC = RecurrenceExpansion.busyTimes(calendarData: [data], overlapping: range)
        #expect(inUTC.intervals.first == (Self.interval("2026-03-29T00:00:00Z", "2026-03-30T00:00:00Z")))
    }

    @Test("a VTIMEZONE in the data (a non-IANA TZID), floating times in the host's zone")
    func vtimezone() throws {
        let zone = [
            "BEGIN:VTIMEZONE", "TZID:Customer Standard Time", "BEGIN:STANDARD", "DTSTART:19700101T000000",
            "TZOFFSETFROM:-0500", "TZOFFSETTO:-0500", "TZNAME:CST", "END:STANDARD", "END:VTIMEZONE",
        ]
        let data = Self.calendar([
            "BEGIN:VEVENT", "UID:zoned", "DTSTAMP:20260101T000000Z", "DTSTART;TZID=Customer Standard Time:20260310T090000",
            "DTEND;TZID=Customer Standard Time:20260310T093000", "END:VEVENT",
            "BEGIN:VEVENT", "UID:floating", "DTSTAMP:20260101T000000Z", "DTSTART:20260710T090000", "DTEND:20260710T100000", "END:VEVENT",
        ], timezones: zone)
        let range = Self.interval("2026-03-01T00:00:00Z", "2026-08-01T00:00:00Z")
        let result = RecurrenceExpansion.busyTimes(calendarData: [data], overlapping: range, floatingTimeZone: Self.berlin)
        #expect(result.problems.isEmpty)
        #expect(result.intervals == [
            Self.interval("2026-03-10T14:00:00Z", "2026-03-10T14:30:00Z"),
            Self.interval("2026-07-10T07:00:00Z", "2026-07-10T08:00:00Z"),
        ])
    }

    @Test("TRANSP:TRANSPARENT and STATUS:CANCELLED are free; several objects; garbage and SECONDLY rules are problems")
    func skippedAndProblems() throws {
        let free = Self.calendar([
            "BEGIN:VEVENT", "UID:t", "DTSTAMP:20260101T000000Z", "DTSTART:20260105T100000Z", "DTEND:20260105T110000Z", "TRANSP:TRANSPARENT", "END:VEVENT",
            "BEGIN:VEVENT", "UID:c", "DTSTAMP:20260101T000000Z", "DTSTART:20260105T120000Z", "DTEND:20260105T130000Z", "STATUS:CANCELLED", "END:VEVENT",
        ])
        let busy = Self.calendar(["BEGIN:VEVENT", "UID:b", "DTSTAMP:20260101T000000Z", "DTSTART:20260105T140000Z", "DTEND:20260105T150000Z", "END:VEVENT"])
        let busy2 = Self.calendar(["BEGIN:VEVENT", "UID:b2", "DTSTAMP:20260101T000000Z", "DTSTART:20260105T080000Z", "DTEND:20260105T083000Z", "END:VEVENT"])
        let range = Self.interval("2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z")
        let result = RecurrenceExpansion.busyTimes(calendarData: [free, busy + busy2], overlapping: range)
        #expect(result.problems.isEmpty, "\(result.problems)")
        #expect(result.intervals == [
            Self.interval("2026-01-05T08:00:00Z", "2026-01-05T08:30:00Z"),
            Self.interval("2026-01-05T14:00:00Z", "2026-01-05T15:00:00Z"),
        ])

        let secondly = Self.calendar(["BEGIN:VEVENT", "UID:s", "DTSTAMP:20260101T000000Z", "DTSTART:20000105T080000Z", "DURATION:PT1S", "RRULE:FREQ=SECONDLY", "END:VEVENT"])
        let broken = RecurrenceExpansion.busyTimes(calendarData: ["this is not a calendar", secondly, busy], overlapping: range)
        #expect(broken.problems.count == 2, "\(broken.problems)")
        #expect(broken.problems.contains { $0.contains("SECONDLY") })
        #expect(broken.intervals == [Self.interval("2026-01-05T14:00:00Z", "2026-01-05T15:00:00Z")])
    }
}
