import Actions
import Core
import Crypto
import Foundation
import Logging
import Rules
import Synchronization

/// The booking flow's shared part: which calendar a request books, its providers (rebuilt when
/// the `scheduling` config changes), one lock per calendar so choosing a slot and recording the
/// booking cannot interleave with another booking of the same calendar in this process, and the
/// planning of one `schedule` request into a booking (docs/scheduling.md, "The booking flow").
final class BookingService: Sendable {
    let store: any Store & BookingStore & BookingCommitting
    let config: @Sendable () -> DaemonConfig
    let context: CalendarProviders.Context
    let clock: any WallClock
    let logger: Logger
    /// Receives `planned`, `unavailable` or `unservable` for each committed plan (metrics).
    let observe: @Sendable (String) -> Void
    private let shared: Shared

    /// What all services of one process share: providers keep state (OAuth tokens, health) and
    /// the lock only works if everyone takes the same one.
    final class Shared: Sendable {
        let providerCache = Mutex<(config: SchedulingConfig?, providers: [String: [String: any CalendarProvider]])>((nil, [:]))
        let locks = KeyedAsyncLock()

        init() {}
    }

    init(
        store: any Store & BookingStore & BookingCommitting, config: @escaping @Sendable () -> DaemonConfig, context: CalendarProviders.Context,
        clock: any WallClock = SystemWallClock(), shared: Shared = Shared(), logger: Logger, observe: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.observe = observe
        self.store = store
        self.config = config
        self.context = context
        self.clock = clock
        self.shared = shared
        self.logger = logger
    }

    private var locks: KeyedAsyncLock { shared.locks }

    /// The calendar `name` in force.
    func calendar(named name: String) -> CalendarConfig? { config().scheduling.calendars[name] }

    /// The providers of `calendar`'s hosts, made once per scheduling config.
    func providers(for calendar: CalendarConfig) throws -> [String: any CalendarProvider] {
        let scheduling = config().scheduling
        if let cached = shared.providerCache.withLock({ $0.config == scheduling ? $0.providers[calendar.name] : nil }) { return cached }
        let made = try CalendarProviders.make(calendar: calendar, bookings: store, context: context)
        shared.providerCache.withLock { cache in
            if cache.config != scheduling { cache = (scheduling, [:]) }
            cache.providers[calendar.name] = made
        }
        return made
    }

    /// The provider of `booking`'s host.
    func provider(for booking: Booking) throws -> (CalendarConfig, any CalendarProvider) {
        guard let calendar = calendar(named: booking.calendar) else {
            throw PermanentJobError("calendar \(booking.calendar) of booking \(booking.id) is no longer configured")
        }
        guard let provider = try providers(for: calendar)[booking.host] else {
            throw PermanentJobError("host \(booking.host) of booking \(booking.id) is no longer in calendar \(booking.calendar)")
        }
        return (calendar, provider)
    }

    /// Runs `body` holding the locks of `calendars`' hosts (by email: a person who is a host of two
    /// calendars is one lock), taken in order so two callers never wait on each other crosswise.
    func withCalendarLocks<T: Sendable>(_ calendars: Set<String>, _ body: () async throws -> T) async throws -> T {
        let configured = config().scheduling.calendars
        let keys = calendars.flatMap { name in configured[name].map { $0.hosts.map { "host:" + $0.email.lowercased() } } ?? ["calendar:" + name] }
        let ordered = Set(keys).sorted()
        for name in ordered { await locks.lock(name) }
        do {
            let result = try await body()
            for name in ordered.reversed() { await locks.unlock(name) }
            return result
        } catch {
            for name in ordered.reversed() { await locks.unlock(name) }
            throw error
        }
    }

    // MARK: - Planning a request

    /// A booking to record with the decision, and the job that carries it out.
    struct Plan: Sendable {
        var booking: Booking
        var job: NewJob?
    }

    /// The calendar a request books: the one it names, else the organization's only calendar.
    func calendarName(for request: MeetingRequest, organization: String) -> String? {
        if let name = request.calendar { return name }
        let own = config().scheduling.calendars.values.filter { $0.organization == organization }
        return own.count == 1 ? own.first?.name : nil
    }

