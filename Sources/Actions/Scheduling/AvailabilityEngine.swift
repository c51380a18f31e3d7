public import Core
public import Foundation

/// A bookable time: `[start, end)` and the hosts who would attend (every host for
/// `intersection`, the one chosen host for `round_robin`).
public struct Slot: Sendable, Hashable, Codable {
    public var start: Date
    public var end: Date
    public var hosts: [String]

    public init(start: Date, end: Date, hosts: [String]) {
        self.start = start
        self.end = end
        self.hosts = hosts
    }
}

/// What one host's calendar holds around a search: the provider's busy times and the daemon's
/// own active bookings. Both block time; only `bookings` count towards `max_per_day` and
/// `max_per_week` (the daemon cannot tell which provider events are meetings it should count).
/// For the `local` provider the two are the same bookings, which is harmless: overlapping busy
/// times merge.
public struct HostCalendarState: Sendable, Equatable {
    public var busy: [DateInterval]
    public var bookings: [DateInterval]

    public init(busy: [DateInterval] = [], bookings: [DateInterval] = []) {
        self.busy = busy
        self.bookings = bookings
    }
}

/// The answer to explicit proposed start times.
public enum ProposalOutcome: Sendable, Equatable {
    /// The first proposed time (in the order given) that is free.
    case fits(Slot)
    /// None is free: the free slots nearest to the proposed times, by start.
    case noneFit(alternatives: [Slot])
}

/// Why a search cannot run.
public enum AvailabilityError: Error, Sendable, Equatable, CustomStringConvertible {
    case durationNotAllowed(TimeInterval, allowed: [TimeInterval])
    case unknownTimeZone(host: String, zone: String)
    case noHosts(calendar: String)

    public var description: String {
        switch self {
        case .durationNotAllowed(let duration, let allowed):
            return "duration \(ISODuration.format(duration)) is not offered; expected one of \(allowed.map(ISODuration.format).joined(separator: ", "))"
        case .unknownTimeZone(let host, let zone): return "host \(host) has an unknown time zone \"\(zone)\""
        case .noHosts(let calendar): return "calendar \(calendar) has no hosts"
        }
    }
}

/// Computes free slots of one calendar. Pure and synchronous: busy times and bookings are passed
/// in, "now" too; nothing is read from a clock, a store or the network.
///
/// Per host: the working hours of each local day in the host's zone (the date's override if any,
/// else the weekday's hours), minus busy times and bookings widened by the buffers (an event
/// `[s, e)` blocks `[s - buffer_after, e + buffer_before)`, so a new meeting keeps `buffer_before`
/// free before it and `buffer_after` after it), minus days and ISO weeks whose bookings reached
/// `max_per_day` / `max_per_week`, clipped to `[now + minimum_notice, now + booking_window)` for
/// the slot start. Hosts combine by the calendar's assignment. Slot starts lie on a grid of
/// `slot_interval` counted from local midnight (the first host's zone for `intersection`, each
/// host's own for `round_robin`); a slot must fit whole into one free interval.
///
/// Everything is a sorted sweep over intervals; cost grows with days, busy events and slots
/// returned, never with minutes.
public struct AvailabilityEngine: Sendable {
    public let calendar: CalendarConfig
    private let hosts: [HostRules]

    /// One host's rules, resolved once: zone, weekday hours, overrides by local day number.
    private struct HostRules: Sendable {
        var name: String
        var nameList: [String]
        var zone: TimeZone
        var weekly: [[LocalTimeRange]]
        var overrides: [Int: [LocalTimeRange]]
        var bufferBefore: Double
        var bufferAfter: Double
        var notice: Double
        var maxPerDay: Int?
        var maxPerWeek: Int?
    }

