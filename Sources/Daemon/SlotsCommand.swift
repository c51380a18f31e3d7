import Actions
import ArgumentParser
import Core
import Foundation
import Logging

/// `astralisd slots`: the free slots the engine would offer for a calendar, for operators
/// checking an availability setup. Reads the store (the daemon's bookings) and asks each host's
/// provider for busy times; books nothing.
struct Slots: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the free slots of a calendar (scheduling).")

    @OptionGroup var options: ConfigOptions
    @Option(help: "Calendar name (scheduling.calendars).") var calendar: String
    @Option(help: "Earliest slot start: ISO 8601 time (2026-03-30T09:00:00+02:00) or date (2026-03-30, midnight in the first host's zone). Default: now.")
    var from: String?
    @Option(help: "Latest slot start, same forms; a date means the end of that day. Default: 7 days after --from.")
    var to: String?
    @Option(help: "Meeting length as an ISO 8601 duration (PT30M); one of the calendar's durations. Default: its first.")
    var duration: String?
    @Option(help: "Most slots to list.") var limit: Int = 500
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() async throws {
        let (loaded, store, _) = try openStore(options)
        guard let config = loaded.config.scheduling.calendars[calendar] else {
            let known = loaded.config.scheduling.calendars.keys.sorted()
            fail("unknown calendar \"\(calendar)\"; configured: \(known.isEmpty ? "none" : known.joined(separator: ", "))")
        }
        let engine: AvailabilityEngine
        do {
            engine = try AvailabilityEngine(calendar: config)
        } catch {
            fail("\(error)")
        }
        let zone = engine.primaryZone
        let now = Date()
        let start = try Self.time(from, zone: zone, endOfDay: false) ?? now
        let end = try Self.time(to, zone: zone, endOfDay: true) ?? start.addingTimeInterval(7 * 86_400)
        guard end > start else { fail("--to must be after --from") }
        var length = config.durations.first ?? 1_800
        if let duration {
            guard let seconds = ISODuration.parse(duration) else { fail("--duration: expected an ISO 8601 duration such as PT30M, got \"\(duration)\"") }
            length = seconds
        }
        let range = DateInterval(start: start, end: end)
        let slots: [Slot]
        do {
            let providers = try CalendarProviders.make(calendar: config, bookings: store, context: .process(logger: Logger(label: "astralisd.slots")))
            let states = try await CalendarAvailability.states(
                calendar: config, providers: providers, bookings: store, range: range, others: Array(loaded.config.scheduling.calendars.values))
            slots = try engine.freeSlots(states: states, now: now, range: range, duration: length, limit: max(1, limit))
        } catch {
            fail("\(error)")
        }
        let zones = Dictionary(uniqueKeysWithValues: config.hosts.map { ($0.name, TimeZone(identifier: $0.timeZone) ?? zone) })
        if json {
            print(Self.jsonText(slots, calendar: config, range: range, duration: length, zones: zones, fallback: zone))
        } else {
            print(Self.plainText(slots, calendar: config, range: range, duration: length, zones: zones, fallback: zone))
        }
    }

    private func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("astralisd slots: \(message)\n".utf8))
        Foundation.exit(1)
    }

    /// An ISO 8601 time with offset (or `Z`), or a date meaning local midnight in `zone` (with
    /// `endOfDay`, the next midnight).
    static func time(_ text: String?, zone: TimeZone, endOfDay: Bool) throws -> Date? {
        guard let text else { return nil }
        let full = ISO8601DateFormatter()
        if let date = full.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = fractional.date(from: text) { return date }
        if let parts = ConfigParser.localDate(text) {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = zone
            if let midnight = calendar.date(from: DateComponents(year: parts.year, month: parts.month, day: parts.day)) {
                return endOfDay ? calendar.date(byAdding: .day, value: 1, to: midnight) : midnight
            }
        }
        FileHandle.standardError.write(Data("astralisd slots: expected an ISO 8601 time such as 2026-03-30T09:00:00+02:00 or a date such as 2026-03-30, got \"\(text)\"\n".utf8))
        throw ExitCode(1)
    }

    static func localFormatter(_ zone: TimeZone) -> ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = zone
        formatter.formatOptions = [.withInternetDateTime]
        return formatter
    }

    static func plainText(_ slots: [Slot], calendar: CalendarConfig, range: DateInterval, duration: TimeInterval, zones: [String: TimeZone], fallback: TimeZone) -> String {
        let utc = ISO8601DateFormatter()
        var lines = ["calendar \(calendar.name) (\(calendar.assignment.rawValue); hosts: \(calendar.hosts.map { "\($0.name) \($0.timeZone)" }.joined(separator: ", "))): \(slots.count) free slot(s) of \(ISODuration.format(duration)) from \(utc.string(from: range.start)) to \(utc.string(from: range.end))"]
        for slot in slots {
            let zone = slot.hosts.first.flatMap { zones[$0] } ?? fallback
            let local = localFormatter(zone)
            lines.append("\(local.string(from: slot.start)) - \(local.string(from: slot.end)) \(zone.identifier)  |  \(utc.string(from: slot.start)) - \(utc.string(from: slot.end))  |  \(slot.hosts.joined(separator: ","))")
        }
        return lines.joined(separator: "\n")
    }

    struct SlotEntry: Encodable {
        var start: String
        var end: String
        var localStart: String
        var localEnd: String
        var timeZone: String
        var hosts: [String]

        enum CodingKeys: String, CodingKey {
            case start, end, hosts
            case localStart = "local_start", localEnd = "local_end", timeZone = "time_zone"
        }
    }

    struct SlotsDocument: Encodable {
        var calendar: String
        var assignment: String
        var duration: String
        var from: String
        var to: String
        var slots: [SlotEntry]
    }

    static func jsonText(_ slots: [Slot], calendar: CalendarConfig, range: DateInterval, duration: TimeInterval, zones: [String: TimeZone], fallback: TimeZone) -> String {
        let utc = ISO8601DateFormatter()
        let entries = slots.map { slot in
            let zone = slot.hosts.first.flatMap { zones[$0] } ?? fallback
            let local = localFormatter(zone)
            return SlotEntry(
                start: utc.string(from: slot.start), end: utc.string(from: slot.end), localStart: local.string(from: slot.start),
                localEnd: local.string(from: slot.end), timeZone: zone.identifier, hosts: slot.hosts)
        }
        let document = SlotsDocument(
            calendar: calendar.name, assignment: calendar.assignment.rawValue, duration: ISODuration.format(duration),
            from: utc.string(from: range.start), to: utc.string(from: range.end), slots: entries)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(document)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