    /// Turns the `index`-th meeting request of an intake's decision into a booking: `pending`
    /// with a `booking.create` job when a slot fits, `unavailable` with a `booking.offer` job
    /// (the alternatives) when none does, `failed` (no job) when the request cannot be served
    /// (no calendar, no attendee address, a duration the calendar does not offer, a provider
    /// that needs reconnecting). Call it holding the calendar's lock, and commit the plan before
    /// releasing it. A provider that fails transiently throws: the intake job retries.
    func plan(_ request: MeetingRequest, index: Int, facts: Facts, now: Date, composer: ItemComposer) async throws -> Plan {
        let id = Self.bookingID(intakeID: facts.intakeID, index: index)
        let attendee = Self.attendee(for: request, facts: facts)
        let zone = Self.requesterZone(request, facts: facts)
        let summary = String(((try? composer.render(request.titleTemplate, facts: facts)) ?? "Meeting").prefix(ItemComposer.maxTitleLength))
        var booking = Booking(
            id: id, organization: facts.organization, calendar: request.calendar ?? "", host: "", uid: "\(id)@astralisd", start: now, end: now,
            state: .failed, summary: summary.isEmpty ? "Meeting" : summary,
            description: "Booked by astralisd for \(facts.source) (rule \(request.rule), intake \(facts.intakeID)).", location: request.location,
            attendee: attendee ?? CalendarAttendee(email: ""), intakeID: facts.intakeID, createdAt: now, updatedAt: now)
        func failed(_ reason: String) -> Plan {
            booking.reason = reason
            logger.warning("Meeting request cannot be booked", metadata: ["intake.id": "\(facts.intakeID)", "booking.reason": "\(reason)"])
            return Plan(booking: booking, job: nil)
        }
        guard let name = calendarName(for: request, organization: facts.organization) else {
            return failed("rule \(request.rule) names no calendar and organization \(facts.organization) has \(request.calendar == nil ? "not exactly one" : "no such") calendar")
        }
        booking.calendar = name
        guard let calendar = self.calendar(named: name) else { return failed("calendar \(name) is not configured (scheduling.calendars)") }
        guard calendar.organization == facts.organization else {
            return failed("calendar \(name) belongs to organization \(calendar.organization), not \(facts.organization)")
        }
        booking.host = calendar.hosts.first?.name ?? ""
        if let domain = (calendar.organizer?.email ?? calendar.hosts.first?.email)?.split(separator: "@").last {
            booking.uid = "\(id)@\(domain.lowercased())"
        }
        guard let attendee else { return failed("no attendee address in \(request.attendeeField)") }
        booking.attendee = attendee

        let duration = TimeInterval(request.durationMinutes * 60)
        let engine: AvailabilityEngine
        do {
            engine = try AvailabilityEngine(calendar: calendar)
        } catch {
            return failed("\(error)")
        }
        let readZone = zone ?? engine.primaryZone
        // The window the rule allows, narrowed by the form's preferred window.
        let defaultWindow = DateInterval(
            start: now.addingTimeInterval(TimeInterval(request.earliestStartHours) * 3_600),
            end: now.addingTimeInterval(TimeInterval(request.withinDays) * 86_400))
        var window = defaultWindow
        if let field = request.windowStartField, let start = FactFields.payloadValue(field, in: facts)?.stringValue.flatMap({ BookingTimes.parse($0, zone: readZone) }) {
            window = DateInterval(start: max(window.start, start), end: max(window.end, max(window.start, start)))
        }
        if let field = request.windowEndField, let end = FactFields.payloadValue(field, in: facts)?.stringValue.flatMap({ BookingTimes.parse($0, zone: readZone, endOfDay: true) }) {
            window = DateInterval(start: window.start, end: max(window.start, min(window.end, end)))
        }
        let proposed = Self.proposedTimes(request, facts: facts, zone: readZone)
        booking.start = proposed.first ?? window.start
        booking.end = booking.start.addingTimeInterval(duration)

        // Busy times and bookings for everything the search may look at.
        let span = DateInterval(start: min(window.start, defaultWindow.start, proposed.min() ?? window.start),
                                end: max(window.end, defaultWindow.end, (proposed.max() ?? window.end).addingTimeInterval(duration)))
        let states: [String: HostCalendarState]
        do {
            states = try await CalendarAvailability.states(
                calendar: calendar, providers: providers(for: calendar), bookings: store, range: span, others: Array(config().scheduling.calendars.values))
        } catch let error as CalendarProviderError {
            if case .transient = error { throw error }
            return failed("calendar \(name): \(error)")
        }

        var slot: Slot?
        var alternatives: [Slot] = []
        do {
            if !proposed.isEmpty {
                switch try engine.choose(proposed: proposed, states: states, now: now, range: defaultWindow, duration: duration) {
                case .fits(let fit): slot = fit
                case .noneFit(let nearest): alternatives = nearest
                }
            } else {
                slot = try engine.freeSlots(states: states, now: now, range: window, duration: duration, limit: 1).first
                if slot == nil {
                    alternatives = try engine.freeSlots(states: states, now: now, range: defaultWindow, duration: duration, limit: 3)
                }
            }
        } catch {
            return failed("\(error)")
        }
        if let slot {
            booking.state = .pending
            booking.start = slot.start
            booking.end = slot.end
            booking.host = slot.hosts.first ?? booking.host
            return Plan(booking: booking, job: NewJob(
                id: booking.createJobID, kind: JobKind.createBooking,
                payload: Self.payload(booking: booking.id, zone: zone)))
        }
        booking.state = .unavailable
        booking.reason = proposed.isEmpty
            ? "no free slot in the requested window; \(alternatives.count) alternative(s) offered"
            : "none of the \(proposed.count) proposed time(s) is free; \(alternatives.count) alternative(s) offered"
        let payload = Self.payload(booking: booking.id, zone: zone, more: ["alternatives": .array(alternatives.map { .string($0.start.formatted(.iso8601)) })])
        return Plan(booking: booking, job: NewJob(id: booking.offerJobID, kind: JobKind.offerBooking, payload: payload))
    }

