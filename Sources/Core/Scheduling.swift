public import Foundation

// Scheduling: the types the availability engine, the calendar providers (local, CalDAV, Google),
// the iCalendar invitations and the booking jobs share. Actions implements them; Storage keeps
// bookings; the Daemon wires providers to calendars from `SchedulingConfig`.

// MARK: - Configuration (`scheduling` section)

/// `scheduling` in the config file: named calendars and the reminder policy.
public struct SchedulingConfig: Sendable, Equatable {
    /// Calendars by name (`astralisd slots --calendar NAME`, the rules' `schedule.calendar`).
    public var calendars: [String: CalendarConfig]
    /// Email reminders before a booking starts, in seconds before its start (default 24 h and 1 h).
    public var reminderOffsets: [TimeInterval]

    public init(calendars: [String: CalendarConfig] = [:], reminderOffsets: [TimeInterval] = [86_400, 3_600]) {
        self.calendars = calendars
        self.reminderOffsets = reminderOffsets
    }
}

/// How a calendar with several hosts books: everyone at once, or the first free host.
public enum HostAssignment: String, Sendable, Equatable, Codable, CaseIterable {
    /// A slot is offered when every host is free; every host is an attendee.
    case intersection
    /// A slot is offered when any host is free; the booking goes to the first free host in order.
    case roundRobin = "round_robin"
}

/// One bookable calendar: its hosts, how they combine, and the slot grid.
public struct CalendarConfig: Sendable, Equatable {
    public var name: String
    /// The organization whose rules may book it.
    public var organization: String
    /// At least one.
    public var hosts: [CalendarHost]
    public var assignment: HostAssignment
    /// Slot starts are multiples of this from midnight in the host's zone (default 15 min).
    public var slotInterval: TimeInterval
    /// How far ahead slots are offered, from now (default 30 days).
    public var bookingWindow: TimeInterval
    /// Meeting lengths a request may ask for (default 30 min); the first is the default.
    public var durations: [TimeInterval]
    /// ORGANIZER of invitations and the From of invitation emails; default the first host.
    public var organizer: CalendarAttendee?
    /// The `smtp` account invitations and reminders are sent with (nil: the organization's default).
    public var smtpAccount: String?
    /// Overrides `SchedulingConfig.reminderOffsets` for this calendar.
    public var reminderOffsets: [TimeInterval]?

    public init(
        name: String, organization: String, hosts: [CalendarHost], assignment: HostAssignment = .intersection,
        slotInterval: TimeInterval = 900, bookingWindow: TimeInterval = 30 * 86_400, durations: [TimeInterval] = [1_800],
        organizer: CalendarAttendee? = nil, smtpAccount: String? = nil, reminderOffsets: [TimeInterval]? = nil
    ) {
        self.name = name
        self.organization = organization
        self.hosts = hosts
        self.assignment = assignment
        self.slotInterval = slotInterval
        self.bookingWindow = bookingWindow
        self.durations = durations
        self.organizer = organizer
        self.smtpAccount = smtpAccount
        self.reminderOffsets = reminderOffsets
    }
}

/// A wall-clock span within one local day, in minutes after local midnight (`09:00-17:30` is
/// 540..<1050). `end` may be 1440 (end of day).
public struct LocalTimeRange: Sendable, Hashable, Codable {
    public var startMinute: Int
    public var endMinute: Int

    public init(startMinute: Int, endMinute: Int) {
        self.startMinute = startMinute
        self.endMinute = endMinute
    }
}

/// A day whose hours differ from the weekly pattern: extra hours, other hours, or (empty) a day off.
public struct AvailabilityOverride: Sendable, Hashable, Codable {
    /// Local date in the host's zone.
    public var year: Int
    public var month: Int
    public var day: Int
    /// Replaces the weekly hours of that date; empty means unavailable all day.
    public var hours: [LocalTimeRange]

    public init(year: Int, month: Int, day: Int, hours: [LocalTimeRange]) {
        self.year = year
        self.month = month
        self.day = day
        self.hours = hours
    }
}

