import Actions
import ArgumentParser
import Core
import Foundation

/// `astralisd scheduling`: hidden tooling for the availability engine.
struct SchedulingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduling", abstract: "Scheduling tools.", shouldDisplay: false, subcommands: [SchedulingBench.self])
}

/// `astralisd scheduling bench` (`bench/scheduling.sh` runs it): slot searches per second for
/// one host with a busy month (200 events) over a two-week window, and for 5 such hosts
/// intersected. Not a test: numbers depend on the machine and the build.
struct SchedulingBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure slot search speed.")

    @Option(help: "How long to measure each case, in seconds.") var seconds: Double = 3
    @Option(help: "Busy events per host in the month.") var events: Int = 200
    @Option(help: "Searches per second the single-host case must reach.") var target: Double = 10_000

    func run() async throws {
        // Monday 2026-03-02 00:00 Berlin; the month holds the 2026-03-29 DST change.
        let monthStart = Date(timeIntervalSince1970: 1_772_406_000)
        let now = monthStart.addingTimeInterval(-3_600)
        let window = DateInterval(start: monthStart.addingTimeInterval(7 * 86_400), duration: 14 * 86_400)
        for hostCount in [1, 5] {
            let (calendar, states) = Self.fixture(hosts: hostCount, events: max(0, events), monthStart: monthStart)
            let engine = try AvailabilityEngine(calendar: calendar)
            var slotCount = 0
            // Warm up, then measure in batches so the clock is read rarely.
            for _ in 0..<20 { slotCount = try engine.freeSlots(states: states, now: now, range: window, duration: 1_800).count }
            let clock = ContinuousClock()
            let start = clock.now
            var searches = 0
            while clock.now - start < .milliseconds(Int(seconds * 1_000)) {
                for _ in 0..<100 {
                    slotCount = try engine.freeSlots(states: states, now: now, range: window, duration: 1_800).count
                    searches += 1
                }
            }
            let elapsed = clock.now - start
            let elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let perSecond = Double(searches) / elapsedSeconds
            var line = String(
                format: "hosts=%d assignment=intersection busy_events_per_host=%d window_days=14 duration=PT30M slot_interval=PT15M slots_found=%d searches=%d seconds=%.2f searches_per_second=%.0f microseconds_per_search=%.1f",
                hostCount, events, slotCount, searches, elapsedSeconds, perSecond, 1e6 / perSecond)
            if hostCount == 1 { line += String(format: " target=%.0f ", target) + (perSecond >= target ? "target_met" : "target_not_met") }
            print(line)
        }
    }

    /// Hosts working Mon–Fri 09:00–17:00 (Berlin, then other zones) with `events` busy events of
    /// 30–90 minutes each over four weeks from `monthStart`, from a fixed-seed generator.
    static func fixture(hosts count: Int, events: Int, monthStart: Date) -> (CalendarConfig, [String: HostCalendarState]) {
        let zones = ["Europe/Berlin", "Europe/London", "Europe/Paris", "Europe/Madrid", "Europe/Vienna"]
        let weekdays = Dictionary(uniqueKeysWithValues: (1...5).map { ($0, [LocalTimeRange(startMinute: 540, endMinute: 1_020)]) })
        var generator = SplitMix64(seed: 42)
        var hosts: [CalendarHost] = []
        var states: [String: HostCalendarState] = [:]
        for index in 0..<count {
            let name = "host\(index + 1)"
            hosts.append(CalendarHost(
                name: name, email: "\(name)@example.com", timeZone: zones[index % zones.count], weeklyHours: weekdays,
                bufferBefore: 300, bufferAfter: 300, minimumNotice: 4 * 3_600))
            var busy: [DateInterval] = []
            for _ in 0..<events {
                let day = Double(generator.next() % 28)
                let startMinute = Double(480 + generator.next() % 540)
                let length = Double(30 + (generator.next() % 4) * 20)
                busy.append(DateInterval(start: monthStart.addingTimeInterval(day * 86_400 + startMinute * 60), duration: length * 60))
            }
            busy.sort { $0.start < $1.start }
            states[name] = HostCalendarState(busy: busy)
        }
        let calendar = CalendarConfig(name: "bench", organization: "bench", hosts: hosts, assignment: .intersection, slotInterval: 900, bookingWindow: 60 * 86_400, durations: [1_800])
        return (calendar, states)
    }
}

/// A small deterministic generator, so every run measures the same calendars.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