    static func payload(booking: String, zone: TimeZone?, more: [String: JSONValue] = [:]) -> JSONValue {
        var fields: [String: JSONValue] = more
        fields["booking"] = .string(booking)
        if let zone { fields["time_zone"] = .string(zone.identifier) }
        return .object(fields)
    }

    /// `bk_` and 24 hex digits of SHA-256(intake id, index): a re-run of the decision names the
    /// same booking, so its transaction cannot record it twice.
    static func bookingID(intakeID: String, index: Int) -> String {
        let digest = SHA256.hash(data: Data("\(intakeID)#\(index)".utf8))
        return "bk_" + digest.prefix(12).map { String(format: "%02x", $0) }.joined()
    }

    /// The requester, from the field the rule names; nil when it holds no usable address.
    static func attendee(for request: MeetingRequest, facts: Facts) -> CalendarAttendee? {
        var address: MailAddress?
        if request.attendeeField.hasPrefix("payload.") {
            if let text = FactFields.payloadValue(request.attendeeField, in: facts)?.stringValue {
                address = FactFields.addresses("from", in: Facts(
                    intakeID: facts.intakeID, organization: facts.organization, source: facts.source, sourceKind: facts.sourceKind,
                    receivedAt: facts.receivedAt, from: text)).first
            }
        } else {
            address = FactFields.addresses(request.attendeeField, in: facts).first
        }
        guard let address, BookingTimes.isAddress(address.address) else { return nil }
        var name = address.name
        if let field = request.attendeeNameField, let given = FactFields.payloadValue(field, in: facts)?.stringValue {
            let trimmed = given.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { name = String(trimmed.prefix(200)) }
        }
        return CalendarAttendee(email: address.address.lowercased(), name: name, role: .required, status: .needsAction, rsvp: true)
    }

    /// The requester's zone from the field the rule names, when it is a known IANA zone.
    static func requesterZone(_ request: MeetingRequest, facts: Facts) -> TimeZone? {
        guard let field = request.attendeeTimeZoneField, let name = FactFields.payloadValue(field, in: facts)?.stringValue else { return nil }
        return TimeZone(identifier: name.trimmingCharacters(in: .whitespaces))
    }

    /// Proposed start times, in the order given (at most 10).
    static func proposedTimes(_ request: MeetingRequest, facts: Facts, zone: TimeZone) -> [Date] {
        guard let field = request.proposedTimesField else { return [] }
        if field == "text" {
            return BookingTimes.scan([facts.subject, facts.text].compactMap { $0 }.joined(separator: "\n"), zone: zone, limit: 10)
        }
        let values: [String]
        switch FactFields.payloadValue(field, in: facts) {
        case .string(let text)?: values = [text]
        case .array(let items)?: values = items.compactMap(\.stringValue)
        default: values = []
        }
        return values.prefix(10).compactMap { BookingTimes.parse($0, zone: zone) }
    }

    // MARK: - Changes by operators

    enum ChangeError: Error, CustomStringConvertible {
        case notFound(String)
        case conflict(String)
        case notFree(String)