/// A person whose calendar is booked, with their availability rules and calendar provider.
public struct CalendarHost: Sendable, Equatable {
    /// Unique within the calendar (health, logs, bookings).
    public var name: String
    public var email: String
    public var displayName: String?
    public var provider: CalendarProviderConfig
    /// IANA zone the working hours and overrides are written in (`Europe/Berlin`).
    public var timeZone: String
    /// Working hours per ISO weekday (1 = Monday ... 7 = Sunday); a missing day is not bookable.
    public var weeklyHours: [Int: [LocalTimeRange]]
    public var overrides: [AvailabilityOverride]
    /// Busy times (and other bookings) are widened by these.
    public var bufferBefore: TimeInterval
    public var bufferAfter: TimeInterval
    /// No slot starts sooner than this after now.
    public var minimumNotice: TimeInterval
    /// Most bookings per local day / per ISO week (nil: no limit).
    public var maxPerDay: Int?
    public var maxPerWeek: Int?

    public init(
        name: String, email: String, displayName: String? = nil, provider: CalendarProviderConfig = .local, timeZone: String,
        weeklyHours: [Int: [LocalTimeRange]], overrides: [AvailabilityOverride] = [], bufferBefore: TimeInterval = 0,
        bufferAfter: TimeInterval = 0, minimumNotice: TimeInterval = 0, maxPerDay: Int? = nil, maxPerWeek: Int? = nil
    ) {
        self.name = name
        self.email = email
        self.displayName = displayName
        self.provider = provider
        self.timeZone = timeZone
        self.weeklyHours = weeklyHours
        self.overrides = overrides
        self.bufferBefore = bufferBefore
        self.bufferAfter = bufferAfter
        self.minimumNotice = minimumNotice
        self.maxPerDay = maxPerDay
        self.maxPerWeek = maxPerWeek
    }
}

/// Where a host's calendar lives.
public enum CalendarProviderConfig: Sendable, Equatable {
    /// Busy times are the bookings the daemon itself made (the embedded default).
    case local
    case caldav(CalDAVConfig)
    case google(GoogleCalendarConfig)

    public var kind: String {
        switch self {
        case .local: return "local"
        case .caldav: return "caldav"
        case .google: return "google"
        }
    }
}

/// A CalDAV (RFC 4791) calendar collection: Nextcloud, Radicale, Fastmail...
public struct CalDAVConfig: Sendable, Equatable {
    /// The calendar collection URL (ends with `/`).
    public var url: String
    public var username: String
    public var password: SecretRef
    /// `http://` is refused unless the host is a loopback address and this is set (tests).
    public var allowPlaintext: Bool
    public var timeoutSeconds: Double

    public init(url: String, username: String, password: SecretRef, allowPlaintext: Bool = false, timeoutSeconds: Double = 30) {
        self.url = url
        self.username = username
        self.password = password
        self.allowPlaintext = allowPlaintext
        self.timeoutSeconds = timeoutSeconds
    }
}

/// Google Calendar over its REST API with an OAuth 2.0 refresh token.
public struct GoogleCalendarConfig: Sendable, Equatable {
    /// `primary` or the calendar's id.
    public var calendarID: String
    public var clientID: String
    public var clientSecret: SecretRef
    public var refreshToken: SecretRef
    /// Defaults are Google's; tests point them at a local stand-in.
    public var tokenURL: String
    public var apiBaseURL: String
    /// `sendUpdates` on insert/patch/delete: `all`, `externalOnly` or `none`.
    public var sendUpdates: String
    /// Ask for a Google Meet link (conferenceData, conferenceDataVersion=1).
    public var meetLink: Bool
    public var timeoutSeconds: Double

    public init(
        calendarID: String = "primary", clientID: String, clientSecret: SecretRef, refreshToken: SecretRef,
        tokenURL: String = "https://oauth2.googleapis.com/token", apiBaseURL: String = "https://www.googleapis.com/calendar/v3",
        sendUpdates: String = "none", meetLink: Bool = false, timeoutSeconds: Double = 30
    ) {
        self.calendarID = calendarID
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.refreshToken = refreshToken
        self.tokenURL = tokenURL
        self.apiBaseURL = apiBaseURL
        self.sendUpdates = sendUpdates
        self.meetLink = meetLink
        self.timeoutSeconds = timeoutSeconds
    }
}