    public init(calendar: CalendarConfig) throws(AvailabilityError) {
        guard !calendar.hosts.isEmpty else { throw .noHosts(calendar: calendar.name) }
        var hosts: [HostRules] = []
        for host in calendar.hosts {
            guard let zone = TimeZone(identifier: host.timeZone) else { throw .unknownTimeZone(host: host.name, zone: host.timeZone) }
            var weekly = Array(repeating: [LocalTimeRange](), count: 8)
            for (weekday, ranges) in host.weeklyHours where (1...7).contains(weekday) {
                weekly[weekday] = ranges.sorted { $0.startMinute < $1.startMinute }
            }
            var overrides: [Int: [LocalTimeRange]] = [:]
            for override in host.overrides {
                let day = LocalDate.dayNumber(year: override.year, month: override.month, day: override.day)
                overrides[day] = override.hours.sorted { $0.startMinute < $1.startMinute }
            }
            hosts.append(HostRules(
                name: host.name, nameList: [host.name], zone: zone, weekly: weekly, overrides: overrides,
                bufferBefore: host.bufferBefore, bufferAfter: host.bufferAfter, notice: host.minimumNotice,
                maxPerDay: host.maxPerDay, maxPerWeek: host.maxPerWeek))
        }
        self.calendar = calendar
        self.hosts = hosts
    }

    /// The first host's zone: the slot grid's zone for `intersection`, and where dates given
    /// without a zone are read.
    public var primaryZone: TimeZone { hosts[0].zone }

    /// The host order `round_robin` tries: the configured order rotated to start after the host
    /// that got the most recent booking, so consecutive bookings spread over the hosts.
    public func roundRobinOrder(lastBookedHost: String?) -> [String] {
        let names = hosts.map(\.name)
        guard let lastBookedHost, let index = names.firstIndex(of: lastBookedHost) else { return names }
        return Array(names[(index + 1)...] + names[...index])
    }

    /// Free slots starting in `range`, ordered by start (then by host order), at most `limit`.
    ///
    /// - Parameters:
    ///   - states: Busy times and bookings per host name; a host missing here has none.
    ///   - duration: Must be one of the calendar's `durations`.
    ///   - hostOrder: For `round_robin`, the order hosts are tried in (default the configured
    ///     order; see ``roundRobinOrder(lastBookedHost:)``).
    public func freeSlots(
        states: [String: HostCalendarState], now: Date, range: DateInterval, duration: TimeInterval,
        hostOrder: [String]? = nil, limit: Int = .max
    ) throws(AvailabilityError) -> [Slot] {
        try checkDuration(duration)
        let window = searchWindow(now: now, range: range)
        guard window.lo < window.hi, limit > 0 else { return [] }
        switch calendar.assignment {
        case .intersection:
            var free: [Interval]? = nil
            var firstClock: ZoneClock?
            for host in hosts {
                let clock = ZoneClock(zone: host.zone, from: window.lo, to: window.hi + duration)
                if firstClock == nil { firstClock = clock }
                let own = freeIntervals(host, state: states[host.name], now: now.timeIntervalSince1970, lo: window.lo, hi: window.hi, duration: duration, clock: clock)
                free = free.map { Self.intersect($0, own) } ?? own
                if free?.isEmpty == true { return [] }
            }
            let first = hosts[0]
            let clock = firstClock ?? ZoneClock(zone: first.zone, from: window.lo, to: window.hi + duration)
            let names = hosts.count == 1 ? first.nameList : hosts.map(\.name)
            return grid(free ?? [], clock: clock, duration: duration, maxStart: window.hi, hosts: names, limit: limit)
        case .roundRobin:
            var perHost: [[Slot]] = []
            for host in ordered(hostOrder) {
                let clock = ZoneClock(zone: host.zone, from: window.lo, to: window.hi + duration)
                let own = freeIntervals(host, state: states[host.name], now: now.timeIntervalSince1970, lo: window.lo, hi: window.hi, duration: duration, clock: clock)
                perHost.append(grid(own, clock: clock, duration: duration, maxStart: window.hi, hosts: host.nameList, limit: limit))
            }
            return Self.firstFreeHost(perHost, limit: limit)
        }
    }

    /// The first proposed start (in the order given) that is a free slot — on the grid or not —
    /// or else the `alternatives` free slots in `range` nearest to any proposed time.
    public func choose(
        proposed: [Date], states: [String: HostCalendarState], now: Date, range: DateInterval, duration: TimeInterval,
        hostOrder: [String]? = nil, alternatives: Int = 3
    ) throws(AvailabilityError) -> ProposalOutcome {
        try checkDuration(duration)
        for start in proposed {
            let t = start.timeIntervalSince1970
            let window = searchWindow(now: now, range: DateInterval(start: start, duration: 1))
            guard window.lo <= t, t < window.hi else { continue }
            let free = hostsFree(at: t, duration: duration, states: states, now: now, hostOrder: hostOrder)
            if let free { return .fits(Slot(start: start, end: start.addingTimeInterval(duration), hosts: free)) }
        }
        let candidates = try freeSlots(states: states, now: now, range: range, duration: duration, hostOrder: hostOrder)
        let targets = proposed.map(\.timeIntervalSince1970)
        func distance(_ slot: Slot) -> Double {
            let s = slot.start.timeIntervalSince1970
            return targets.map { abs($0 - s) }.min() ?? 0
        }
        let nearest = candidates.enumerated()
            .sorted { (distance($0.element), $0.offset) < (distance($1.element), $1.offset) }
            .prefix(max(0, alternatives))
            .map(\.element)
        return .noneFit(alternatives: nearest.sorted { $0.start < $1.start })
    }