        var description: String {
            switch self {
            case .notFound(let text), .conflict(let text), .notFree(let text): return text
            }
        }
    }

    /// Cancels a pending or confirmed booking: SEQUENCE+1, `cancelled`, and a `booking.update`
    /// job that removes the provider event, sends METHOD:CANCEL and leaves its reminders with
    /// nothing to do.
    func cancel(bookingID: String, reason: String?, actor: String) async throws -> Booking {
        for _ in 0..<3 {
            guard let current = try await store.booking(id: bookingID) else { throw ChangeError.notFound("booking \(bookingID) does not exist") }
            guard current.state == .pending || current.state == .confirmed else {
                throw ChangeError.conflict("booking \(bookingID) is \(current.state.rawValue); only pending or confirmed bookings can be cancelled")
            }
            var next = current
            next.sequence += 1
            next.state = .cancelled
            next.reason = reason ?? "cancelled by \(actor)"
            next.updatedAt = clock.now()
            let job = NewJob(id: next.updateJobID(sequence: next.sequence), kind: JobKind.updateBooking,
                             payload: .object(["booking": .string(next.id), "sequence": .number(Double(next.sequence))]))
            let activity = BookingActivity(action: "booking.cancelled", detail: "cancelled \(current.summary) (\(next.reason ?? ""))", actor: actor)
            if try await store.changeBooking(next, expectedSequence: current.sequence, from: [.pending, .confirmed], jobs: [job], activity: activity) {
                logger.info("Booking cancelled", metadata: ["booking.id": "\(bookingID)", "booking.actor": "\(actor)"])
                return next
            }
        }
        throw ChangeError.conflict("booking \(bookingID) kept changing; try again")
    }

    /// Moves a confirmed booking to `start` (same duration and host) when that slot is free:
    /// SEQUENCE+1 and a `booking.update` job that updates the provider event, sends the updated
    /// REQUEST and queues the reminders of the new time.
    func reschedule(bookingID: String, start: Date, actor: String) async throws -> Booking {
        guard let first = try await store.booking(id: bookingID) else { throw ChangeError.notFound("booking \(bookingID) does not exist") }
        return try await withCalendarLocks([first.calendar]) {
            guard let current = try await store.booking(id: bookingID) else { throw ChangeError.notFound("booking \(bookingID) does not exist") }
            guard current.state == .confirmed else {
                throw ChangeError.conflict("booking \(bookingID) is \(current.state.rawValue); only confirmed bookings can be rescheduled")
            }
            guard let calendar = self.calendar(named: current.calendar) else { throw ChangeError.conflict("calendar \(current.calendar) is no longer configured") }
            let duration = current.end.timeIntervalSince(current.start)
            let engine = try AvailabilityEngine(calendar: calendar)
            let now = clock.now()
            let range = DateInterval(start: start, duration: duration)
            var states = try await CalendarAvailability.states(
                calendar: calendar, providers: providers(for: calendar), bookings: store, range: range, others: Array(config().scheduling.calendars.values))
            // The booking's own time (in its bookings, and at the provider) does not block its move.
            let own = DateInterval(start: current.start, end: current.end)
            for (host, state) in states {
                states[host] = HostCalendarState(busy: state.busy.filter { $0 != own }, bookings: state.bookings.filter { $0 != own })
            }
            let order = [current.host] + calendar.hosts.map(\.name).filter { $0 != current.host }
            guard case .fits(let slot) = try engine.choose(proposed: [start], states: states, now: now, range: range, duration: duration, hostOrder: order),
                  slot.hosts.contains(current.host)
            else {
                throw ChangeError.notFree("\(start.formatted(.iso8601)) is not free for \(current.host) in calendar \(current.calendar) (working hours, notice, buffers, limits and busy times apply)")
            }
            var next = current
            next.sequence += 1
            next.start = slot.start
            next.end = slot.end
            next.updatedAt = now
            let job = NewJob(id: next.updateJobID(sequence: next.sequence), kind: JobKind.updateBooking,
                             payload: .object(["booking": .string(next.id), "sequence": .number(Double(next.sequence))]))
            let activity = BookingActivity(
                action: "booking.rescheduled", detail: "moved from \(current.start.formatted(.iso8601)) to \(next.start.formatted(.iso8601))", actor: actor)
            guard try await store.changeBooking(next, expectedSequence: current.sequence, from: [.confirmed], jobs: [job], activity: activity) else {
                throw ChangeError.conflict("booking \(bookingID) changed meanwhile; try again")
            }
            logger.info("Booking rescheduled", metadata: ["booking.id": "\(bookingID)", "booking.actor": "\(actor)"])
            return next
        }
    }
}