// MARK: - Events

/// An invitee or the organizer of an event (iCalendar ATTENDEE / ORGANIZER).
public struct CalendarAttendee: Sendable, Hashable, Codable {
    public enum Role: String, Sendable, Hashable, Codable {
        case chair = "CHAIR", required = "REQ-PARTICIPANT", optional = "OPT-PARTICIPANT"
    }

    public enum ParticipationStatus: String, Sendable, Hashable, Codable {
        case needsAction = "NEEDS-ACTION", accepted = "ACCEPTED", declined = "DECLINED", tentative = "TENTATIVE", delegated = "DELEGATED"
    }

    public var email: String
    public var name: String?
    public var role: Role
    public var status: ParticipationStatus
    public var rsvp: Bool

    public init(email: String, name: String? = nil, role: Role = .required, status: ParticipationStatus = .needsAction, rsvp: Bool = true) {
        self.email = email
        self.name = name
        self.role = role
        self.status = status
        self.rsvp = rsvp
    }
}

/// A meeting as providers and invitations see it. `uid` is stable per booking (the iCalendar UID,
/// Google's iCalUID, the CalDAV resource name), so a retried create cannot make a second event.
public struct CalendarEvent: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable {
        case confirmed = "CONFIRMED", tentative = "TENTATIVE", cancelled = "CANCELLED"
    }

    public var uid: String
    /// iCalendar SEQUENCE: 0 when created, +1 for each reschedule or the cancellation.
    public var sequence: Int
    /// DTSTAMP: when this version was made.
    public var stamp: Date
    public var start: Date
    public var end: Date
    public var summary: String
    public var description: String?
    public var location: String?
    /// A meeting link (Google Meet from the provider, or configured).
    public var url: String?
    public var organizer: CalendarAttendee
    public var attendees: [CalendarAttendee]
    public var status: Status

    public init(
        uid: String, sequence: Int = 0, stamp: Date, start: Date, end: Date, summary: String, description: String? = nil,
        location: String? = nil, url: String? = nil, organizer: CalendarAttendee, attendees: [CalendarAttendee], status: Status = .confirmed
    ) {
        self.uid = uid
        self.sequence = sequence
        self.stamp = stamp
        self.start = start
        self.end = end
        self.summary = summary
        self.description = description
        self.location = location
        self.url = url
        self.organizer = organizer
        self.attendees = attendees
        self.status = status
    }
}

/// What a provider answered for a created or updated event.
public struct ProviderEventResult: Sendable, Hashable, Codable {
    /// The provider's own id (Google event id, CalDAV resource URL); nil for `local`.
    public var providerEventID: String?
    /// A conference link the provider made (Google Meet).
    public var meetingURL: String?
    /// True when the event already existed with this UID (an idempotent retry).
    public var alreadyExisted: Bool

    public init(providerEventID: String? = nil, meetingURL: String? = nil, alreadyExisted: Bool = false) {
        self.providerEventID = providerEventID
        self.meetingURL = meetingURL
        self.alreadyExisted = alreadyExisted
    }
}

/// Why a provider call failed, classified for the job's retry decision and for health.
public enum CalendarProviderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The credentials no longer work (OAuth `invalid_grant`, 401 after a refresh): an operator
    /// must reconnect the account. Not retried; health shows "reconnect needed".
    case reconnectNeeded(String)
    /// Try again later (429, 403 rate limits, 5xx, connection errors); `retryAfter` when the
    /// server said.
    case transient(String, retryAfter: TimeInterval?)
    /// The request itself was refused (400, 403 other than rate limits, 412 on a CalDAV PUT for
    /// another booking's resource): retrying cannot help.
    case rejected(String)

    public var description: String {
        switch self {
        case .reconnectNeeded(let text): return "reconnect needed: \(text)"
        case .transient(let text, _): return text
        case .rejected(let text): return text
        }
    }
}