    // MARK: - Pieces

    typealias Interval = (lo: Double, hi: Double)

    private func checkDuration(_ duration: TimeInterval) throws(AvailabilityError) {
        guard duration > 0, calendar.durations.contains(duration) else {
            throw .durationNotAllowed(duration, allowed: calendar.durations)
        }
    }

    /// Slot starts allowed by the range and the booking window (minimum notice is per host).
    private func searchWindow(now: Date, range: DateInterval) -> Interval {
        let t = now.timeIntervalSince1970
        return (max(range.start.timeIntervalSince1970, t), min(range.end.timeIntervalSince1970, t + calendar.bookingWindow))
    }

    private func ordered(_ hostOrder: [String]?) -> [HostRules] {
        guard let hostOrder else { return hosts }
        let named = hostOrder.compactMap { name in hosts.first { $0.name == name } }
        return named + hosts.filter { host in !hostOrder.contains(host.name) }
    }

    /// The hosts that attend a meeting at `start` when it is free (all for intersection, the
    /// first free one for round-robin), or nil.
    private func hostsFree(at start: Double, duration: Double, states: [String: HostCalendarState], now: Date, hostOrder: [String]?) -> [String]? {
        var free: [String] = []
        for host in ordered(hostOrder) {
            let clock = ZoneClock(zone: host.zone, from: start, to: start + duration)
            let own = freeIntervals(host, state: states[host.name], now: now.timeIntervalSince1970, lo: start, hi: start + 1, duration: duration, clock: clock)
            let fits = own.contains { $0.lo <= start && start + duration <= $0.hi }
            switch calendar.assignment {
            case .intersection:
                guard fits else { return nil }
                free.append(host.name)
            case .roundRobin:
                if fits { return [host.name] }
            }
        }
        return free.isEmpty ? nil : free
    }

    /// A host's free intervals that may hold a slot starting in `[lo, hi)` (they may end up to
    /// `duration` after `hi`), sorted and disjoint. `clock` is the host's zone over at least
    /// `[rawLo, hi + duration]`.
    private func freeIntervals(_ host: HostRules, state: HostCalendarState?, now: Double, lo rawLo: Double, hi: Double, duration: Double, clock: ZoneClock) -> [Interval] {
        let lo = max(rawLo, now + host.notice)
        guard lo < hi else { return [] }
        let firstDay = clock.day(lo)
        let lastDay = clock.day(hi + duration)

        var fullDays = Set<Int>()
        var fullWeeks = Set<Int>()
        if let state, host.maxPerDay != nil || host.maxPerWeek != nil {
            var perDay: [Int: Int] = [:]
            var perWeek: [Int: Int] = [:]
            for booking in state.bookings {
                let day = clock.day(booking.start.timeIntervalSince1970)
                perDay[day, default: 0] += 1
                perWeek[LocalDate.week(day), default: 0] += 1
            }
            if let cap = host.maxPerDay { for (day, count) in perDay where count >= cap { fullDays.insert(day) } }
            if let cap = host.maxPerWeek { for (week, count) in perWeek where count >= cap { fullWeeks.insert(week) } }
        }

        // Working hours, clipped to where a slot may start / end.
        let latestEnd = hi + duration
        var working: [Interval] = []
        var day = firstDay
        while day <= lastDay {
            defer { day += 1 }
            if fullDays.contains(day) || fullWeeks.contains(LocalDate.week(day)) { continue }
            let ranges = host.overrides[day] ?? host.weekly[LocalDate.isoWeekday(day)]
            let midnight = Double(day) * 86_400
            for range in ranges {
                let start = max(clock.utc(wall: midnight + Double(range.startMinute) * 60), lo)
                let end = min(clock.utc(wall: midnight + Double(range.endMinute) * 60), latestEnd)
                guard start < end else { continue }
                if let last = working.last, start <= last.hi {
                    working[working.count - 1].hi = max(last.hi, end)
                } else {
                    working.append((start, end))
                }
            }
        }
        guard !working.isEmpty, let state, !(state.busy.isEmpty && state.bookings.isEmpty) else { return working }

        // Busy times widened by the buffers, sorted, then a sweep subtracting them.
        var busy: [Interval] = []
        busy.reserveCapacity(state.busy.count + state.bookings.count)
        let windowLo = working[0].lo
        let windowHi = working[working.count - 1].hi
        for list in [state.busy, state.bookings] {
            for event in list {
                let b = (event.start.timeIntervalSince1970 - host.bufferAfter, event.end.timeIntervalSince1970 + host.bufferBefore)
                if b.1 > windowLo && b.0 < windowHi { busy.append(b) }
            }
        }
        guard !busy.isEmpty else { return working }
        busy.sort { $0.lo < $1.lo }
        return Self.subtract(busy, from: working)
    }