/// One async lock per key; waiters are served in arrival order.
actor KeyedAsyncLock {
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]
    private var held: Set<String> = []

    func lock(_ key: String) async {
        guard held.contains(key) else {
            held.insert(key)
            return
        }
        await withCheckedContinuation { waiters[key, default: []].append($0) }
    }

    /// Hands the lock to the next waiter, or frees it.
    func unlock(_ key: String) {
        if var queue = waiters[key], !queue.isEmpty {
            let next = queue.removeFirst()
            waiters[key] = queue.isEmpty ? nil : queue
            next.resume()
        } else {
            held.remove(key)
        }
    }
}

/// Reading and writing meeting times.
enum BookingTimes {
    /// `2026-12-08T10:00:00Z`, `2026-12-08T10:00+01:00`, `2026-12-08 10:00` (in `zone`), or a
    /// date alone (its start in `zone`, or its end with `endOfDay`).
    static func parse(_ text: String, zone: TimeZone, endOfDay: Bool = false) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let match = try? pattern.wholeMatch(in: trimmed) else { return nil }
        return date(match.output, zone: zone, endOfDay: endOfDay)
    }

    /// Date-times written in free text (a date with a time), in order, at most `limit`.
    static func scan(_ text: String, zone: TimeZone, limit: Int) -> [Date] {
        var found: [Date] = []
        for match in text.prefix(20_000).matches(of: pattern) where match.output.4 != nil {
            if let date = date(match.output, zone: zone, endOfDay: false) { found.append(date) }
            if found.count == limit { break }
        }
        return found
    }

    nonisolated(unsafe) private static let pattern = /(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?/

    private static func date(_ parts: (Substring, Substring, Substring, Substring, Substring?, Substring?, Substring?, Substring?), zone: TimeZone, endOfDay: Bool) -> Date? {
        var components = DateComponents()
        components.year = Int(parts.1)
        components.month = Int(parts.2)
        components.day = Int(parts.3)
        let hasTime = parts.4 != nil
        components.hour = parts.4.flatMap { Int($0) } ?? 0
        components.minute = parts.5.flatMap { Int($0) } ?? 0
        components.second = parts.6.flatMap { Int($0) } ?? 0
        guard let month = components.month, (1...12).contains(month), let day = components.day, (1...31).contains(day),
              let hour = components.hour, hour < 24, let minute = components.minute, minute < 60
        else { return nil }
        var zoneUsed = zone
        if let offset = parts.7 {
            if offset == "Z" {
                zoneUsed = .gmt
            } else {
                let digits = offset.dropFirst().filter(\.isNumber)
                guard digits.count == 4, let hours = Int(digits.prefix(2)), let minutes = Int(digits.suffix(2)),
                      let fixed = TimeZone(secondsFromGMT: (offset.first == "-" ? -1 : 1) * (hours * 3_600 + minutes * 60))
                else { return nil }
                zoneUsed = fixed
            }
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zoneUsed
        guard let date = calendar.date(from: components), calendar.component(.day, from: date) == day else { return nil }
        if endOfDay, !hasTime { return calendar.date(byAdding: .day, value: 1, to: date) }
        return date
    }

    /// A plain addr-spec (as the config's addresses are checked) whose domain has a dot: an
    /// attendee must be reachable, not `root@localhost`.
    static func isAddress(_ text: String) -> Bool {
        ConfigParser.isAddrSpec(text) && text.utf8.count <= 254 && text.split(separator: "@").last?.contains(".") == true
    }

    /// `Tuesday 8 December 2026, 10:00–10:30 (Europe/Berlin)`; with `other`, that zone first and this one in brackets.
    static func describe(start: Date, end: Date, zone: TimeZone, also other: TimeZone? = nil) -> String {
        func text(_ zone: TimeZone) -> String {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = zone
            formatter.dateFormat = "EEEE d MMMM yyyy, HH:mm"
            let day = formatter.string(from: start)
            formatter.dateFormat = "HH:mm"
            return "\(day)–\(formatter.string(from: end)) (\(zone.identifier))"
        }
        guard let other, other.identifier != zone.identifier else { return text(zone) }
        return "\(text(other)) [\(text(zone))]"
    }
}