/// One host's calendar at a provider. Implementations retry rate limits and 5xx inside one call
/// (with backoff and jitter, bounded) and throw `CalendarProviderError` when they give up.
public protocol CalendarProvider: Sendable {
    /// `local`, `caldav`, `google`.
    var kind: String { get }
    /// Busy intervals overlapping `range` (recurring events expanded), sorted, possibly
    /// overlapping each other. A calendar that answers with errors for the range is reported
    /// busy for the whole range by the implementation, never free.
    func busyTimes(in range: DateInterval) async throws -> [DateInterval]
    /// Creates the event, idempotent by `event.uid`: a second call with the same UID returns the
    /// existing event (`alreadyExisted`) and makes no duplicate.
    func createEvent(_ event: CalendarEvent) async throws -> ProviderEventResult
    /// Replaces the event with the same UID (a reschedule: SEQUENCE already incremented).
    func updateEvent(_ event: CalendarEvent, providerEventID: String?) async throws -> ProviderEventResult
    /// Cancels/deletes the event; an event that is already gone counts as done.
    func cancelEvent(_ event: CalendarEvent, providerEventID: String?) async throws
}

// MARK: - Bookings

/// Where a booking stands.
public enum BookingState: String, Sendable, Codable, CaseIterable {
    /// Recorded with its slot; the provider event and invitation are being made (`booking.create` job).
    case pending
    /// The provider has the event.
    case confirmed
    case cancelled
    /// The provider refused it permanently; `reason` says why.
    case failed
    /// No slot fitted the request; the requester is offered alternatives (`booking.offer` job).
    /// Holds no time: `start`/`end` are what was asked for.
    case unavailable
}

/// A meeting the daemon booked (table `bookings`). Its `uid` is the iCalendar UID everywhere.
public struct Booking: Sendable, Codable, Equatable {
    /// `bk_…`.
    public var id: String
    public var organization: String
    public var calendar: String
    /// The host it was booked with (round-robin) or the first host (intersection).
    public var host: String
    public var uid: String
    public var sequence: Int
    public var start: Date
    public var end: Date
    public var state: BookingState
    public var summary: String
    public var description: String?
    public var location: String?
    public var meetingURL: String?
    /// The requester (from the intake's sender field the rule named).
    public var attendee: CalendarAttendee
    public var intakeID: String?
    public var itemID: String?
    public var providerEventID: String?
    public var reason: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, organization: String, calendar: String, host: String, uid: String, sequence: Int = 0, start: Date, end: Date,
        state: BookingState, summary: String, description: String? = nil, location: String? = nil, meetingURL: String? = nil,
        attendee: CalendarAttendee, intakeID: String? = nil, itemID: String? = nil, providerEventID: String? = nil,
        reason: String? = nil, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.organization = organization
        self.calendar = calendar
        self.host = host
        self.uid = uid
        self.sequence = sequence
        self.start = start
        self.end = end
        self.state = state
        self.summary = summary
        self.description = description
        self.location = location
        self.meetingURL = meetingURL
        self.attendee = attendee
        self.intakeID = intakeID
        self.itemID = itemID
        self.providerEventID = providerEventID
        self.reason = reason
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// The store operations scheduling needs.
public protocol BookingStore: Sendable {
    /// Inserts `booking`; false (nothing written) when one with its id or uid exists.
    func insertBooking(_ booking: Booking) async throws -> Bool
    func booking(id: String) async throws -> Booking?
    func booking(uid: String) async throws -> Booking?
    /// Replaces the stored booking with the same id (state, sequence, times, provider id...).
    func updateBooking(_ booking: Booking) async throws
    /// Bookings of `calendar` (for `host`, when given) that overlap `range`, pending or confirmed
    /// (not cancelled or failed), by start.
    func activeBookings(calendar: String, host: String?, overlapping range: DateInterval) async throws -> [Booking]
    /// Bookings made for an intake, oldest first.
    func bookings(intakeID: String) async throws -> [Booking]
}

extension JobKind {
    /// Create the provider event and send the invitation: payload `{"booking": ID}`.
    public static let createBooking = "booking.create"
    /// Send the update (reschedule) or cancellation: payload `{"booking": ID, "sequence": N}`.
    public static let updateBooking = "booking.update"
    /// Email reminder: payload `{"booking": ID, "sequence": N, "offset": SECONDS}`; a reminder
    /// whose booking moved (other sequence) or was cancelled does nothing.
    public static let sendReminder = "reminder.send"
}
