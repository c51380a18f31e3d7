import CLibical
public import Core
public import Foundation

/// An attendee's answer to an invitation (iTIP REPLY, RFC 5546 §3.2.3), as it arrives by email
/// in a `text/calendar; method=REPLY` part. Parsed with libical.
///
/// The booking flow matches `uid` to `Booking.uid`, then calls `apply(to:now:)`:
/// ```swift
/// let reply = try ITIPReply.parse(calendarPartBytes)
/// if let booking = try await store.booking(uid: reply.uid),
///    case .updated(let changed) = reply.apply(to: booking, now: clock.now) {
///     try await store.updateBooking(changed)
/// }
/// ```
public struct ITIPReply: Sendable, Equatable {
    /// The event's UID (the booking's `uid`).
    public var uid: String
    /// SEQUENCE the attendee answered (0 when the REPLY has none).
    public var sequence: Int
    /// The answering attendee, `mailto:` removed, lowercased.
    public var attendeeEmail: String
    /// CN of the attendee, when given.
    public var attendeeName: String?
    /// PARTSTAT: accepted, declined, tentative, delegated (needs-action is legal but rare).
    public var status: CalendarAttendee.ParticipationStatus
    /// COMMENT the attendee wrote, when any.
    public var comment: String?

    public init(uid: String, sequence: Int, attendeeEmail: String, attendeeName: String? = nil, status: CalendarAttendee.ParticipationStatus, comment: String? = nil) {
        self.uid = uid
        self.sequence = sequence
        self.attendeeEmail = attendeeEmail
        self.attendeeName = attendeeName
        self.status = status
        self.comment = comment
    }

    /// Why a `text/calendar` body is not a usable REPLY.
    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        /// libical found no VCALENDAR (not iCalendar, truncated, binary...).
        case notICalendar
        /// METHOD is missing or not REPLY (the value found, nil when absent).
        case notReply(String?)
        /// The calendar has no VEVENT, or several for different UIDs.
        case eventCount(Int)
        case missingUID
        /// A REPLY carries exactly one ATTENDEE (the one answering); the count found.
        case attendeeCount(Int)
        /// PARTSTAT missing or not one RFC 5545 defines for VEVENT (the value found).
        case invalidParticipationStatus(String?)

        public var description: String {
            switch self {
            case .notICalendar: return "not iCalendar data: libical found no VCALENDAR"
            case .notReply(let method?): return "METHOD is \(method), not REPLY"
            case .notReply(nil): return "the calendar has no METHOD (an iTIP REPLY needs METHOD:REPLY)"
            case .eventCount(let count): return "a REPLY needs exactly one VEVENT; found \(count)"
            case .missingUID: return "the VEVENT has no UID"
            case .attendeeCount(let count): return "a REPLY needs exactly one ATTENDEE; found \(count)"
            case .invalidParticipationStatus(let value?): return "PARTSTAT \(value) is not a VEVENT participation status"
            case .invalidParticipationStatus(nil): return "the ATTENDEE has no PARTSTAT"
            }
        }
    }

    /// Parses the bytes of a `text/calendar` part (UTF-8; other bytes are replaced).
    /// - Throws: `ParseError`.
    public static func parse(_ data: Data) throws -> ITIPReply {
        try parse(String(decoding: data, as: UTF8.self))
    }

    public static func parse(_ text: String) throws -> ITIPReply {
        try Libical.run {
            guard let tree = ICalTree.parse(text) else { throw ParseError.notICalendar }
            let calendars = Libical.calendars(in: tree.root)
            guard calendars.count == 1, let calendar = calendars.first else {
                if calendars.isEmpty { throw ParseError.notICalendar }
                throw ParseError.eventCount(calendars.count)
            }
            let method = icalcomponent_get_first_property(calendar, ICAL_METHOD_PROPERTY).flatMap { Libical.string(icalproperty_get_value_as_string($0)) }
            guard method?.uppercased() == "REPLY" else { throw ParseError.notReply(method) }
            // A reply to a recurring series may carry several VEVENTs (one per RECURRENCE-ID) with
            // one UID; bookings are single events, so the first VEVENT answers for the UID.
            let events = Libical.components(of: calendar, kind: ICAL_VEVENT_COMPONENT)
            guard let vevent = events.first else { throw ParseError.eventCount(0) }
            guard let uid = Libical.string(icalcomponent_get_uid(vevent)) else { throw ParseError.missingUID }
            if events.contains(where: { Libical.string(icalcomponent_get_uid($0)) != uid }) { throw ParseError.eventCount(events.count) }
            let attendees = Libical.properties(of: vevent, kind: ICAL_ATTENDEE_PROPERTY)
            guard attendees.count == 1, let attendee = attendees.first else { throw ParseError.attendeeCount(attendees.count) }
            let email = ICalendarEventFields.address(Libical.string(icalproperty_get_attendee(attendee)))
            guard !email.isEmpty else { throw ParseError.attendeeCount(0) }
            let partstat = Libical.parameter(attendee, "PARTSTAT")
            guard let value = partstat, let status = CalendarAttendee.ParticipationStatus(rawValue: value.uppercased()) else {
                throw ParseError.invalidParticipationStatus(partstat)
            }
            return ITIPReply(
                uid: uid, sequence: Int(icalcomponent_get_sequence(vevent)), attendeeEmail: email,
                attendeeName: Libical.parameter(attendee, "CN"), status: status,
                comment: Libical.string(icalcomponent_get_comment(vevent))
            )
        }
    }

    /// What a reply does to a booking.
    public enum Outcome: Sendable, Equatable {
        /// The attendee's status changed: store this booking.
        case updated(Booking)
        /// Same status as stored, nothing to write.
        case unchanged
        /// The reply is for another event (UID differs).
        case otherEvent
        /// The reply comes from someone who is not the booking's attendee (forwarded invitation,
        /// spoofed sender): ignore it and log.
        case unknownAttendee(String)
        /// The reply answers an older SEQUENCE than the booking's (it was rescheduled since):
        /// the answer is about a time that no longer holds.
        case stale(replied: Int, current: Int)
        /// The booking is cancelled or failed: answers no longer matter.
        case inactive(BookingState)
    }

    /// Applies the reply to `booking` (its `attendee.status` and `updatedAt`); matching is by
    /// UID and case-insensitive attendee email, and only for a SEQUENCE not older than the booking's.
    public func apply(to booking: Booking, now: Date) -> Outcome {
        guard booking.uid == uid else { return .otherEvent }
        guard booking.attendee.email.lowercased() == attendeeEmail else { return .unknownAttendee(attendeeEmail) }
        guard booking.state == .pending || booking.state == .confirmed else { return .inactive(booking.state) }
        guard sequence >= booking.sequence else { return .stale(replied: sequence, current: booking.sequence) }
        guard booking.attendee.status != status else { return .unchanged }
        var changed = booking
        changed.attendee.status = status
        changed.updatedAt = now
        return .updated(changed)
    }
}