    /// `free` minus `busy`; both sorted by start, `free` disjoint.
    static func subtract(_ busy: [Interval], from free: [Interval]) -> [Interval] {
        var result: [Interval] = []
        result.reserveCapacity(free.count + busy.count)
        var b = 0
        for interval in free {
            var cursor = interval.lo
            // Busy intervals ending before this free interval can never matter again.
            while b < busy.count && busy[b].hi <= cursor { b += 1 }
            var k = b
            while k < busy.count && busy[k].lo < interval.hi {
                if busy[k].lo > cursor { result.append((cursor, busy[k].lo)) }
                cursor = max(cursor, busy[k].hi)
                k += 1
            }
            if cursor < interval.hi { result.append((cursor, interval.hi)) }
        }
        return result
    }

    /// Where both sorted, disjoint lists are free.
    static func intersect(_ a: [Interval], _ b: [Interval]) -> [Interval] {
        var result: [Interval] = []
        var i = 0
        var j = 0
        while i < a.count && j < b.count {
            let lo = max(a[i].lo, b[j].lo)
            let hi = min(a[i].hi, b[j].hi)
            if lo < hi { result.append((lo, hi)) }
            if a[i].hi < b[j].hi { i += 1 } else { j += 1 }
        }
        return result
    }

    /// Slot starts on the local grid inside each free interval, start before `maxStart`.
    private func grid(_ free: [Interval], clock: ZoneClock, duration: Double, maxStart: Double, hosts: [String], limit: Int) -> [Slot] {
        let step = calendar.slotInterval
        var slots: [Slot] = []
        // Grid times inside a skipped hour all map to the transition instant: keep it once.
        var lastStart = -Double.greatestFiniteMagnitude
        for interval in free {
            var wall = clock.wall(interval.lo)
            var day = LocalDate.floorDiv(wall, 86_400)
            var intoDay = wall - Double(day) * 86_400
            var k = (intoDay / step).rounded(.up)
            while true {
                intoDay = k * step
                if intoDay >= 86_400 {
                    day += 1
                    k = 0
                    intoDay = 0
                }
                wall = Double(day) * 86_400 + intoDay
                let start = clock.utc(wall: wall)
                k += 1
                if start < interval.lo || start <= lastStart { continue }
                if start >= maxStart || start + duration > interval.hi { break }
                lastStart = start
                slots.append(Slot(
                    start: Date(timeIntervalSince1970: start), end: Date(timeIntervalSince1970: start + duration), hosts: hosts))
                if slots.count >= limit { return slots }
            }
        }
        return slots
    }

    /// Round-robin merge: each host's slots by start; at a start several hosts offer, the first
    /// host in order takes it.
    static func firstFreeHost(_ perHost: [[Slot]], limit: Int) -> [Slot] {
        var all: [(slot: Slot, rank: Int)] = []
        for (rank, slots) in perHost.enumerated() { all.append(contentsOf: slots.map { ($0, rank) }) }
        all.sort { ($0.slot.start, $0.rank) < ($1.slot.start, $1.rank) }
        var result: [Slot] = []
        for entry in all where result.last?.start != entry.slot.start {
            result.append(entry.slot)
            if result.count >= limit { break }
        }
        return result
    }
}
